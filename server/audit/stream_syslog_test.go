//go:build !windows

package audit

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// TestStreamSyslog sends events to a syslog "server" on loopback UDP.
func TestStreamSyslog(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := OpenStream(StreamOptions{Syslog: "udp://" + pc.LocalAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	e := store.AuditEvent{TenantID: "t", Seq: 4, ID: "id-4", At: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC), Action: "sso.configured", MAC: []byte{1, 2}}
	s.Observe(e)
	buf := make([]byte, 4096)
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	// <PRI> of authpriv (10) × 8 + notice (5) = 85.
	if !strings.HasPrefix(msg, "<85>") || !strings.Contains(msg, syslogTag) || !strings.Contains(msg, `"action":"sso.configured"`) || !strings.Contains(msg, `"mac":"0102"`) {
		t.Errorf("syslog message %q", msg)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if _, err := OpenStream(StreamOptions{Syslog: "ftp://x:1"}); err == nil {
		t.Error("ftp syslog accepted")
	}
	if s, err := OpenStream(StreamOptions{}); s != nil || err != nil {
		t.Errorf("no outputs: %v, %v", s, err)
	}
}
