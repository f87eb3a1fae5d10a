// Package ingest is the agent-facing half of the server's API: recordings announced by
// their manifest, sealed init and media segments uploaded one by one, resumed from the
// server's manifest and completed. Every upload is idempotent and checked — digest,
// decryption, CMAF structure and codec — before anything is committed.
package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/blob"
	"github.com/aulacapture/aula/server/media"
	"github.com/aulacapture/aula/server/problem"
	"github.com/aulacapture/aula/server/store"
)

// Metadata is what ingest needs of the metadata store; *store.Store is one.
type Metadata interface {
	auth.Tokens
	Tenant(ctx context.Context, id string) (store.Tenant, error)
	PutRecording(ctx context.Context, r store.Recording) (bool, error)
	Recording(ctx context.Context, tenantID, id string) (store.Recording, error)
	SetTrackInit(ctx context.Context, tenantID, recID, trackID, digest, key string) error
	PutSegment(ctx context.Context, tenantID, recID, trackID string, seg store.Segment) (bool, error)
	Segments(ctx context.Context, tenantID, recID, trackID string) ([]store.Segment, error)
	Segment(ctx context.Context, tenantID, recID, trackID string, seq int) (store.Segment, error)
	Manifest(ctx context.Context, tenantID, id string) (*manifest.Manifest, error)
	CompleteRecording(ctx context.Context, tenantID, id string, duration float64, at time.Time) error
}

// SegmentExclusive records a segment under a lock that every server sharing the
// database honours; *store.Store is one.
type SegmentExclusive interface {
	SharedDatabase() bool
	PutSegmentExclusive(ctx context.Context, tenantID, recID, trackID string, seg store.Segment, write func() error) (bool, *store.Segment, error)
}

// Keys gives a tenant's age identity, to open what agents sealed to it.
type Keys interface {
	Identity(ctx context.Context, tenantID string) (*age.X25519Identity, error)
}

// Limits bound what one request may carry.
type Limits struct {
	// MaxSegment is the largest sealed segment accepted, in bytes.
	MaxSegment int64
	// MaxManifest is the largest manifest accepted, in bytes.
	MaxManifest int64
	// MaxSeq is the highest segment number accepted.
	MaxSeq int
}

// DefaultLimits fit a 4K screen at a high bit rate in 2 s segments, with room to spare,
// and a day of segments.
func DefaultLimits() Limits {
	return Limits{MaxSegment: 64 << 20, MaxManifest: manifest.MaxSize, MaxSeq: 9_999_999}
}

// Handler serves the ingest API.
type Handler struct {
	Meta   Metadata
	Blobs  blob.Store
	Keys   Keys
	Log    *slog.Logger
	Limits Limits
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, when set, is told of each segment accepted (bytes, seconds spent).
	Observe func(bytes int64, took time.Duration)
	// OnInternalError, when set, is told of each failure that was the server's own
	// (store or blob errors), for the metrics.
	OnInternalError func(err error)

	mu    sync.Mutex
	inits map[string]media.Init // by tenant/recording/track
	bufs  sync.Pool             // *[]byte, for upload bodies and their plaintext
	rows  rowBatcher
	// seqLocks serialise uploads of one segment number (hashed into stripes), so two
	// concurrent uploads of it with different bytes cannot both pass the conflict check
	// and leave the stored object and the recorded digest disagreeing.
	seqLocks [256]sync.Mutex
}

// seqLock returns the lock of one segment's number.
func (h *Handler) seqLock(tenant, rec, track string, seq int) *sync.Mutex {
	f := fnv.New32a()
	fmt.Fprintf(f, "%s/%s/%s/%d", tenant, rec, track, seq)
	return &h.seqLocks[f.Sum32()%uint32(len(h.seqLocks))]
}

// The ingest routes' rules (server/authz): upload in the recording's folder.
func init() {
	authz.Define("GET /api/v1/tenant/recipient", authz.On(authz.ActUpload, authz.ObjectAnyFolder))
	authz.Define("PUT /api/v1/recordings/{id}", authz.On(authz.ActUpload, authz.ObjectNewRecording))
	for _, p := range []string{"GET /api/v1/recordings/{id}/manifest", "PUT /api/v1/recordings/{id}/tracks/{track}/init",
		"PUT /api/v1/recordings/{id}/tracks/{track}/segments/{seq}", "POST /api/v1/recordings/{id}/complete"} {
		authz.Define(p, authz.On(authz.ActUpload, authz.ObjectRecording))
	}
}

// Register adds the ingest routes to mux under /api/v1.
func (h *Handler) Register(mux authz.Mux) {
	mux.HandleFunc("GET /api/v1/tenant/recipient", h.auth("", h.recipient))
	mux.HandleFunc("PUT /api/v1/recordings/{id}", h.auth(auth.ScopeIngest, h.putRecording))
	mux.HandleFunc("GET /api/v1/recordings/{id}/manifest", h.auth("", h.getManifest))
	mux.HandleFunc("PUT /api/v1/recordings/{id}/tracks/{track}/init", h.auth(auth.ScopeIngest, h.putInit))
	mux.HandleFunc("PUT /api/v1/recordings/{id}/tracks/{track}/segments/{seq}", h.auth(auth.ScopeIngest, h.putSegment))
	mux.HandleFunc("POST /api/v1/recordings/{id}/complete", h.auth(auth.ScopeIngest, h.complete))
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal)

// auth takes the caller the server's router authorized (server/authz), or, where the
// handler is served without one (its own tests), authenticates the bearer token; then it
// checks scope ("" lets any valid token in).
func (h *Handler) auth(scope string, next handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, guarded := authz.PrincipalFrom(r.Context())
		var err error
		if !guarded {
			p, err = auth.Bearer(r.Context(), h.Meta, r, h.now())
		}
		if err != nil {
			if !errors.Is(err, auth.ErrNoCredentials) && !errors.Is(err, auth.ErrBadToken) && !errors.Is(err, auth.ErrExpired) {
				h.fail(w, r, err)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="aula"`)
			problem.Write(w, r, http.StatusUnauthorized, "unauthenticated", "Send a valid, unexpired API token as Authorization: Bearer TOKEN.")
			return
		}
		if scope != "" && !p.Allows(scope) {
			problem.Write(w, r, http.StatusForbidden, "scope", "This token lacks the "+scope+" scope.")
			return
		}
		next(w, r, p)
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) recipient(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	t, err := h.Meta.Tenant(r.Context(), p.TenantID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"recipient": t.Recipient})
}

// recordingID validates the {id} path value.
func recordingID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !manifest.ValidID(id) {
		return "", fmt.Errorf("%w: recording id %q is not a lowercase UUIDv7", errBadRequest, id)
	}
	return id, nil
}

var (
	errBadRequest = errors.New("bad request")
	errMismatch   = errors.New("digest mismatch")
	errInvalid    = errors.New("unprocessable")
	errTooLarge   = errors.New("too large")
	errMissing    = errors.New("missing segments")
)

func (h *Handler) putRecording(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, m, err := h.manifestBody(w, r, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rec := store.Recording{TenantID: p.TenantID, ID: id, Title: m.Title, State: string(m.State), StartedAt: m.StartedAt,
		CreatedBy: creator(p)}
	// The router decided which folder a new recording may go into; the store ignores
	// the folder of a recording it already has.
	if f, ok := authz.TargetFolder(r.Context()); ok {
		rec.FolderID = f
	}
	// Lectures are published as they arrive, so viewers can watch while the upload
	// goes on; a publisher may take one down (and put it back).
	now := h.now()
	rec.PublishedAt = &now
	for _, t := range m.Tracks {
		rec.Tracks = append(rec.Tracks, store.Track{ID: t.ID, Kind: string(t.Kind), Codec: t.Codec, Width: t.Width, Height: t.Height, Bandwidth: t.Bandwidth})
	}
	created, err := h.Meta.PutRecording(r.Context(), rec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/recordings/"+id)
	}
	writeJSON(w, status, map[string]any{"id": id, "created": created})
}

// creator is the CreatedBy of a recording p makes.
func creator(p auth.Principal) string {
	if p.UserID == "" && p.ClientID != "" {
		return authz.AgentCreator(p.ClientID)
	}
	return authz.UserCreator(p.UserID)
}

// SealedManifestType is the Content-Type of a manifest sealed to the tenant's recipient,
// which is how an agent's spool holds it: the agent cannot read its own titles, the
// server opens the manifest in memory with the tenant's identity.
const SealedManifestType = "application/age"

// manifestBody reads the {id} of the path and the manifest in the body (JSON, or sealed
// when the Content-Type is SealedManifestType), strictly, and checks that both name the
// same recording.
func (h *Handler) manifestBody(w http.ResponseWriter, r *http.Request, p auth.Principal) (string, *manifest.Manifest, error) {
	id, err := recordingID(r)
	if err != nil {
		return "", nil, err
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, h.Limits.MaxManifest)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == SealedManifestType {
		// age adds about 200 bytes a recipient and 16 bytes a 64 KiB chunk.
		limit := h.Limits.MaxManifest + h.Limits.MaxManifest/(64<<10)*16 + 4096
		sealed, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return "", nil, fmt.Errorf("%w: sealed manifest over %d bytes", errTooLarge, limit)
		case err != nil:
			return "", nil, fmt.Errorf("%w: body ended early: %w", errBadRequest, err)
		}
		ident, err := h.Keys.Identity(r.Context(), p.TenantID)
		if err != nil {
			return "", nil, err
		}
		plain, err := seal.Open(sealed, int(h.Limits.MaxManifest), ident)
		if err != nil {
			return "", nil, fmt.Errorf("%w: manifest not sealed to this tenant's recipient, or over %d bytes: %w", errInvalid, h.Limits.MaxManifest, err)
		}
		body = bytes.NewReader(plain)
	}
	m, err := manifest.Decode(body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return "", nil, fmt.Errorf("%w: manifest over %d bytes", errTooLarge, h.Limits.MaxManifest)
	case err != nil:
		return "", nil, fmt.Errorf("%w: %w", errBadRequest, err)
	case m.ID != id:
		return "", nil, fmt.Errorf("%w: manifest id %q differs from the URL's %q", errBadRequest, m.ID, id)
	}
	return id, m, nil
}

// sealedBody is an upload as readSealed gives it: the sealed bytes as they arrived,
// their digest and the plaintext. Its buffers come from the handler's pool; release gives
// them back once nothing refers to them any more.
type sealedBody struct {
	sealed []byte
	want   []byte   // the Content-Digest's SHA-256
	sum    [32]byte // the body's SHA-256, once read
	digest string   // RFC 9530 form, as the answer gives it; set once checked
	plain  []byte
	bufs   [2]*[]byte
}

// maxPooled is the largest buffer the pool keeps: a 4K screen's segment at a high bit
// rate fits; a rarer larger one is allocated and dropped.
const maxPooled = 8 << 20

// minPooled is the smallest buffer allocated for the pool, so that the buffer of a small
// upload (an init segment) can serve a media segment next.
const minPooled = 1 << 20

// buffer gives a pooled buffer of at least n bytes' capacity, length 0.
func (h *Handler) buffer(n int) *[]byte {
	if n <= maxPooled {
		// A pooled buffer too small for n is dropped, not put back: the pool would
		// give it out first again, and every upload would allocate anew.
		if bp, _ := h.bufs.Get().(*[]byte); bp != nil && cap(*bp) >= n {
			*bp = (*bp)[:0]
			return bp
		}
	}
	// Round up, so that segments a little larger than the last ones still fit.
	b := make([]byte, 0, (max(n, minPooled)+64<<10-1)&^(64<<10-1))
	return &b
}

// release gives the body's buffers back to the pool.
func (h *Handler) release(b *sealedBody) {
	for i, bp := range b.bufs {
		if bp != nil && cap(*bp) <= maxPooled {
			h.bufs.Put(bp)
		}
		b.bufs[i] = nil
	}
	b.sealed, b.plain = nil, nil
}

// readSealed reads a sealed upload whole (bounded), checks its Content-Digest and opens
// it with the tenant's identity. The caller releases what it returns.
func (h *Handler) readSealed(w http.ResponseWriter, r *http.Request, p auth.Principal) (*sealedBody, error) {
	b, err := h.newBody(r)
	if err != nil {
		return nil, err
	}
	if err := h.fill(w, r, b, nil); err != nil {
		h.release(b)
		return nil, err
	}
	if err := h.open(r.Context(), p, b); err != nil {
		h.release(b)
		return nil, err
	}
	return b, nil
}

// newBody looks at a sealed upload's Content-Digest and Content-Length and makes ready
// the buffer that fill reads the body into (for a known length). The caller releases
// what it returns.
func (h *Handler) newBody(r *http.Request) (*sealedBody, error) {
	want, err := manifest.ParseContentDigest(r.Header.Get("Content-Digest"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	if r.ContentLength > h.Limits.MaxSegment {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", errTooLarge, r.ContentLength, h.Limits.MaxSegment)
	}
	b := &sealedBody{want: want}
	if r.ContentLength >= 0 {
		// The server holds the body to its Content-Length: it goes into a buffer of
		// that size, which is all there is.
		b.bufs[0] = h.buffer(int(r.ContentLength))
		b.sealed = (*b.bufs[0])[:r.ContentLength]
	}
	return b, nil
}

// fill reads the body whole (bounded) into b and takes its SHA-256 on the way. When
// arrived is not nil (only for a body of known length), it is told of every piece that
// has come, and of the end.
func (h *Handler) fill(w http.ResponseWriter, r *http.Request, b *sealedBody, arrived *bodyStream) (err error) {
	body := http.MaxBytesReader(w, r.Body, h.Limits.MaxSegment)
	if b.sealed == nil {
		b.bufs[0] = h.buffer(1 << 20)
		b.sealed, err = readAll(body, b.bufs[0])
		b.sum = sha256.Sum256(b.sealed)
	} else {
		hash := sha256.New()
		for n := 0; n < len(b.sealed) && err == nil; {
			var m int
			m, err = body.Read(b.sealed[n:])
			if m > 0 {
				// Hashing here uses the time the rest of the body is on its way.
				hash.Write(b.sealed[n : n+m])
				n += m
				arrived.add(m)
			}
			if err == io.EOF && n < len(b.sealed) {
				err = io.ErrUnexpectedEOF
			} else if err == io.EOF {
				err = nil
			}
		}
		hash.Sum(b.sum[:0])
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		err = fmt.Errorf("%w: the limit is %d bytes", errTooLarge, h.Limits.MaxSegment)
	case err != nil:
		err = fmt.Errorf("%w: body ended early: %w", errBadRequest, err)
	}
	arrived.end(err)
	return err
}

// open checks the body against its Content-Digest and opens it with the tenant's
// identity, setting b.digest and b.plain.
func (h *Handler) open(ctx context.Context, p auth.Principal, b *sealedBody) error {
	if !bytes.Equal(b.sum[:], b.want) {
		return fmt.Errorf("%w: the body's sha-256 is not the Content-Digest's", errMismatch)
	}
	// The header's digest is the body's now: give it back in our own spelling.
	b.digest = "sha-256=:" + base64.StdEncoding.EncodeToString(b.sum[:]) + ":"
	id, err := h.Keys.Identity(ctx, p.TenantID)
	if err != nil {
		return err
	}
	// The plaintext is shorter than the sealed bytes.
	b.bufs[1] = h.buffer(len(b.sealed))
	b.plain, err = seal.AppendOpen(*b.bufs[1], b.sealed, int(h.Limits.MaxSegment)*2, id)
	if err != nil {
		return fmt.Errorf("%w: not sealed to this tenant's recipient: %w", errInvalid, err)
	}
	return nil
}

// bodyStream lets a reader follow a body while fill reads it into its buffer: the blob
// store writes the object as its bytes arrive.
type bodyStream struct {
	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	filled int   // bytes of buf that have arrived
	told   int   // filled when the reader was last woken
	ended  bool  // fill is done
	err    error // fill's failure
}

// newBodyStream follows the body that fill reads into buf.
func newBodyStream(buf []byte) *bodyStream {
	s := &bodyStream{buf: buf}
	s.cond.L = &s.mu
	return s
}

// add notes n more bytes; a nil stream ignores it.
func (s *bodyStream) add(n int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.filled += n
	// The reader waits for a batch at a time: wake it once per batch, not per piece.
	if s.filled-s.told >= streamBatch || s.filled == len(s.buf) {
		s.told = s.filled
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}

// end notes that the body is all there (err nil) or failed; a nil stream ignores it.
func (s *bodyStream) end(err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.ended, s.err = true, err
	s.cond.Broadcast()
	s.mu.Unlock()
}

// streamBatch is how much a bodyStream's reader waits for before it reads: the blob
// store writes in pieces of about this size.
const streamBatch = 256 << 10

// reader gives the body's bytes as they arrive, and the body's failure if it fails.
func (s *bodyStream) reader() io.Reader { return &arrivedReader{s: s} }

type arrivedReader struct {
	s   *bodyStream
	off int
}

func (r *arrivedReader) Read(p []byte) (int, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.ended && s.filled-r.off < min(len(p), streamBatch) {
		s.cond.Wait()
	}
	if s.err != nil {
		return 0, s.err
	}
	if r.off == s.filled {
		return 0, io.EOF
	}
	n := copy(p, s.buf[r.off:s.filled])
	r.off += n
	return n, nil
}

// readAll reads r to its end into *bp, growing it as need be, and returns what it read.
func readAll(r io.Reader, bp *[]byte) ([]byte, error) {
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(cap(buf), 64<<10))
			*bp = buf
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// track finds the recording's track named in the path.
func (h *Handler) track(r *http.Request, p auth.Principal) (store.Recording, store.Track, error) {
	id, err := recordingID(r)
	if err != nil {
		return store.Recording{}, store.Track{}, err
	}
	trackID := r.PathValue("track")
	if !manifest.ValidTrackID(trackID) {
		return store.Recording{}, store.Track{}, fmt.Errorf("%w: track id %q: want lowercase letters, digits, _ or -", errBadRequest, trackID)
	}
	// The router's guard read the recording for this request already.
	rec, ok := authz.RecordingFrom(r.Context())
	if !ok || rec.ID != id || rec.TenantID != p.TenantID {
		if rec, err = h.Meta.Recording(r.Context(), p.TenantID, id); err != nil {
			return store.Recording{}, store.Track{}, err
		}
	}
	for _, t := range rec.Tracks {
		if t.ID == trackID {
			return rec, t, nil
		}
	}
	return store.Recording{}, store.Track{}, fmt.Errorf("track %q: %w", trackID, store.ErrNotFound)
}

func (h *Handler) putInit(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	rec, tr, err := h.track(r, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := h.readSealed(w, r, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer h.release(body)
	sealed, digest, plain := body.sealed, body.digest, body.plain
	if tr.InitDigest == digest {
		writeJSON(w, http.StatusOK, map[string]any{"digest": digest, "created": false})
		return
	}
	if tr.InitDigest != "" {
		h.fail(w, r, fmt.Errorf("%w: track %q already has another init segment", store.ErrConflict, tr.ID))
		return
	}
	init, err := media.ParseInit(plain)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: %w", errInvalid, err))
		return
	}
	if err := media.CheckCodec(init, tr.Codec); err != nil {
		h.fail(w, r, fmt.Errorf("%w: %w", errInvalid, err))
		return
	}
	key, err := blob.InitKey(p.TenantID, rec.ID, tr.ID)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: %w", errBadRequest, err))
		return
	}
	if err := h.Blobs.Put(r.Context(), key, bytes.NewReader(sealed), int64(len(sealed))); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.Meta.SetTrackInit(r.Context(), p.TenantID, rec.ID, tr.ID, digest, key.String()); err != nil {
		h.fail(w, r, err)
		return
	}
	h.rememberInit(p.TenantID, rec.ID, tr.ID, init)
	writeJSON(w, http.StatusCreated, map[string]any{"digest": digest, "created": true})
}

func (h *Handler) putSegment(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	start := time.Now()
	rec, tr, err := h.track(r, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	seq, err := strconv.Atoi(r.PathValue("seq"))
	if err != nil || seq < 1 || seq > h.Limits.MaxSeq || strconv.Itoa(seq) != r.PathValue("seq") {
		h.fail(w, r, fmt.Errorf("%w: segment number %q: want 1 to %d", errBadRequest, r.PathValue("seq"), h.Limits.MaxSeq))
		return
	}
	if tr.InitDigest == "" {
		h.fail(w, r, fmt.Errorf("%w: upload track %q's init segment first", store.ErrConflict, tr.ID))
		return
	}
	key, err := blob.SegmentKey(p.TenantID, rec.ID, tr.ID, seq)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: %w", errBadRequest, err))
		return
	}
	body, err := h.newBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer h.release(body)
	// The object is written while the body arrives and is checked; it gets its name
	// only once every check has passed. (The deferred calls run in reverse: the writer is
	// done with the body's buffer before the buffer goes back to the pool.)
	var stage *staging
	defer func() { stage.discard() }()
	var arrived *bodyStream
	if body.sealed != nil {
		arrived = newBodyStream(body.sealed)
		stage = h.stage(r.Context(), key, arrived.reader(), int64(len(body.sealed)))
	}
	if err := h.fill(w, r, body, arrived); err != nil {
		h.fail(w, r, err)
		return
	}
	if arrived == nil {
		stage = h.stage(r.Context(), key, bytes.NewReader(body.sealed), int64(len(body.sealed)))
	}
	if err := h.open(r.Context(), p, body); err != nil {
		h.fail(w, r, err)
		return
	}
	sealed, digest, plain := body.sealed, body.digest, body.plain
	init, err := h.initOf(r.Context(), p, rec.ID, tr)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	frag, err := media.ParseFragment(init, plain)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: %w", errInvalid, err))
		return
	}
	if init.Kind == "video" && !frag.StartsWithKeyframe {
		h.fail(w, r, fmt.Errorf("%w: a video segment must start with a keyframe", errInvalid))
		return
	}
	seg := store.Segment{
		Seq:      seq,
		Start:    float64(frag.BaseTime) / float64(init.Timescale),
		Duration: float64(frag.Duration) / float64(init.Timescale),
		Size:     int64(len(sealed)),
		Digest:   digest,
		Key:      key.String(),
	}
	// A repeat with the same digest is done already; another digest is a conflict. Check
	// before naming the object, so a conflicting upload never replaces stored bytes; the
	// lock holds from the check until the row is committed.
	lock := h.seqLock(p.TenantID, rec.ID, tr.ID, seq)
	lock.Lock()
	defer lock.Unlock()
	conflict := func(existing store.Segment) {
		if existing.Digest != digest {
			h.fail(w, r, fmt.Errorf("%w: segment %d is stored with another digest", store.ErrConflict, seq))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"seq": seq, "digest": digest, "created": false})
	}
	var created bool
	if ex, ok := h.Meta.(SegmentExclusive); ok && ex.SharedDatabase() {
		// Several servers share this database: the database's lock covers the check, the
		// object and the row, whichever server each upload of this number reaches.
		var existing *store.Segment
		created, existing, err = ex.PutSegmentExclusive(r.Context(), p.TenantID, rec.ID, tr.ID, seg, func() error {
			return stage.commit(r.Context(), h.Blobs, key, sealed)
		})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if existing != nil {
			conflict(*existing)
			return
		}
	} else {
		existing, err := h.Meta.Segment(r.Context(), p.TenantID, rec.ID, tr.ID, seq)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			h.fail(w, r, err)
			return
		default:
			conflict(existing)
			return
		}
		if err := stage.commit(r.Context(), h.Blobs, key, sealed); err != nil {
			h.fail(w, r, err)
			return
		}
		if created, err = h.putRow(r.Context(), p.TenantID, rec.ID, tr.ID, seg); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		if h.Observe != nil {
			h.Observe(seg.Size, time.Since(start))
		}
	}
	writeJSON(w, status, map[string]any{"seq": seq, "digest": digest, "created": created})
}

// staging is an object being written by a blob.Stager while its upload is checked.
type staging struct {
	done   chan struct{} // closed when Stage has returned
	staged blob.Staged
	err    error
}

// stage starts writing size bytes of r as key's object, when the blob store can stage
// objects; otherwise it returns nil, and commit puts the object.
func (h *Handler) stage(ctx context.Context, key blob.Key, r io.Reader, size int64) *staging {
	st, ok := h.Blobs.(blob.Stager)
	if !ok {
		return nil
	}
	s := &staging{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.staged, s.err = st.Stage(ctx, key, r, size)
	}()
	return s
}

// commit puts the staged object under its key, or, with nothing staged, puts data there.
func (s *staging) commit(ctx context.Context, blobs blob.Store, key blob.Key, data []byte) error {
	if s == nil {
		return blobs.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
	}
	<-s.done
	if s.err != nil {
		return s.err
	}
	return s.staged.Commit(ctx)
}

// discard waits for the staging to end and drops the object unless it was committed.
func (s *staging) discard() {
	if s == nil {
		return
	}
	<-s.done
	if s.staged != nil {
		s.staged.Discard()
	}
}

// putRow records a segment's row, in a transaction shared with concurrent uploads when
// the metadata store can.
func (h *Handler) putRow(ctx context.Context, tenantID, recID, trackID string, seg store.Segment) (bool, error) {
	sp, ok := h.Meta.(SegmentsPutter)
	if !ok {
		return h.Meta.PutSegment(ctx, tenantID, recID, trackID, seg)
	}
	row := store.SegmentRow{RecordingID: recID, TrackID: trackID, Segment: seg}
	h.rows.put(ctx, sp, tenantID, &row)
	return row.Created, row.Err
}

// initOf gives the parsed init segment of a track, from memory or the blob store.
func (h *Handler) initOf(ctx context.Context, p auth.Principal, recID string, tr store.Track) (media.Init, error) {
	k := p.TenantID + "/" + recID + "/" + tr.ID
	h.mu.Lock()
	init, ok := h.inits[k]
	h.mu.Unlock()
	if ok {
		return init, nil
	}
	key, err := blob.ParseKey(tr.InitKey)
	if err != nil {
		return media.Init{}, err
	}
	rc, err := h.Blobs.Get(ctx, key)
	if err != nil {
		return media.Init{}, err
	}
	defer rc.Close()
	sealed, err := io.ReadAll(io.LimitReader(rc, h.Limits.MaxSegment))
	if err != nil {
		return media.Init{}, err
	}
	id, err := h.Keys.Identity(ctx, p.TenantID)
	if err != nil {
		return media.Init{}, err
	}
	plain, err := seal.Open(sealed, int(h.Limits.MaxSegment), id)
	if err != nil {
		return media.Init{}, err
	}
	init, err = media.ParseInit(plain)
	if err != nil {
		return media.Init{}, err
	}
	h.rememberInit(p.TenantID, recID, tr.ID, init)
	return init, nil
}

func (h *Handler) rememberInit(tenantID, recID, trackID string, init media.Init) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.inits == nil || len(h.inits) > 4096 {
		h.inits = map[string]media.Init{}
	}
	h.inits[tenantID+"/"+recID+"/"+trackID] = init
}

// getManifest answers what the server holds of a recording, for an agent to resume.
func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, err := recordingID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.Meta.Manifest(r.Context(), p.TenantID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// complete takes the agent's final manifest and marks the recording finished when the
// server holds every segment it lists, with the same digests.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, final, err := h.manifestBody(w, r, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	held, err := h.Meta.Manifest(r.Context(), p.TenantID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var missing []string
	for _, ft := range final.Tracks {
		var ht *manifest.Track
		for i := range held.Tracks {
			if held.Tracks[i].ID == ft.ID {
				ht = &held.Tracks[i]
			}
		}
		if ht == nil {
			missing = append(missing, ft.ID)
			continue
		}
		if ft.InitDigest != "" && ft.InitDigest != ht.InitDigest {
			missing = append(missing, ft.ID+"/init")
		}
		heldDigest := make(map[int]string, len(ht.Segments))
		for _, s := range ht.Segments {
			heldDigest[s.Seq] = s.Digest
		}
		for _, fs := range ft.Segments {
			if heldDigest[fs.Seq] != fs.Digest {
				missing = append(missing, fmt.Sprintf("%s/%d", ft.ID, fs.Seq))
			}
		}
	}
	if len(missing) > 0 {
		if len(missing) > 20 {
			missing = append(missing[:20], "…")
		}
		h.fail(w, r, fmt.Errorf("%w: the server lacks or holds other bytes for %v", errMissing, missing))
		return
	}
	if err := h.Meta.CompleteRecording(r.Context(), p.TenantID, id, final.Duration(), h.now()); err != nil {
		h.fail(w, r, err)
		return
	}
	rec, err := h.Meta.Recording(r.Context(), p.TenantID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rec.State, rec.Tracks = string(manifest.StateUploadFinished), nil
	if _, err := h.Meta.PutRecording(r.Context(), rec); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "state": manifest.StateUploadFinished})
}

// fail answers err as problem+json with the status its kind calls for.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, slug := http.StatusInternalServerError, "internal"
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, blob.ErrBadKey):
		status, slug = http.StatusBadRequest, "bad-request"
	case errors.Is(err, errMismatch):
		status, slug = http.StatusBadRequest, "digest-mismatch"
	case errors.Is(err, errTooLarge):
		status, slug = http.StatusRequestEntityTooLarge, "too-large"
	case errors.Is(err, errInvalid):
		status, slug = http.StatusUnprocessableEntity, "invalid-media"
	case errors.Is(err, store.ErrNotFound):
		status, slug = http.StatusNotFound, "not-found"
	case errors.Is(err, store.ErrConflict), errors.Is(err, errMissing):
		status, slug = http.StatusConflict, "conflict"
	case errors.Is(err, context.Canceled):
		status, slug = 499, "canceled"
	}
	detail := err.Error()
	if status == http.StatusInternalServerError {
		h.log().Error("ingest failed", "path", r.URL.Path, "err", err)
		if h.OnInternalError != nil {
			h.OnInternalError(err)
		}
		detail = "The server could not complete the request; it has been logged."
	}
	if status == http.StatusNotFound {
		detail = "No such recording or track in this tenant."
	}
	problem.Write(w, r, status, slug, detail)
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
