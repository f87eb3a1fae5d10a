package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func startServer(t *testing.T) (addr string, roots *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	cert, err := LoadOrCreate(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = Config(cert)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots = x509.NewCertPool()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(leaf)
	return srv.Listener.Addr().String(), roots
}

func dial(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

func TestProtocolsAndSuites(t *testing.T) {
	addr, roots := startServer(t)
	host, _, _ := net.SplitHostPort(addr)
	st, err := dial(addr, &tls.Config{RootCAs: roots, ServerName: host})
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != tls.VersionTLS13 {
		t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if _, err := dial(addr, &tls.Config{RootCAs: roots, ServerName: host, MinVersion: v, MaxVersion: v}); err == nil {
			t.Errorf("%s was accepted", tls.VersionName(v))
		}
	}
	for _, s := range tls.InsecureCipherSuites() {
		cfg := &tls.Config{RootCAs: roots, ServerName: host, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{s.ID}}
		if _, err := dial(addr, cfg); err == nil {
			t.Errorf("insecure suite %s was accepted", s.Name)
		}
	}
	// Every TLS 1.2 suite offered is forward secret and AEAD.
	for _, id := range Suites {
		if strings.Contains(tls.CipherSuiteName(id), "_RSA_") {
			continue // the self-signed key is ECDSA
		}
		st, err := dial(addr, &tls.Config{RootCAs: roots, ServerName: host, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{id}})
		if err != nil || st.CipherSuite != id {
			t.Errorf("suite %s: %v", tls.CipherSuiteName(id), err)
		}
	}
}

func TestLoadOrCreateKeepsPair(t *testing.T) {
	dir := t.TempDir()
	c, k := filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	a, err := LoadOrCreate(c, k, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(c, k, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if string(a.Certificate[0]) != string(b.Certificate[0]) {
		t.Error("second start made a new certificate")
	}
	if _, err := LoadOrCreate(c, filepath.Join(dir, "other-key.pem"), []string{"localhost"}); err == nil {
		t.Error("a certificate without its key was accepted")
	}
}
