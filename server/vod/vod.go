// Package vod plays stored recordings back: HLS playlists made from the stored
// segments (EVENT while a recording is still arriving, VOD once it is complete) and the
// segments themselves, opened in memory. Every URL carries a signed, short-lived token
// bound to one viewer and one recording, and is served only to that viewer's session.
package vod

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/aulacapture/aula/internal/hls"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/blob"
	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/store"
)

// ErrToken reports a playback token that is forged, expired or for something else.
var ErrToken = errors.New("playback link not valid")

// Signer makes and checks playback tokens: HMAC-SHA256 over tenant, viewer, recording
// and expiry.
type Signer struct {
	// Key is the HMAC key (32 random bytes).
	Key []byte
	// TTL is how long a token is valid.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

type claims struct {
	Tenant    string `json:"t"`
	Viewer    string `json:"v"`
	Recording string `json:"r"`
	Expires   int64  `json:"e"`
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Token signs a playback token for viewer to watch recording of tenant.
func (s *Signer) Token(tenant, viewer, recording string) string {
	c := claims{tenant, viewer, recording, s.now().Add(s.TTL).Unix()}
	payload, _ := json.Marshal(c)
	mac := hmac.New(sha256.New, s.Key)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks a token for recording and returns its tenant and viewer.
func (s *Signer) Verify(token, recording string) (tenant, viewer string, err error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 512 {
		return "", "", ErrToken
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return "", "", ErrToken
	}
	mac := hmac.New(sha256.New, s.Key)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return "", "", ErrToken
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", "", ErrToken
	}
	if c.Recording != recording || s.now().Unix() >= c.Expires {
		return "", "", ErrToken
	}
	return c.Tenant, c.Viewer, nil
}

// Metadata is what playback reads of the metadata store; *store.Store is one.
type Metadata interface {
	Recording(ctx context.Context, tenantID, id string) (store.Recording, error)
	Manifest(ctx context.Context, tenantID, id string) (*manifest.Manifest, error)
}

// Keys opens what agents sealed to a tenant.
type Keys interface {
	Identity(ctx context.Context, tenantID string) (*age.X25519Identity, error)
}

// Handler serves /play/{token}/{recording}/...
type Handler struct {
	Meta     Metadata
	Blobs    blob.Store
	Keys     Keys
	Sessions *auth.Sessions
	Signer   *Signer
	Log      *slog.Logger
	// MaxSegment caps a stored segment read back.
	MaxSegment int64
}

// Playback URLs carry their own signed, expiring token (issued by the player page,
// which needs view on the recording), so the routes are public to the router.
func init() {
	for _, p := range []string{"GET /play/{token}/{rec}/index.m3u8", "GET /play/{token}/{rec}/{track}/index.m3u8",
		"GET /play/{token}/{rec}/{track}/{file}"} {
		authz.Define(p, authz.Public)
	}
}

// Register adds the playback routes to mux.
func (h *Handler) Register(mux authz.Mux) {
	mux.HandleFunc("GET /play/{token}/{rec}/index.m3u8", h.master)
	mux.HandleFunc("GET /play/{token}/{rec}/{track}/index.m3u8", h.media)
	mux.HandleFunc("GET /play/{token}/{rec}/{track}/{file}", h.segment)
}

// URL is the master playlist's path for a viewer's token.
func URL(token, recording string) string { return "/play/" + token + "/" + recording + "/index.m3u8" }

// TrackURL is a track's media playlist path.
func TrackURL(token, recording, track string) string {
	return "/play/" + token + "/" + recording + "/" + track + "/index.m3u8"
}

// viewer checks the token and that the signed-in viewer is the one it was made for.
func (h *Handler) viewer(w http.ResponseWriter, r *http.Request) (tenant string, rec store.Recording, ok bool) {
	recID := r.PathValue("rec")
	tenant, viewer, err := h.Signer.Verify(r.PathValue("token"), recID)
	if err != nil {
		problem.Write(w, r, http.StatusForbidden, "playback-token", "This playback link is not valid or has expired; reload the player page.")
		return "", rec, false
	}
	p, err := h.Sessions.Get(r.Context(), r)
	if err != nil || p.UserID != viewer || p.TenantID != tenant {
		problem.Write(w, r, http.StatusForbidden, "playback-viewer", "This playback link belongs to another viewer; sign in and open the recording yourself.")
		return "", rec, false
	}
	rec, err = h.Meta.Recording(r.Context(), tenant, recID)
	if err != nil {
		h.fail(w, r, err)
		return "", rec, false
	}
	return tenant, rec, true
}

// playableOf is the part of a recording that can play: tracks with an init segment, each
// up to its first missing segment (a later one waits for the gap to fill).
func (h *Handler) playableOf(ctx context.Context, tenant string, rec store.Recording) (*manifest.Manifest, error) {
	all, err := h.Meta.Manifest(ctx, tenant, rec.ID)
	if err != nil {
		return nil, err
	}
	m := *all
	m.Tracks = nil
	for _, t := range all.Tracks {
		if t.InitDigest == "" {
			continue
		}
		n := 0
		for n < len(t.Segments) && t.Segments[n].Seq == n+1 {
			n++
		}
		if n > 0 {
			t.Segments = t.Segments[:n]
			m.Tracks = append(m.Tracks, t)
		}
	}
	return &m, nil
}

// playable checks the viewer and gives the recording with what of it can play.
func (h *Handler) playable(w http.ResponseWriter, r *http.Request) (store.Recording, *manifest.Manifest, bool) {
	tenant, rec, ok := h.viewer(w, r)
	if !ok {
		return rec, nil, false
	}
	m, err := h.playableOf(r.Context(), tenant, rec)
	if err != nil {
		h.fail(w, r, err)
		return rec, nil, false
	}
	return rec, m, true
}

func (h *Handler) master(w http.ResponseWriter, r *http.Request) {
	_, m, ok := h.playable(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	if err := hls.WriteMaster(&b, m, hls.FileURLs()); err != nil {
		h.fail(w, r, err)
		return
	}
	writePlaylist(w, b.Bytes())
}

func (h *Handler) media(w http.ResponseWriter, r *http.Request) {
	rec, m, ok := h.playable(w, r)
	if !ok {
		return
	}
	for _, t := range m.Tracks {
		if t.ID == r.PathValue("track") {
			var b bytes.Buffer
			if err := hls.WriteMedia(&b, t, rec.CompletedAt != nil, 3*time.Second, hls.FileURLs()); err != nil {
				h.fail(w, r, err)
				return
			}
			writePlaylist(w, b.Bytes())
			return
		}
	}
	h.fail(w, r, store.ErrNotFound)
}

func writePlaylist(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "private, no-store")
	_, _ = w.Write(b)
}

func (h *Handler) segment(w http.ResponseWriter, r *http.Request) {
	tenant, rec, ok := h.viewer(w, r)
	if !ok {
		return
	}
	track, file := r.PathValue("track"), r.PathValue("file")
	var key blob.Key
	var err error
	if file == "init.mp4" {
		key, err = blob.InitKey(tenant, rec.ID, track)
	} else {
		name, found := strings.CutSuffix(file, ".m4s")
		seq, perr := strconv.Atoi(name)
		if !found || perr != nil || hls.SegmentName(seq) != file {
			h.fail(w, r, store.ErrNotFound)
			return
		}
		key, err = blob.SegmentKey(tenant, rec.ID, track, seq)
	}
	if err != nil {
		h.fail(w, r, store.ErrNotFound)
		return
	}
	plain, err := h.open(r.Context(), tenant, key)
	if errors.Is(err, errKeyDeleted) {
		problem.Write(w, r, http.StatusGone, "key-deleted", "This tenant's key was deleted, so its recordings can no longer be played.")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Header().Set("Content-Length", strconv.Itoa(len(plain)))
	_, _ = w.Write(plain)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, blob.ErrNotFound) {
		problem.Write(w, r, http.StatusNotFound, "not-found", "No such recording, track or segment.")
		return
	}
	if h.Log != nil {
		// The path holds the viewer's token: log the recording, not the path.
		h.Log.Error("playback failed", "recording", r.PathValue("rec"), "track", r.PathValue("track"), "err", err)
	}
	problem.Write(w, r, http.StatusInternalServerError, "internal", "The server could not play this; it has been logged.")
}

var errKeyDeleted = errors.New("tenant key deleted")

// open reads a stored (sealed) segment and opens it in memory with the tenant's key.
func (h *Handler) open(ctx context.Context, tenant string, key blob.Key) ([]byte, error) {
	rc, err := h.Blobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	sealed, err := io.ReadAll(io.LimitReader(rc, h.MaxSegment+1))
	rc.Close()
	if err != nil {
		return nil, err
	}
	id, err := h.Keys.Identity(ctx, tenant)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errKeyDeleted
	}
	if err != nil {
		return nil, err
	}
	plain, err := seal.Open(sealed, int(h.MaxSegment)*2, id)
	if err != nil {
		return nil, fmt.Errorf("open stored segment %s: %w", key, err)
	}
	return plain, nil
}

// Download writes one track of rec as a fragmented MP4 file (its init segment and every
// contiguous media segment, opened in memory), for those who may download it.
func (h *Handler) Download(w http.ResponseWriter, r *http.Request, rec store.Recording, trackID string) {
	m, err := h.playableOf(r.Context(), rec.TenantID, rec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, t := range m.Tracks {
		if t.ID != trackID {
			continue
		}
		keys := []blob.Key{}
		k, err := blob.InitKey(rec.TenantID, rec.ID, t.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		keys = append(keys, k)
		for _, seg := range t.Segments {
			k, err := blob.SegmentKey(rec.TenantID, rec.ID, t.ID, seg.Seq)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			keys = append(keys, k)
		}
		for i, k := range keys {
			plain, err := h.open(r.Context(), rec.TenantID, k)
			if errors.Is(err, errKeyDeleted) && i == 0 {
				problem.Write(w, r, http.StatusGone, "key-deleted", "This tenant's key was deleted, so its recordings can no longer be read.")
				return
			}
			if err != nil && i == 0 {
				h.fail(w, r, err)
				return
			}
			if err != nil {
				// The answer has begun: cut it short, so the client sees a broken download.
				if h.Log != nil {
					h.Log.Error("download failed", "recording", rec.ID, "track", t.ID, "err", err)
				}
				panic(http.ErrAbortHandler)
			}
			if i == 0 {
				w.Header().Set("Content-Type", "video/mp4")
				w.Header().Set("Cache-Control", "private, no-store")
				w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", rec.ID+"-"+t.ID+".mp4"))
			}
			if _, err := w.Write(plain); err != nil {
				return
			}
		}
		return
	}
	h.fail(w, r, store.ErrNotFound)
}
