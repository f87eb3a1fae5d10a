package sso

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Issuer: "https://idp.uni.example/realms/main", ClientID: "aula", ClientSecret: "s", GroupClaim: "groups", EmailDomain: "@Uni.Example"}.Normalized()
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if good.EmailDomain != "uni.example" || !slices.Equal(good.Scopes, []string{"openid", "email", "profile"}) {
		t.Errorf("normalized %+v", good)
	}
	if c := (Config{Issuer: "https://x.example", ClientID: "a", Scopes: []string{"email groups"}}).Normalized(); !slices.Equal(c.Scopes, []string{"openid", "email", "groups"}) {
		t.Errorf("scopes %q: openid must be added", c.Scopes)
	}
	if err := (Config{Issuer: "http://127.0.0.1:9998", ClientID: "a"}).Normalized().Validate(); err != nil {
		t.Errorf("http on loopback: %v", err)
	}
	for field, c := range map[string]Config{
		"issuer":        {ClientID: "a"},
		"issuer ":       {Issuer: "http://idp.uni.example", ClientID: "a"},
		"issuer  ":      {Issuer: "https://idp.uni.example?x=1", ClientID: "a"},
		"issuer   ":     {Issuer: "ftp://idp.uni.example", ClientID: "a"},
		"issuer    ":    {Issuer: "idp.uni.example", ClientID: "a"},
		"client_id":     {Issuer: "https://idp.uni.example"},
		"group_claim":   {Issuer: "https://idp.uni.example", ClientID: "a", GroupClaim: "gr oups"},
		"email_domain":  {Issuer: "https://idp.uni.example", ClientID: "a", EmailDomain: "uni"},
		"scopes":        {Issuer: "https://idp.uni.example", ClientID: "a", Scopes: []string{"openid", "bad\"scope"}},
		"client_secret": {Issuer: "https://idp.uni.example", ClientID: "a", ClientSecret: strings.Repeat("x", 5000)},
	} {
		err := c.Normalized().Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), strings.TrimSpace(field)+":") {
			t.Errorf("%s: err = %v, want ErrConfig naming the field", field, err)
		}
	}
}

func TestGroupNames(t *testing.T) {
	for _, c := range []struct {
		in   any
		want []string
		bad  bool
	}{
		{nil, nil, false},
		{"staff", []string{"staff"}, false},
		{[]any{"b", "a", "b", " ", "c "}, []string{"a", "b", "c"}, false},
		{[]any{"a", 3.0}, nil, true},
		{map[string]any{"a": 1}, nil, true},
		{[]any{strings.Repeat("x", 201)}, nil, true},
		{make([]any, 201), nil, true},
	} {
		got, err := groupNames(c.in)
		if (err != nil) != c.bad || !slices.Equal(got, c.want) {
			t.Errorf("groupNames(%v) = %q, %v", c.in, got, err)
		}
	}
}

func TestSafeCode(t *testing.T) {
	for in, want := range map[string]string{"access_denied": "access_denied", "<script>": "an error", "": "", strings.Repeat("a", 65): "an error"} {
		if got := safeCode(in); got != want {
			t.Errorf("safeCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzGroupClaim feeds the group claim parser any JSON a provider could send.
func FuzzGroupClaim(f *testing.F) {
	f.Add(`["staff","physics"]`)
	f.Add(`"staff"`)
	f.Add(`[1,2]`)
	f.Add(`{"a":1}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var v any
		if json.Unmarshal([]byte(raw), &v) != nil {
			return
		}
		got, err := groupNames(v)
		if err != nil {
			return
		}
		if len(got) > maxGroups || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("groupNames(%s) = %q", raw, got)
		}
		for _, g := range got {
			if g == "" || len(g) > maxGroupName || strings.TrimSpace(g) != g {
				t.Fatalf("groupNames(%s) has %q", raw, g)
			}
		}
	})
}
