package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/server"
	"github.com/aulacapture/aula/server/auth"
)

// TestWebAuthnInBrowser registers a passkey in headless Chromium with a virtual
// authenticator and signs in with it as the second factor, on both backends: an
// administrator, who must have 2FA, sets it up with the passkey instead of TOTP, gets
// recovery codes, then signs in with password and passkey, and with password and a
// recovery code. The browser uses https://localhost:PORT, since a
// WebAuthn relying party ID must be a host name, not an IP address.
func TestWebAuthnInBrowser(t *testing.T) {
	for name, setup := range backends(t) {
		t.Run(name, func(t *testing.T) { webauthnInBrowser(t, setup) })
	}
}

func webauthnInBrowser(t *testing.T, setup func(*testing.T, *server.Config)) {
	srv := start(t, setup)
	email := "keyholder@uni.example"
	oneTime := password(t, runCLI(t, srv.getenv, "admin", "create", "--tenant", "Uni", "--email", email))
	base := strings.Replace(srv.url, "127.0.0.1", "localhost", 1)
	shot := filepath.Join(t.ArtifactDir(), "webauthn.png")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "e2e/webauthn.mjs", base, email, oneTime, "a long passphrase for the key holder", shot)
	cmd.Dir = "../.."
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node e2e/webauthn.mjs: %v (make setup installs chromium and playwright-core): %s", err, raw)
	}
	var res struct {
		Errors      []string
		Steps       []string
		Registered  string
		SignedIn    bool
		Heading     string
		Credentials []struct {
			RPID      string `json:"rpId"`
			SignCount int
			Resident  bool
		}
		SignCountAfter []int
		UsersRow       string
		UsedRow        string
		Codes          []string
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("browser said %q", raw)
	}
	t.Logf("browser: %s", raw)
	// Password change, passkey set-up, signed in; password and passkey, signed in;
	// password and a recovery code, signed in.
	want := []string{"/account/password", "/account/2fa", "/recordings", "/signin/2fa", "/recordings", "/signin/2fa", "/recordings"}
	if len(res.Codes) != auth.RecoveryCodeCount {
		t.Errorf("%d recovery codes shown after the first passkey, want %d", len(res.Codes), auth.RecoveryCodeCount)
	}
	if strings.Join(res.Steps, " ") != strings.Join(want, " ") {
		t.Errorf("steps %q, want %q", res.Steps, want)
	}
	if !strings.Contains(res.Registered, "Virtual passkey") {
		t.Errorf("2FA page lists %q, want the new passkey", res.Registered)
	}
	if len(res.Credentials) != 1 || res.Credentials[0].RPID != "localhost" {
		t.Errorf("authenticator holds %+v, want one credential for localhost", res.Credentials)
	}
	if !strings.Contains(res.UsedRow, "Virtual passkey") || strings.Contains(res.UsedRow, "never") {
		t.Errorf("after the sign-in the 2FA page lists %q, want a last use", res.UsedRow)
	}
	if !strings.Contains(res.UsersRow, "1 security key") || !strings.Contains(res.UsersRow, "Remove 2FA") {
		t.Errorf("users page row %q, want the key shown and removable", res.UsersRow)
	}
	if !res.SignedIn {
		t.Error("not signed in with the passkey")
	}
	if len(res.Errors) > 0 {
		t.Errorf("errors in the browser: %q", res.Errors)
	}
	// The server recorded the sign-in with the key and the counter it reported.
	audit := runCLI(t, srv.getenv, "audit", "list", "--tenant", "Uni")
	for _, s := range []string{"webauthn: Virtual passkey", "second factor: security key", "2fa.recovery_code_used"} {
		if !strings.Contains(audit, s) {
			t.Errorf("audit log lacks %q:\n%s", s, audit)
		}
	}
}
