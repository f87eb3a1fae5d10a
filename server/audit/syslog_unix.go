//go:build !windows && !plan9

package audit

import (
	"fmt"
	"log/syslog"
	"net/url"
	"strings"
	"sync"
	"time"
)

// syslogTag names the server in syslog.
const syslogTag = "aula-audit"

// syslogOutput sends each event at LOG_NOTICE to the authpriv facility. It connects on
// first use and again after a failure (at most every redial), so a syslog host that is
// down delays nothing and is used once it is back.
type syslogOutput struct {
	network, addr string
	mu            sync.Mutex
	w             *syslog.Writer
	lastTry       time.Time
}

const redial = 10 * time.Second

func openSyslog(target string) (output, error) {
	o := &syslogOutput{}
	if target != "local" {
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" {
			return nil, fmt.Errorf("audit syslog %q: want local, udp://HOST:PORT or tcp://HOST:PORT", target)
		}
		o.network, o.addr = u.Scheme, u.Host
	}
	return o, nil
}

func (o *syslogOutput) write(line []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w == nil {
		if time.Since(o.lastTry) < redial {
			return fmt.Errorf("syslog %s %s unreachable; retrying within %s", o.network, o.addr, redial)
		}
		o.lastTry = time.Now()
		w, err := syslog.Dial(o.network, o.addr, syslog.LOG_NOTICE|syslog.LOG_AUTHPRIV, syslogTag)
		if err != nil {
			return fmt.Errorf("connect to syslog: %w", err)
		}
		o.w = w
	}
	if err := o.w.Notice(strings.TrimSuffix(string(line), "\n")); err != nil {
		o.w.Close()
		o.w = nil
		return fmt.Errorf("write to syslog: %w", err)
	}
	return nil
}

func (o *syslogOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w == nil {
		return nil
	}
	err := o.w.Close()
	o.w = nil
	return err
}
