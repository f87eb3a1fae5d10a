package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/aulacapture/aula/agent/upload"
)

// Credential is what `aula-agent enroll` or `aula-agent login` got from the server. It
// is kept sealed on disk (see saveCredential).
type Credential struct {
	// Kind is "agent" (an enrolled room PC: client credentials) or "user" (a signed-in
	// recorder: a rotating refresh token).
	Kind string `json:"kind"`
	// Server is the server's URL the credential belongs to.
	Server       string `json:"server"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Room         string `json:"room,omitempty"`
}

const (
	credentialFile = "credential.age"
	credentialKey  = "credential.key"
	// tokenPath and the other endpoints, relative to the server's URL.
	tokenPath      = "/oauth/token"
	authorizePath  = "/oauth/authorize"
	devicePath     = "/oauth/device_authorization"
	enrollPath     = "/api/v1/agents/enroll"
	revokePath     = "/oauth/revoke"
	recorderClient = "aula-recorder"
	scopeIngest    = "ingest"
)

// ParseCredential decodes a credential strictly and checks that it is complete.
func ParseCredential(b []byte) (Credential, error) {
	var c Credential
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Credential{}, fmt.Errorf("credential: %w", err)
	}
	switch {
	case !strings.HasPrefix(c.Server, "https://"):
		return Credential{}, errors.New("credential: no https server")
	case c.ClientID == "":
		return Credential{}, errors.New("credential: no client id")
	case c.Kind == "agent" && c.ClientSecret != "":
	case c.Kind == "user" && c.RefreshToken != "":
	default:
		return Credential{}, fmt.Errorf("credential: kind %q without its secret", c.Kind)
	}
	return c, nil
}

// The credential is sealed with age to an X25519 identity kept in a file of its own
// (0600) beside it. An unattended PC must be able to use the credential with no one
// present, so whoever can read both files as the agent's user can use it: the seal keeps
// the credential out of copies of the data folder that leave the key behind (backups,
// support bundles, a synced folder), and the key file may be moved to a root-only place
// with --credential-key. A TPM or the OS keyring would bind it to the machine; neither
// is available to a headless service on every PC this runs on.
func credentialPaths(data, keyFile string) (sealed, key string) {
	if keyFile == "" {
		keyFile = os.Getenv("AULA_CREDENTIAL_KEY")
	}
	if keyFile == "" {
		keyFile = filepath.Join(data, credentialKey)
	}
	return filepath.Join(data, credentialFile), keyFile
}

// saveCredential seals c into DATA/credential.age, making the key file if needed.
func saveCredential(data, keyFile string, c Credential) error {
	sealedPath, keyPath := credentialPaths(data, keyFile)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", data, err)
	}
	id, err := loadIdentity(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		id, err = age.GenerateX25519Identity()
		if err == nil {
			err = writeFileSync(keyPath, []byte(id.String()+"\n"))
		}
	}
	if err != nil {
		return fmt.Errorf("credential key %s: %w", keyPath, err)
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, id.Recipient())
	if err != nil {
		return err
	}
	if _, err := w.Write(plain); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return writeFileSync(sealedPath, buf.Bytes())
}

// loadCredential opens DATA/credential.age; os.ErrNotExist when there is none.
func loadCredential(data, keyFile string) (Credential, error) {
	sealedPath, keyPath := credentialPaths(data, keyFile)
	sealed, err := os.ReadFile(sealedPath)
	if err != nil {
		return Credential{}, err
	}
	id, err := loadIdentity(keyPath)
	if err != nil {
		return Credential{}, fmt.Errorf("the credential's key %s: %w", keyPath, err)
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		return Credential{}, fmt.Errorf("open %s with %s: %w", sealedPath, keyPath, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return Credential{}, fmt.Errorf("open %s: %w", sealedPath, err)
	}
	return ParseCredential(plain)
}

func loadIdentity(path string) (*age.X25519Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return age.ParseX25519Identity(strings.TrimSpace(string(b)))
}

// writeFileSync writes data to path (0600) under a temporary name, syncs and renames it.
func writeFileSync(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// oauthContext carries the client's verified HTTPS client to golang.org/x/oauth2, with a
// timeout for each token request.
func oauthContext(c *upload.Client) context.Context {
	hc := *c.HTTP
	hc.Timeout = 30 * time.Second
	return context.WithValue(context.Background(), oauth2.HTTPClient, &hc)
}

// tokenSource gives fresh access tokens for the credential: client credentials for an
// agent, the refresh token (rotated and saved at every use) for a signed-in user.
func tokenSource(c *upload.Client, cred Credential, save func(Credential) error) oauth2.TokenSource {
	ctx := oauthContext(c)
	tokenURL := c.Base.JoinPath(tokenPath).String()
	if cred.Kind == "agent" {
		cc := clientcredentials.Config{ClientID: cred.ClientID, ClientSecret: cred.ClientSecret, TokenURL: tokenURL,
			Scopes: []string{scopeIngest}, AuthStyle: oauth2.AuthStyleInHeader}
		return cc.TokenSource(ctx)
	}
	cfg := recorderConfig(c)
	return &savingSource{src: cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: cred.RefreshToken}), cred: cred, save: save}
}

// recorderConfig is the desktop recorder's OAuth client of the server c talks to.
func recorderConfig(c *upload.Client) *oauth2.Config {
	return &oauth2.Config{ClientID: recorderClient, Scopes: []string{scopeIngest, "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: c.Base.JoinPath(authorizePath).String(), TokenURL: c.Base.JoinPath(tokenPath).String(),
			DeviceAuthURL: c.Base.JoinPath(devicePath).String(), AuthStyle: oauth2.AuthStyleInParams}}
}

// savingSource saves each new refresh token: the server rotates it at every use and
// refuses the old one afterwards.
type savingSource struct {
	mu   sync.Mutex
	src  oauth2.TokenSource
	cred Credential
	save func(Credential) error
}

func (s *savingSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.src.Token()
	if err != nil {
		return nil, err
	}
	if t.RefreshToken != "" && t.RefreshToken != s.cred.RefreshToken {
		s.cred.RefreshToken = t.RefreshToken
		if err := s.save(s.cred); err != nil {
			return nil, fmt.Errorf("save the new refresh token: %w", err)
		}
	}
	return t, nil
}

const enrollUsage = "enroll --server URL [--server-ca FILE] [--data DIR] [--credential-key FILE] CODE"

// runEnroll trades an administrator's one-time enrollment code for this PC's agent
// credential, checks that it gets a token, and seals it into the data folder.
func runEnroll(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "enroll", enrollUsage)
	server := fs.String("server", "", "the Aula server, such as https://aula.example.edu")
	ca := fs.String("server-ca", "", "trust this PEM certificate too, such as the server's self-signed DATA/tls/cert.pem")
	data := fs.String("data", "", "the agent's data `DIR` (default "+defaultDataDir(env.Getenv)+")")
	keyFile := fs.String("credential-key", "", "keep the key that seals the credential in this `FILE` (default $AULA_CREDENTIAL_KEY, or DATA/credential.key)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return ErrUsage
	}
	if *server == "" || fs.NArg() != 1 {
		fmt.Fprintf(env.Stderr, "Usage: aula-agent %s\n", enrollUsage)
		return ErrUsage
	}
	code := strings.TrimSpace(fs.Arg(0))
	if *data == "" {
		*data = defaultDataDir(env.Getenv)
	}
	c, err := upload.NewClient(*server, "", *ca)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"code": code})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base.JoinPath(enrollPath).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("enroll at %s: %w", c.Base.Host, upload.CertError(c.Base.Host, err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(raw, &p)
		if p.Detail == "" {
			p.Detail = resp.Status
		}
		return fmt.Errorf("the server refused the enrollment: %s", p.Detail)
	}
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		Room         string `json:"room"`
		TokenPath    string `json:"token_path"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("read the server's answer: %w", err)
	}
	cred := Credential{Kind: "agent", Server: c.Base.String(), ClientID: out.ClientID, ClientSecret: out.ClientSecret, Room: out.Room}
	if _, err := ParseCredential(mustJSON(cred)); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	if err := saveCredential(*data, *keyFile, cred); err != nil {
		return fmt.Errorf("save the credential: %w", err)
	}
	if _, err := tokenSource(c, cred, nil).Token(); err != nil {
		return fmt.Errorf("enrolled, but the first token request failed: %w", tokenError(err))
	}
	sealed, key := credentialPaths(*data, *keyFile)
	fmt.Fprintf(env.Stderr, "Enrolled for room %q as %s. The credential is sealed in %s (key %s); record with --server %s.\n",
		out.Room, out.ClientID, sealed, key, c.Base)
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// tokenError says in a sentence why the token endpoint refused.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorDescription != "" {
			return fmt.Errorf("%s: %s", re.ErrorCode, re.ErrorDescription)
		}
		return fmt.Errorf("%s", re.ErrorCode)
	}
	return err
}
