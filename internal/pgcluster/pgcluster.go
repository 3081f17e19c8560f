// Package pgcluster starts and stops throwaway PostgreSQL clusters from the system's binaries
// (initdb into a temporary directory, a free loopback port). Tests use it through TestMain or
// Start, and `pgask demo` uses it to run a sample database. When the process runs as root the
// cluster runs as the "postgres" OS user, because PostgreSQL refuses to run as root.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoPostgres is returned when no PostgreSQL server binaries can be found.
var ErrNoPostgres = errors.New("pgcluster: no PostgreSQL server binaries found (looked in $PGASK_PG_BIN and /usr/lib/postgresql/*/bin)")

// Options shape a cluster. The zero value is a trust-authenticated cluster on 127.0.0.1.
type Options struct {
	// HBA lines are placed before the default lines of pg_hba.conf, so they win for the
	// users and databases they name (e.g. "host all md5user 127.0.0.1/32 md5").
	HBA []string
	// DefaultAuth is the method of the catch-all host line; "trust" when empty.
	DefaultAuth string
	// Settings are written to postgresql.conf (name → value, value used verbatim).
	Settings map[string]string
	// TLSCert and TLSKey, when set, are copied into the data directory and ssl is turned on.
	TLSCert, TLSKey string
	// Logf receives the server's log when the cluster fails to start, and progress lines.
	Logf func(format string, args ...any)
}

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	Host    string // 127.0.0.1
	Port    int
	Dir     string // root of the temporary directory (data, socket, log)
	DataDir string
	BinDir  string
	Version int // major version

	opts    Options
	cred    *syscall.Credential
	mu      sync.Mutex
	stopped bool
}

// FindBinDir returns the directory holding initdb and postgres: $PGASK_PG_BIN if set, else the
// newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	if d := os.Getenv("PGASK_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("pgcluster: PGASK_PG_BIN=%s: %w", d, err)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var found []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", ErrNoPostgres
	}
	sort.Slice(found, func(i, j int) bool { return majorOf(found[i]) < majorOf(found[j]) })
	return found[len(found)-1], nil
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises and starts a new cluster. Call Stop (safe more than once) to remove it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Host: "127.0.0.1", BinDir: bin, opts: opts}
	if opts.Logf == nil {
		c.opts.Logf = func(string, ...any) {}
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgcluster: running as root needs a postgres OS user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "pgask-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: create temp dir: %w", err)
	}
	c.Dir = dir
	c.DataDir = filepath.Join(dir, "data")
	if err := c.chown(dir); err != nil {
		c.removeDir()
		return nil, err
	}
	if err := c.initdb(ctx); err != nil {
		c.removeDir()
		return nil, err
	}
	if v, err := os.ReadFile(filepath.Join(c.DataDir, "PG_VERSION")); err == nil {
		c.Version, _ = strconv.Atoi(strings.TrimSpace(string(v)))
	}
	if err := c.configure(); err != nil {
		c.removeDir()
		return nil, err
	}
	// A free port can be taken by someone else between our probe and postgres' bind: retry.
	for attempt := 0; ; attempt++ {
		c.Port, err = freePort()
		if err != nil {
			c.removeDir()
			return nil, err
		}
		if err = c.start(ctx); err == nil {
			return c, nil
		}
		if attempt == 4 || ctx.Err() != nil {
			c.removeDir()
			return nil, err
		}
	}
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("pgcluster: chown %s: %w", path, err)
	}
	return nil
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) initdb(ctx context.Context) error {
	cmd := c.command(ctx, "initdb", "-D", c.DataDir, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: initdb: %w\n%s", err, out)
	}
	return nil
}

func (c *Cluster) configure() error {
	var conf bytes.Buffer
	fmt.Fprintf(&conf, "\n# pgcluster\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n", c.Dir)
	conf.WriteString("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")
	conf.WriteString("shared_buffers = 32MB\nlogging_collector = off\n")
	if c.opts.TLSCert != "" {
		for _, f := range []struct{ src, dst string }{{c.opts.TLSCert, "server.crt"}, {c.opts.TLSKey, "server.key"}} {
			b, err := os.ReadFile(f.src)
			if err != nil {
				return fmt.Errorf("pgcluster: read %s: %w", f.src, err)
			}
			p := filepath.Join(c.DataDir, f.dst)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				return fmt.Errorf("pgcluster: write %s: %w", p, err)
			}
			if err := c.chown(p); err != nil {
				return err
			}
		}
		conf.WriteString("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
	}
	keys := make([]string, 0, len(c.opts.Settings))
	for k := range c.opts.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&conf, "%s = %s\n", k, c.opts.Settings[k])
	}
	f, err := os.OpenFile(filepath.Join(c.DataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgcluster: open postgresql.conf: %w", err)
	}
	if _, err := f.Write(conf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("pgcluster: write postgresql.conf: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pgcluster: close postgresql.conf: %w", err)
	}

	auth := c.opts.DefaultAuth
	if auth == "" {
		auth = "trust"
	}
	var hba bytes.Buffer
	hba.WriteString("local all all trust\n")
	for _, l := range c.opts.HBA {
		hba.WriteString(l + "\n")
	}
	fmt.Fprintf(&hba, "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 %s\nhost all all ::1/128 %s\n", auth, auth)
	p := filepath.Join(c.DataDir, "pg_hba.conf")
	if err := os.WriteFile(p, hba.Bytes(), 0o600); err != nil {
		return fmt.Errorf("pgcluster: write pg_hba.conf: %w", err)
	}
	return c.chown(p)
}

func (c *Cluster) logFile() string { return filepath.Join(c.Dir, "postgres.log") }

func (c *Cluster) start(ctx context.Context) error {
	cmd := c.command(ctx, "pg_ctl", "-D", c.DataDir, "-l", c.logFile(), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d", c.Port), "start")
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(c.logFile())
		return fmt.Errorf("pgcluster: pg_ctl start on port %d: %w\n%s\n%s", c.Port, err, out, log)
	}
	c.mu.Lock()
	c.stopped = false
	c.mu.Unlock()
	return nil
}

// Addr is host:port of the server.
func (c *Cluster) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// URL returns a postgres:// URL for user and database (sslmode=disable).
func (c *Cluster) URL(user, database string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", user, c.Addr(), database)
}

// SocketDir is the directory of the server's Unix socket.
func (c *Cluster) SocketDir() string { return c.Dir }

// Psql runs psql as the superuser over the Unix socket against database and returns its output.
func (c *Cluster) Psql(ctx context.Context, database string, args ...string) ([]byte, error) {
	all := append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", c.Dir, "-p", strconv.Itoa(c.Port),
		"-U", "postgres", "-d", database}, args...)
	cmd := c.command(ctx, "psql", all...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("pgcluster: psql %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// Exec runs SQL as the superuser in database.
func (c *Cluster) Exec(ctx context.Context, database, sql string) error {
	_, err := c.Psql(ctx, database, "-c", sql)
	return err
}

// LoadFile runs a SQL file (e.g. a dump) as the superuser into database.
func (c *Cluster) LoadFile(ctx context.Context, database, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("pgcluster: load %s: %w", path, err)
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return fmt.Errorf("pgcluster: load %s: %w", path, err)
	}
	// Feed through stdin so the postgres OS user need not read the caller's files.
	cmd := c.command(ctx, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", c.Dir, "-p", strconv.Itoa(c.Port),
		"-U", "postgres", "-d", database, "-f", "-")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: load %s: %w\n%s", path, err, out)
	}
	return nil
}

// CreateDatabase creates a database owned by the superuser.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	return c.Exec(ctx, "postgres", fmt.Sprintf("CREATE DATABASE %q", name))
}

// Stop shuts the server down (fast mode) without removing its files.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	out, err := c.command(ctx, "pg_ctl", "-D", c.DataDir, "-m", "fast", "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Restart starts a stopped server again on the same port.
func (c *Cluster) Restart(ctx context.Context) error {
	_ = c.Stop(ctx)
	return c.start(ctx)
}

// Close stops the server (immediate mode) and removes its directory. Safe to call twice.
func (c *Cluster) Close() error {
	c.mu.Lock()
	stopped := c.stopped
	c.stopped = true
	c.mu.Unlock()
	var err error
	if !stopped {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, e := c.command(ctx, "pg_ctl", "-D", c.DataDir, "-m", "immediate", "-w", "stop").CombinedOutput(); e != nil {
			err = fmt.Errorf("pgcluster: pg_ctl stop: %w\n%s", e, out)
		}
	}
	c.removeDir()
	return err
}

func (c *Cluster) removeDir() {
	if c.Dir != "" {
		_ = os.RemoveAll(c.Dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
