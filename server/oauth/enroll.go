package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/store"
)

// EnrollRequest is the body of POST /api/v1/agents/enroll.
type EnrollRequest struct {
	Code string `json:"code"`
}

// EnrollResponse is the agent credential the code was traded for; the secret is shown
// this once and kept by the server only as a hash.
type EnrollResponse struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Room         string `json:"room"`
	// TokenPath is the token endpoint, relative to the server's URL.
	TokenPath string `json:"token_path"`
}

// ParseEnrollRequest decodes an enrollment request strictly: one JSON object with a
// well-formed code and nothing else.
func ParseEnrollRequest(b []byte) (EnrollRequest, error) {
	var req EnrollRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return EnrollRequest{}, fmt.Errorf("want {\"code\": \"aula_…\"}: %w", err)
	}
	if dec.More() {
		return EnrollRequest{}, errors.New("want one JSON object")
	}
	if _, ok := auth.ParseToken(req.Code); !ok {
		return EnrollRequest{}, errors.New("the code is not an Aula enrollment code (aula_ and 43 characters)")
	}
	return req, nil
}

// enroll trades a one-time enrollment code for an agent credential.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		problem.Write(w, r, http.StatusRequestEntityTooLarge, "too-large", "An enrollment request is a small JSON object.")
		return
	}
	req, err := ParseEnrollRequest(b)
	if err != nil {
		problem.Write(w, r, http.StatusBadRequest, "bad-request", "Bad enrollment request: "+err.Error()+".")
		return
	}
	secret, secretHash, err := auth.NewToken()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now()
	c, err := s.opts.Store.RedeemEnrollment(r.Context(), auth.HashToken(req.Code), secretHash, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		problem.Write(w, r, http.StatusForbidden, "enrollment-code", "This enrollment code is unknown. Ask an administrator for a new one.")
		return
	case errors.Is(err, store.ErrUsed):
		problem.Write(w, r, http.StatusForbidden, "enrollment-code", "This enrollment code was used already: each code enrolls one agent. Ask an administrator for a new one.")
		return
	case errors.Is(err, store.ErrExpired):
		problem.Write(w, r, http.StatusForbidden, "enrollment-code", "This enrollment code has expired. Ask an administrator for a new one.")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if _, err := s.opts.Store.AppendAudit(r.Context(), store.AuditEvent{TenantID: c.TenantID, At: now, Action: "agent.enrolled",
		Actor: c.ID, IP: auth.ClientIP(r), Detail: "room " + c.Room}); err != nil {
		s.opts.Log.Error("audit agent enrollment", "client", c.ID, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(EnrollResponse{ClientID: c.ID, ClientSecret: secret, Room: c.Room, TokenPath: TokenPath})
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.opts.Log.Error("enroll agent", "err", err)
	problem.Write(w, r, http.StatusInternalServerError, "internal", "The server could not finish the enrollment. Try again in a moment.")
}
