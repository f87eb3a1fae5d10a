// Package problem writes HTTP API errors as RFC 9457 problem details
// (application/problem+json), the one error shape every Aula API answers with.
package problem

import (
	"encoding/json"
	"net/http"
)

// Details is an RFC 9457 problem object.
type Details struct {
	// Type is a URI naming the kind of problem; "about:blank" when the status says it all.
	Type string `json:"type"`
	// Title is a short summary of the kind of problem.
	Title string `json:"title"`
	// Status repeats the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence in a sentence a person can act on.
	Detail string `json:"detail,omitempty"`
	// Instance is the request path.
	Instance string `json:"instance,omitempty"`
}

// TypeBase prefixes Aula's problem type URIs.
const TypeBase = "https://aula.invalid/problems/"

// Write sends a problem with the given status, type slug (appended to TypeBase, or
// "about:blank" when empty) and detail.
func Write(w http.ResponseWriter, r *http.Request, status int, slug, detail string) {
	typ := "about:blank"
	if slug != "" {
		typ = TypeBase + slug
	}
	d := Details{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
	if r != nil {
		d.Instance = r.URL.Path
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(d)
}
