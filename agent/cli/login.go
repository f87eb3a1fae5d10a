package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/aulacapture/aula/agent/upload"
)

const loginUsage = "login --server URL [--device] [--server-ca FILE] [--data DIR] [--credential-key FILE]"

// loginTimeout bounds how long login waits for the user to approve in the browser.
const loginTimeout = 10 * time.Minute

// runLogin signs the recorder's user in: the authorization code with PKCE on a loopback
// redirect (RFC 8252), or with --device the device grant (RFC 8628) for a PC without a
// browser. The refresh token it gets is sealed like an enrolled credential.
func runLogin(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "login", loginUsage)
	server := fs.String("server", "", "the Aula server, such as https://aula.example.edu")
	ca := fs.String("server-ca", "", "trust this PEM certificate too, such as the server's self-signed DATA/tls/cert.pem")
	data := fs.String("data", "", "the agent's data `DIR` (default "+defaultDataDir(env.Getenv)+")")
	keyFile := fs.String("credential-key", "", "keep the key that seals the credential in this `FILE` (default $AULA_CREDENTIAL_KEY, or DATA/credential.key)")
	device := fs.Bool("device", false, "sign in on another device's browser with a code (for a PC without a browser)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return ErrUsage
	}
	if *server == "" || fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "Usage: aula-agent %s\n", loginUsage)
		return ErrUsage
	}
	if *data == "" {
		*data = defaultDataDir(env.Getenv)
	}
	c, err := upload.NewClient(*server, "", *ca)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	octx := context.WithValue(ctx, oauth2.HTTPClient, c.HTTP)
	cfg := recorderConfig(c)
	var tok *oauth2.Token
	if *device {
		tok, err = deviceLogin(octx, env, cfg)
	} else {
		tok, err = loopbackLogin(octx, env, cfg)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("nobody approved the sign-in within %s: run aula-agent login again", loginTimeout)
		}
		return err
	}
	if tok.RefreshToken == "" {
		return errors.New("the server gave no refresh token, so the sign-in cannot be kept")
	}
	cred := Credential{Kind: "user", Server: c.Base.String(), ClientID: recorderClient, RefreshToken: tok.RefreshToken}
	if err := saveCredential(*data, *keyFile, cred); err != nil {
		return fmt.Errorf("save the sign-in: %w", err)
	}
	sealed, key := credentialPaths(*data, *keyFile)
	fmt.Fprintf(env.Stderr, "Signed in. The sign-in is sealed in %s (key %s); record with --server %s.\n", sealed, key, c.Base)
	return nil
}

// loopbackLogin runs the authorization code grant with PKCE, receiving the code on
// http://127.0.0.1:PORT/callback.
func loopbackLogin(ctx context.Context, env Env, cfg *oauth2.Config) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on the loopback address for the sign-in: %w", err)
	}
	defer ln.Close()
	cfg.RedirectURL = fmt.Sprintf("http://%s/callback", ln.Addr())
	state, err := randomString()
	if err != nil {
		return nil, err
	}
	verifier := oauth2.GenerateVerifier()
	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var res result
		switch {
		case q.Get("state") != state:
			http.Error(w, "This sign-in answer is not for the running aula-agent login.", http.StatusBadRequest)
			return
		case q.Get("error") != "":
			res.err = fmt.Errorf("the sign-in was refused: %s", q.Get("error"))
		default:
			res.code = q.Get("code")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		msg := "Signed in. You may close this page and go back to the recorder."
		if res.err != nil {
			msg = "The sign-in did not finish: " + res.err.Error()
		}
		fmt.Fprintf(w, "<!doctype html><title>Aula</title><p>%s</p>", html.EscapeString(msg))
		select {
		case got <- res:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	fmt.Fprintf(env.Stderr, "Open this address in a browser on this computer and sign in:\n%s\n", url)
	var res result
	select {
	case res = <-got:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.err != nil {
		return nil, res.err
	}
	tok, err := cfg.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchange the sign-in code: %w", tokenError(err))
	}
	return tok, nil
}

// deviceLogin runs the device grant: it shows a code to type on another device's
// browser, and polls until the user approves it.
func deviceLogin(ctx context.Context, env Env, cfg *oauth2.Config) (*oauth2.Token, error) {
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		return nil, fmt.Errorf("start the device sign-in: %w", tokenError(err))
	}
	fmt.Fprintf(env.Stderr, "On any device, open %s , sign in and enter the code %s\n(or open %s)\n", da.VerificationURI, da.UserCode, da.VerificationURIComplete)
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("the device sign-in did not finish: %w", tokenError(err))
	}
	return tok, nil
}

func randomString() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

const logoutUsage = "logout [--server-ca FILE] [--data DIR] [--credential-key FILE]"

// runLogout ends this PC's sign-in: a user's refresh token is revoked at the server
// (RFC 7009) and the sealed credential deleted. An enrolled agent's credential is only
// deleted here; an administrator revokes it with aula-server agent revoke.
func runLogout(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "logout", logoutUsage)
	ca := fs.String("server-ca", "", "trust this PEM certificate too, such as the server's self-signed DATA/tls/cert.pem")
	data := fs.String("data", "", "the agent's data `DIR` (default "+defaultDataDir(env.Getenv)+")")
	keyFile := fs.String("credential-key", "", "the key that seals the credential (default $AULA_CREDENTIAL_KEY, or DATA/credential.key)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		*data = defaultDataDir(env.Getenv)
	}
	cred, err := loadCredential(*data, *keyFile)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(env.Stderr, "No sign-in or enrollment is stored in %s.\n", *data)
		return nil
	}
	if err != nil {
		return err
	}
	if cred.Kind == "user" {
		c, err := upload.NewClient(cred.Server, "", *ca)
		if err != nil {
			return err
		}
		form := url.Values{"token": {cred.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {cred.ClientID}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base.JoinPath(revokePath).String(), strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return fmt.Errorf("revoke the sign-in at %s (nothing was deleted): %w", c.Base.Host, upload.CertError(c.Base.Host, err))
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("the server answered %s to the revocation; nothing was deleted", resp.Status)
		}
	}
	sealed, _ := credentialPaths(*data, *keyFile)
	if err := os.Remove(sealed); err != nil {
		return err
	}
	if cred.Kind == "agent" {
		fmt.Fprintf(env.Stderr, "Deleted the credential of %s from this PC. To revoke it on the server: aula-server agent revoke --client %s\n", cred.ClientID, cred.ClientID)
		return nil
	}
	fmt.Fprintln(env.Stderr, "Signed out: the server revoked the sign-in, and this PC forgot it.")
	return nil
}
