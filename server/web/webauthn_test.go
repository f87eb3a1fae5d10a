package web

import (
	"strings"
	"testing"
)

func TestParseRegistration(t *testing.T) {
	reg, err := parseRegistration([]byte(`{"name":"key","credential":{"id":"x"}}`))
	if err != nil || reg.Name != "key" || string(reg.Credential) != `{"id":"x"}` {
		t.Errorf("parseRegistration = %+v, %v", reg, err)
	}
	for _, bad := range []string{``, `{}`, `{"name":"k"}`, `{"name":"k","credential":{},"extra":1}`, `{"credential":{}} {}`,
		`{"name":1,"credential":{}}`, `[]`, `{"credential":null}`} {
		if _, err := parseRegistration([]byte(bad)); err == nil {
			t.Errorf("parseRegistration(%q) accepted", bad)
		}
	}
}

// FuzzParseRegistration feeds the set-up page's registration parser arbitrary bytes.
func FuzzParseRegistration(f *testing.F) {
	f.Add([]byte(`{"name":"key","credential":{"id":"x"}}`))
	f.Add([]byte(`{"name":"` + strings.Repeat("é", 100) + `","credential":{"response":[1,2]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		reg, err := parseRegistration(body)
		if err == nil && (len(reg.Credential) == 0 || reg.Credential[0] != '{') {
			t.Errorf("accepted %q without a credential", body)
		}
	})
}
