package server

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzAPIBodies: whatever JSON body a caller sends to the API's writing routes, the
// answer is a clear 2xx or 4xx, never a 500 or a panic.
func FuzzAPIBodies(f *testing.F) {
	cfg := Default()
	cfg.Data = f.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = "sqlite:" + filepath.Join(cfg.Data, "aula.db")
	s, err := Open(context.Background(), cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	var w *world
	f.Add(0, `{"name":"Seminars"}`)
	f.Add(1, `{"title":"x","folder":""}`)
	f.Add(2, `{"email":"nobody@uni.example","role":"viewer"}`)
	f.Add(3, `{"name":"`+strings.Repeat("é", 300)+`"}`)
	f.Add(2, `{"group":"x","user":"y","role":"admin"}`)
	f.Add(0, `{"parent":"nope","name":"a"}`)
	f.Add(1, `[]`)
	f.Add(0, `{"name":"a","extra":1}`)
	h := s.routes()
	f.Fuzz(func(t *testing.T, route int, body string) {
		if w == nil {
			w = newWorld(t, s)
		}
		manager := w.token["tenant-admin"]
		var method, path string
		switch route % 4 {
		case 0:
			method, path = "POST", "/api/v1/folders"
		case 1:
			method, path = "PATCH", "/api/v1/recordings/"+w.rec[0]["other"]
		case 2:
			method, path = "POST", "/api/v1/folders/"+w.folder[0]["other"]+"/grants"
		default:
			method, path = "PATCH", "/api/v1/folders/"+w.folder[0]["other"]
		}
		r := httptest.NewRequest(method, "https://127.0.0.1"+path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+manager)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body.String())
		}
	})
}
