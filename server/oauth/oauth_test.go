package oauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK":       "BCDF-GHJK",
		"bcdfghjk":        "BCDF-GHJK",
		" bcdf ghjk ":     "BCDF-GHJK",
		"b-c-d-f-g-h-j-k": "BCDF-GHJK",
		"BCDF-GHJ":        "",
		"BCDF-GHJKL":      "",
		"ABCD-EFGH":       "", // vowels are not in the alphabet
		"BCDF-GHJ1":       "",
		"":                "",
	} {
		got, ok := NormalizeUserCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func FuzzNormalizeUserCode(f *testing.F) {
	f.Add("BCDF-GHJK")
	f.Add("bcdf ghjk")
	f.Add("ä")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeUserCode(s)
		if !ok {
			return
		}
		if len(got) != 9 || got[4] != '-' {
			t.Fatalf("NormalizeUserCode(%q) = %q", s, got)
		}
		if again, ok := NormalizeUserCode(got); !ok || again != got {
			t.Fatalf("not idempotent: %q → %q", got, again)
		}
	})
}

func TestParseEnrollRequest(t *testing.T) {
	code, _, _ := auth.NewToken()
	good := `{"code":"` + code + `"}`
	if r, err := ParseEnrollRequest([]byte(good)); err != nil || r.Code != code {
		t.Errorf("good request: %+v, %v", r, err)
	}
	for _, bad := range []string{"", "{}", `{"code":"x"}`, `{"code":"` + code + `","x":1}`, good + good, `[]`, `{"code":1}`} {
		if _, err := ParseEnrollRequest([]byte(bad)); err == nil {
			t.Errorf("ParseEnrollRequest(%q) accepted", bad)
		}
	}
}

func FuzzParseEnrollRequest(f *testing.F) {
	code, _, _ := auth.NewToken()
	f.Add([]byte(`{"code":"` + code + `"}`))
	f.Add([]byte(`{"code":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseEnrollRequest(b)
		if err != nil {
			return
		}
		if _, ok := auth.ParseToken(r.Code); !ok {
			t.Fatalf("accepted code %q", r.Code)
		}
	})
}

func TestValidClientID(t *testing.T) {
	for id, want := range map[string]bool{
		RecorderClientID: true,
		store.AgentClientPrefix + "019a6c2e-1d2f-7abc-8def-0123456789ab": true,
		store.AgentClientPrefix + "019A6C2E-1D2F-7ABC-8DEF-0123456789AB": false,
		store.AgentClientPrefix + "019a6c2e-1d2f-7abc-8def-0123456789a":  false,
		"agent-":   false,
		"":         false,
		"aula-rec": false,
	} {
		if got := validClientID(id); got != want {
			t.Errorf("validClientID(%q) = %v", id, got)
		}
	}
}

func FuzzValidClientID(f *testing.F) {
	f.Add(store.AgentClientPrefix + "019a6c2e-1d2f-7abc-8def-0123456789ab")
	f.Add(RecorderClientID)
	f.Fuzz(func(t *testing.T, s string) {
		if validClientID(s) && s != RecorderClientID && (len(s) != 42 || !strings.HasPrefix(s, store.AgentClientPrefix)) {
			t.Fatalf("accepted %q", s)
		}
	})
}

func FuzzParseUserSubject(f *testing.F) {
	f.Add("t/u")
	f.Add("/")
	f.Fuzz(func(t *testing.T, s string) {
		tn, u, ok := parseUserSubject(s)
		if ok && userSubject(tn, u) != s {
			t.Fatalf("%q → %q %q", s, tn, u)
		}
	})
}

func TestAllowedScopes(t *testing.T) {
	if s, err := allowedScopes(nil, true); err != nil || len(s) != 1 || s[0] != ScopeIngest {
		t.Errorf("no scope: %v %v", s, err)
	}
	if _, err := allowedScopes([]string{"offline_access"}, true); err == nil {
		t.Error("an agent got offline_access")
	}
	if s, err := allowedScopes([]string{"offline_access"}, false); err != nil || len(s) != 2 {
		t.Errorf("recorder offline_access: %v %v", s, err)
	}
	if _, err := allowedScopes([]string{"admin"}, false); err == nil {
		t.Error("admin scope allowed")
	}
}

// fakeTokens is a token table of one row, for tokenCrypto.
type fakeTokens struct {
	hash   []byte
	tok    store.Token
	client string
}

func (f fakeTokens) ClientTokenByHash(_ context.Context, hash []byte) (store.Token, string, error) {
	if string(hash) != string(f.hash) {
		return store.Token{}, "", store.ErrNotFound
	}
	return f.tok, f.client, nil
}

func TestTokenCrypto(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	tok, hash, _ := auth.NewToken()
	c := tokenCrypto{tokens: fakeTokens{hash: hash, tok: store.Token{ID: "id1", TenantID: "t", UserID: "u", ExpiresAt: now.Add(time.Minute)},
		client: RecorderClientID}, now: func() time.Time { return now }}
	if got, err := c.Encrypt(tok + ":t/u"); err != nil || got != tok {
		t.Errorf("Encrypt(access token) = %q, %v", got, err)
	}
	code1, err1 := c.Encrypt("019a6c2e-request")
	code2, err2 := c.Encrypt("019a6c2e-request")
	if err1 != nil || err2 != nil || code1 == code2 || !strings.HasPrefix(code1, "aula_") {
		t.Errorf("codes %q %q", code1, code2)
	}
	if _, err := c.Encrypt("junk:sub"); err == nil {
		t.Error("Encrypt accepted a malformed access token")
	}
	if got, err := c.Decrypt(tok); err != nil || got != "id1:t/u" {
		t.Errorf("Decrypt = %q, %v", got, err)
	}
	late := c
	late.now = func() time.Time { return now.Add(time.Minute) }
	if _, err := late.Decrypt(tok); err == nil {
		t.Error("Decrypt accepted an expired token")
	}
	if _, err := c.Decrypt(code1); err == nil {
		t.Error("Decrypt accepted an unknown token")
	}
}
