package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pgask/pgask/proxy/internal/evloop"
)

// Defaults of the Options that a zero value leaves to New. pgask's configuration keys default to
// the same values (config reads them from here).
const (
	DefaultStartupTimeout  = 30 * time.Second
	DefaultConnectTimeout  = 10 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultRelayThreads    = 1
)

// Options configure a Server. Only Upstream.Addr is required.
type Options struct {
	// Listen is the TCP address ListenAndServe listens on, e.g. "127.0.0.1:6432".
	Listen string
	// Upstream says where and how pgask connects to PostgreSQL. User and database come from
	// each client's own startup message.
	Upstream Upstream
	// TLSConfig is the client-side TLS configuration (certificate and key). When nil, an
	// SSLRequest is answered 'N' and a direct TLS handshake is refused.
	TLSConfig *tls.Config
	// MaxConnections caps concurrent client sessions; 0 means no limit. A client over the
	// limit gets ErrorResponse 53300 (too_many_connections), as from PostgreSQL itself.
	MaxConnections int
	// MaxMessageSize is the longest protocol message (length field and body, as PostgreSQL
	// counts) a client may send; a longer one ends that session with FATAL 54000. 0 means
	// PostgreSQL's own limit, 1 GB. Upstream messages are held to 1 GB.
	MaxMessageSize int
	// IdleTimeout closes a session whose client has sent nothing for this long while none of
	// its queries runs (FATAL 57P05, as PostgreSQL's idle_session_timeout). 0 means never.
	IdleTimeout time.Duration
	// StartupTimeout bounds everything from accept to the first ReadyForQuery (TLS, startup
	// message, authentication). 0 means DefaultStartupTimeout.
	StartupTimeout time.Duration
	// ConnectTimeout bounds dialing the upstream and its TLS handshake. 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// ShutdownTimeout is how long Serve lets sessions finish after its ctx ends. 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// RelayThreads is the number of OS threads that relay plain-TCP sessions with epoll, as
	// PgBouncer does (Linux). A session is handed to the goroutine relay for good when it
	// uses TLS, sends a statement that may be an ASK, or ends. 0 means DefaultRelayThreads; negative means
	// none: every session is relayed by two goroutines of its own. Each thread keeps one of
	// GOMAXPROCS; fewer threads start when they would leave none for the rest (the proxy
	// never changes GOMAXPROCS: raise it first for more).
	RelayThreads int
	// RelayNoIOURing makes the relay threads call read(2) and write(2) once per socket
	// instead of batching them through io_uring. io_uring is used only where the kernel
	// offers it (Linux 6.1 or later, not disabled by sysctl or seccomp); this switch is for
	// comparison and for kernels whose io_uring misbehaves.
	RelayNoIOURing bool
	// Logger receives connect/disconnect at Debug and errors with the peer and SQLSTATE.
	// nil discards.
	Logger *slog.Logger
	// Interceptor, when set, sees the text of client Query and Parse messages that pass the
	// ASK prefilter (see MayBeAsk). nil relays everything untouched.
	Interceptor Interceptor

	// relayHooks lets the package's tests watch and steer the relay threads; nil elsewhere.
	relayHooks *evloop.Hooks
}

// Upstream is the PostgreSQL server pgask relays to.
type Upstream struct {
	// Addr is host:port.
	Addr string
	// TLSMode is libpq's sslmode: disable, prefer (default), require, verify-ca, verify-full.
	TLSMode string
	// RootCert is a PEM file of CA certificates (libpq's sslrootcert), or "system" for the
	// system's CA pool (as libpq 16). verify-ca and verify-full need it; with require a file
	// upgrades the check to verify-ca, as in libpq.
	RootCert string
	// ServerName is the name verified by verify-full and sent as SNI; default: Addr's host.
	ServerName string
}

// rootCertSystem is sslrootcert's name for the system's CA pool (libpq 16).
const rootCertSystem = "system"

// TLS modes, as libpq's sslmode.
const (
	TLSDisable    = "disable"
	TLSPrefer     = "prefer"
	TLSRequire    = "require"
	TLSVerifyCA   = "verify-ca"
	TLSVerifyFull = "verify-full"
)

// ParseUpstream parses a libpq-style upstream: "host:port", "host" (port 5432), or a URL
// "postgres://host[:port][/][?sslmode=...&sslrootcert=...]". A user, password or database in
// the URL is an error: they come from each client's startup message.
func ParseUpstream(s string) (Upstream, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Upstream{}, errors.New("upstream is empty")
	}
	if !strings.Contains(s, "://") {
		return Upstream{Addr: withDefaultPort(s), TLSMode: TLSPrefer}, validateHostPort(s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Upstream{}, fmt.Errorf("upstream %q: %w", s, err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return Upstream{}, fmt.Errorf("upstream %q: scheme must be postgres:// or postgresql://", s)
	}
	if u.User != nil {
		return Upstream{}, fmt.Errorf("upstream %q: must not name a user or password (each client authenticates as itself)", s)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		return Upstream{}, fmt.Errorf("upstream %q: must not name a database (each client names its own)", s)
	}
	if u.Host == "" {
		return Upstream{}, fmt.Errorf("upstream %q: missing host", s)
	}
	up := Upstream{Addr: withDefaultPort(u.Host), TLSMode: TLSPrefer}
	for k, v := range u.Query() {
		val := v[len(v)-1]
		switch k {
		case "sslmode":
			up.TLSMode = val
		case "sslrootcert":
			up.RootCert = val
		case "servername": // pgask's own: the name verify-full checks and SNI sends
			up.ServerName = val
		case "sslsni": // libpq's switch; pgask always sends SNI for a host name
			if val != "1" {
				return Upstream{}, fmt.Errorf("upstream %q: sslsni=%s is not supported (pgask always sends SNI for a host name)", s, val)
			}
		default:
			return Upstream{}, fmt.Errorf("upstream %q: unsupported parameter %q (supported: sslmode, sslrootcert, servername, sslsni=1)", s, k)
		}
	}
	if err := up.validate(); err != nil {
		return Upstream{}, fmt.Errorf("upstream %q: %w", s, err)
	}
	return up, nil
}

func withDefaultPort(hostport string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	h := strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
	return net.JoinHostPort(h, "5432")
}

func validateHostPort(s string) error {
	h, p, err := net.SplitHostPort(withDefaultPort(s))
	if err != nil || h == "" || p == "" {
		return fmt.Errorf("upstream %q: want host:port or a postgres://host:port/?sslmode=mode URL", s)
	}
	return nil
}

func (u Upstream) validate() error {
	if u.Addr == "" {
		return errors.New("upstream address is empty")
	}
	if err := validateHostPort(u.Addr); err != nil {
		return err
	}
	switch u.mode() {
	case TLSDisable, TLSPrefer, TLSRequire:
	case TLSVerifyCA, TLSVerifyFull:
		if u.RootCert == "" {
			return fmt.Errorf("sslmode=%s needs sslrootcert (a PEM file of CA certificates, or system for the system's CA pool)", u.mode())
		}
	default:
		return fmt.Errorf("sslmode %q: want disable, prefer, require, verify-ca or verify-full", u.TLSMode)
	}
	return nil
}

func (u Upstream) mode() string {
	if u.TLSMode == "" {
		return TLSPrefer
	}
	return u.TLSMode
}

// tlsConfig builds the client TLS configuration for the upstream leg, or nil for disable.
func (u Upstream) tlsConfig() (*tls.Config, error) {
	mode := u.mode()
	if mode == TLSDisable {
		return nil, nil
	}
	host, _, _ := net.SplitHostPort(u.Addr)
	name := u.ServerName
	if name == "" {
		name = host
	}
	cfg := &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
	var roots *x509.CertPool
	switch {
	case u.RootCert == rootCertSystem:
		if mode == TLSVerifyCA || mode == TLSVerifyFull {
			pool, err := x509.SystemCertPool()
			if err != nil {
				return nil, fmt.Errorf("sslrootcert=system: %w", err)
			}
			roots = pool
			cfg.RootCAs = pool
		}
	case u.RootCert != "":
		pem, err := os.ReadFile(u.RootCert)
		if err != nil {
			return nil, fmt.Errorf("read sslrootcert: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sslrootcert %s: no PEM certificates", u.RootCert)
		}
		cfg.RootCAs = roots
	}
	switch {
	case mode == TLSVerifyFull:
	case mode == TLSVerifyCA || (mode == TLSRequire && roots != nil):
		// Verify the chain but not the host name, as libpq's verify-ca.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("upstream sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	default: // prefer, require: encryption without verification, as libpq.
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// ServerTLSConfig loads a PEM certificate (chain) and key for the client-facing side
// (Options.TLSConfig), as PostgreSQL's ssl_cert_file and ssl_key_file.
func ServerTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
