package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentialSealedRoundTrip(t *testing.T) {
	data := t.TempDir()
	cred := Credential{Kind: "agent", Server: "https://aula.example:8443", ClientID: "agent-x", ClientSecret: "aula_secret", Room: "Hall B"}
	if err := saveCredential(data, "", cred); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(data, credentialFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "aula_secret") || strings.Contains(string(raw), "Hall B") {
		t.Error("the sealed credential holds the secret in the clear")
	}
	got, err := loadCredential(data, "")
	if err != nil || got != cred {
		t.Fatalf("loadCredential = %+v, %v", got, err)
	}
	// A key kept elsewhere: the data folder alone does not open the credential.
	other := t.TempDir()
	key := filepath.Join(t.TempDir(), "k")
	if err := saveCredential(other, key, cred); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(other, credentialKey)); !os.IsNotExist(err) {
		t.Errorf("key written into the data folder: %v", err)
	}
	if _, err := loadCredential(other, filepath.Join(other, "missing")); err == nil {
		t.Error("opened without the key")
	}
	if _, err := loadCredential(t.TempDir(), ""); !os.IsNotExist(err) {
		t.Errorf("no credential: %v", err)
	}
}

func TestParseCredential(t *testing.T) {
	good := []Credential{
		{Kind: "agent", Server: "https://h", ClientID: "c", ClientSecret: "s"},
		{Kind: "user", Server: "https://h", ClientID: "aula-recorder", RefreshToken: "r"},
	}
	for _, c := range good {
		b, _ := json.Marshal(c)
		if _, err := ParseCredential(b); err != nil {
			t.Errorf("ParseCredential(%s): %v", b, err)
		}
	}
	for _, bad := range []string{"", "{}", `{"kind":"agent","server":"http://h","client_id":"c","client_secret":"s"}`,
		`{"kind":"user","server":"https://h","client_id":"c","client_secret":"s"}`, `{"kind":"agent","server":"https://h","client_id":"c","client_secret":"s","x":1}`} {
		if _, err := ParseCredential([]byte(bad)); err == nil {
			t.Errorf("ParseCredential(%q) accepted", bad)
		}
	}
}

func FuzzParseCredential(f *testing.F) {
	f.Add([]byte(`{"kind":"agent","server":"https://h","client_id":"c","client_secret":"s"}`))
	f.Add([]byte(`{"kind":"user","server":"https://h","client_id":"c","refresh_token":"r"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCredential(b)
		if err != nil {
			return
		}
		if !strings.HasPrefix(c.Server, "https://") || c.ClientID == "" || (c.ClientSecret == "" && c.RefreshToken == "") {
			t.Fatalf("accepted %+v", c)
		}
	})
}
