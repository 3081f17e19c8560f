package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
)

// testPKI is a CA and one server certificate for 127.0.0.1 / localhost, written as PEM
// files into a temporary directory readable by the postgres OS user.
type testPKI struct {
	caFile, certFile, keyFile string
	cert                      tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgask-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pgask test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	p := testPKI{caFile: filepath.Join(dir, "ca.crt"), certFile: filepath.Join(dir, "server.crt"), keyFile: filepath.Join(dir, "server.key")}
	write := func(path, typ string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(p.caFile, "CERTIFICATE", caDER)
	write(p.certFile, "CERTIFICATE", der)
	write(p.keyFile, "EC PRIVATE KEY", keyDER)
	p.cert, err = tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLSClientSide(t *testing.T) {
	pki := newTestPKI(t)
	c := pgtest.Shared(t)
	serverTLS, err := ServerTLSConfig(pki.certFile, pki.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ServerTLSConfig(pki.certFile, pki.caFile); err == nil {
		t.Fatal("ServerTLSConfig accepted a certificate as the key")
	}
	_, addr := startProxy(t, Options{
		Upstream:  Upstream{Addr: c.Addr(), TLSMode: TLSDisable},
		TLSConfig: serverTLS,
	})
	ctx := ctxT(t)
	for _, params := range []string{
		"sslmode=verify-full&sslrootcert=" + pki.caFile,
		"sslmode=verify-full&sslnegotiation=direct&sslrootcert=" + pki.caFile,
		"sslmode=disable",
	} {
		t.Run(params, func(t *testing.T) {
			conn := connect(t, fmt.Sprintf("postgres://postgres@%s/postgres?%s", addr, params))
			wantTLS := !strings.Contains(params, "disable")
			if _, isTLS := conn.PgConn().Conn().(*tls.Conn); isTLS != wantTLS {
				t.Fatalf("TLS = %v, want %v", isTLS, wantTLS)
			}
			var v string
			if err := conn.QueryRow(ctx, "select repeat('z', 200000)").Scan(&v); err != nil || len(v) != 200000 {
				t.Fatalf("len %d err %v", len(v), err)
			}
			cancelSleep(t, conn, connect(t, fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr)))
		})
	}
	t.Run("plain bytes after SSLRequest are refused", func(t *testing.T) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		ssl := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}
		startup := []byte{0, 0, 0, 9, 0, 3, 0, 0, 0}
		if _, err := nc.Write(append(ssl, startup...)); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		b := make([]byte, 512)
		n, _ := nc.Read(b)
		if n == 0 || b[0] != 'E' || !strings.Contains(string(b[:n]), "unencrypted data after SSL request") {
			t.Fatalf("got %q", b[:n])
		}
	})
}

func TestTLSUpstream(t *testing.T) {
	pki := newTestPKI(t)
	c := pgtest.Start(t, pgcluster.Options{
		TLSCert: pki.certFile, TLSKey: pki.keyFile,
		HBA:      []string{"hostnossl all all 127.0.0.1/32 reject", "hostssl all scramuser 127.0.0.1/32 scram-sha-256"},
		Settings: map[string]string{"password_encryption": "'scram-sha-256'"},
	})
	ctx := ctxT(t)
	if err := c.Exec(ctx, "postgres", "create role scramuser login password 'pw'"); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{TLSRequire, TLSVerifyCA, TLSVerifyFull} {
		t.Run(mode, func(t *testing.T) {
			_, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: mode, RootCert: pki.caFile}})
			conn := connect(t, fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr))
			var ssl bool
			if err := conn.QueryRow(ctx, "select ssl from pg_stat_ssl where pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
				t.Fatalf("upstream ssl=%v err=%v", ssl, err)
			}
			scram := connect(t, fmt.Sprintf("postgres://scramuser:pw@%s/postgres?sslmode=disable", addr))
			var who string
			if err := scram.QueryRow(ctx, "select current_user").Scan(&who); err != nil || who != "scramuser" {
				t.Fatalf("scram over TLS upstream: %q %v", who, err)
			}
		})
	}
	t.Run("verify-full rejects a wrong name", func(t *testing.T) {
		_, addr := startProxy(t, Options{Upstream: Upstream{Addr: c.Addr(), TLSMode: TLSVerifyFull, RootCert: pki.caFile, ServerName: "db.example"}})
		_, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "08006" || !strings.Contains(pe.Message, "TLS") {
			t.Fatalf("want 08006 about TLS, got %v", err)
		}
	})
	t.Run("TLS on both legs, SCRAM, own certificate", func(t *testing.T) {
		other := newTestPKI(t)
		_, addr := startProxy(t, Options{
			Upstream:  Upstream{Addr: c.Addr(), TLSMode: TLSVerifyFull, RootCert: pki.caFile},
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{other.cert}},
		})
		base := fmt.Sprintf("postgres://scramuser:pw@%s/postgres?sslmode=verify-full&sslrootcert=%s", addr, other.caFile)
		// channel_binding=require cannot pass: pgask does not offer SCRAM-SHA-256-PLUS.
		if _, err := pgx.Connect(ctx, base+"&channel_binding=require"); err == nil || !strings.Contains(err.Error(), "channel binding") {
			t.Fatalf("channel_binding=require: want a channel binding error, got %v", err)
		}
		// The default (prefer) sends the "y" flag, which a TLS upstream takes for a downgrade.
		if _, err := pgx.Connect(ctx, base); err == nil {
			t.Fatal("channel_binding=prefer over two TLS legs unexpectedly passed; update the README note")
		}
		conn := connect(t, base+"&channel_binding=disable")
		var who string
		if err := conn.QueryRow(ctx, "select current_user").Scan(&who); err != nil || who != "scramuser" {
			t.Fatalf("%q %v", who, err)
		}
	})
	t.Run("TLS on both legs, SCRAM, upstream's certificate", func(t *testing.T) {
		_, addr := startProxy(t, Options{
			Upstream:  Upstream{Addr: c.Addr(), TLSMode: TLSVerifyFull, RootCert: pki.caFile},
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{pki.cert}},
		})
		base := fmt.Sprintf("postgres://scramuser:pw@%s/postgres?sslmode=verify-full&sslrootcert=%s", addr, pki.caFile)
		for _, cb := range []string{"require", "prefer"} {
			conn := connect(t, base+"&channel_binding="+cb)
			var who string
			if err := conn.QueryRow(ctx, "select current_user").Scan(&who); err != nil || who != "scramuser" {
				t.Fatalf("channel_binding=%s: %q %v", cb, who, err)
			}
		}
	})
}

func TestParseUpstream(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Upstream
		err  string
	}{
		{in: "db:5433", want: Upstream{Addr: "db:5433", TLSMode: "prefer"}},
		{in: "db", want: Upstream{Addr: "db:5432", TLSMode: "prefer"}},
		{in: "postgres://db.internal:5432/?sslmode=require", want: Upstream{Addr: "db.internal:5432", TLSMode: "require"}},
		{in: "postgresql://[::1]/?sslmode=verify-full&sslrootcert=/ca.pem", want: Upstream{Addr: "[::1]:5432", TLSMode: "verify-full", RootCert: "/ca.pem"}},
		{in: "postgres://db", want: Upstream{Addr: "db:5432", TLSMode: "prefer"}},
		{in: "", err: "empty"},
		{in: "postgres://u:p@db/", err: "user"},
		{in: "postgres://db/mydb", err: "database"},
		{in: "postgres://db/?sslmode=bogus", err: "sslmode"},
		{in: "postgres://db/?application_name=x", err: "application_name"},
		{in: "mysql://db", err: "scheme"},
		{in: "postgres://10.0.0.5/?sslmode=verify-full&sslrootcert=system&servername=db.internal", want: Upstream{Addr: "10.0.0.5:5432", TLSMode: "verify-full", RootCert: "system", ServerName: "db.internal"}},
		{in: "postgres://db/?sslmode=verify-full", err: "sslmode=verify-full needs sslrootcert"},
		{in: "postgres://db/?sslmode=verify-ca", err: "sslmode=verify-ca needs sslrootcert"},
		{in: "postgres://db/?sslsni=1", want: Upstream{Addr: "db:5432", TLSMode: "prefer"}},
		{in: "postgres://db/?sslsni=0", err: "sslsni=0"},
		{in: "postgres://db/?sslmode=allow", err: "sslmode"},
	} {
		got, err := ParseUpstream(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseUpstream(%q): want error containing %q, got %v", tc.in, tc.err, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseUpstream(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
