package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/blob"
	"github.com/aulacapture/aula/server/store"
)

// recordingJSON is a recording as the API shows it.
type recordingJSON struct {
	ID          string      `json:"id"`
	Title       string      `json:"title"`
	State       string      `json:"state"`
	Folder      string      `json:"folder"`
	FolderPath  string      `json:"folder_path"`
	StartedAt   time.Time   `json:"started_at"`
	CompletedAt *time.Time  `json:"completed_at,omitempty"`
	PublishedAt *time.Time  `json:"published_at,omitempty"`
	Duration    float64     `json:"duration"`
	Tracks      []trackJSON `json:"tracks"`
	// Actions are what the caller may do to it.
	Actions []authz.Action `json:"actions"`
}

type trackJSON struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Codec string `json:"codec"`
}

func recordingView(rec store.Recording, t *authz.Tree, s *authz.Subject) recordingJSON {
	out := recordingJSON{ID: rec.ID, Title: rec.Title, State: rec.State, Folder: rec.FolderID, FolderPath: t.Path(rec.FolderID),
		StartedAt: rec.StartedAt, CompletedAt: rec.CompletedAt, PublishedAt: rec.PublishedAt, Duration: rec.Duration,
		Tracks: []trackJSON{}, Actions: []authz.Action{}}
	for _, tr := range rec.Tracks {
		out.Tracks = append(out.Tracks, trackJSON{tr.ID, tr.Kind, tr.Codec})
	}
	for _, a := range authz.Actions {
		if s.CanOn(a, rec) {
			out.Actions = append(out.Actions, a)
		}
	}
	return out
}

// listRecordings lists what the caller may see, newest first: ?folder=ID narrows to
// one folder (and below), ?limit and ?offset page.
func (h *Handler) listRecordings(c call) {
	q := c.r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	t, err := h.tree(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	v := c.s.Visibility()
	if f := q.Get("folder"); f != "" {
		if _, ok := t.Folder(f); !ok {
			h.fail(c, store.ErrNotFound)
			return
		}
		under := map[string]bool{}
		var walk func(string)
		walk = func(id string) {
			under[id] = true
			for _, ch := range t.Children(id) {
				walk(ch)
			}
		}
		walk(f)
		keep := func(ids []string) (out []string) {
			for _, id := range ids {
				if under[id] {
					out = append(out, id)
				}
			}
			return out
		}
		v = store.Visibility{All: keep(v.All), Published: keep(v.Published)}
	}
	recs, err := h.Meta.ListVisibleRecordings(c.ctx(), c.tenant(), v, limit, offset)
	if err != nil {
		h.fail(c, err)
		return
	}
	out := []recordingJSON{}
	for _, rec := range recs {
		out = append(out, recordingView(rec, t, c.s))
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"recordings": out})
}

// recording is the recording the guard resolved (it checked the route's action on it).
func (h *Handler) recording(c call) (store.Recording, bool) {
	rec, ok := authz.RecordingFrom(c.ctx())
	if !ok {
		h.fail(c, errors.New("api: route without a resolved recording"))
	}
	return rec, ok
}

func (h *Handler) getRecording(c call) {
	if rec, ok := h.recording(c); ok {
		h.writeRecording(c, rec)
	}
}

// writeRecording answers with rec as the API shows it to the caller.
func (h *Handler) writeRecording(c call, rec store.Recording) {
	t, err := h.tree(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	writeJSON(c.w, http.StatusOK, recordingView(rec, t, c.s))
}

// editRecording renames ({"title"}) or moves ({"folder"}) a recording; a move needs edit
// in the target folder too.
func (h *Handler) editRecording(c call) {
	rec, ok := h.recording(c)
	if !ok {
		return
	}
	var body struct {
		Title  *string `json:"title"`
		Folder string  `json:"folder"`
	}
	if !decode(c, &body) {
		return
	}
	if body.Title != nil && len(*body.Title) > 500 {
		h.fail(c, invalidf("a title has at most 500 bytes"))
		return
	}
	if body.Folder != "" && body.Folder != rec.FolderID {
		if !c.s.HasFolder(body.Folder) || (!c.s.Can(authz.ActView, body.Folder) && !c.s.Can(authz.ActEdit, body.Folder)) {
			h.fail(c, store.ErrNotFound)
			return
		}
		if !c.s.Can(authz.ActEdit, body.Folder) {
			writeProblem(c, http.StatusForbidden, "forbidden", "Your role does not allow moving recordings into that folder.")
			return
		}
	}
	if err := h.Meta.EditRecording(c.ctx(), c.tenant(), rec.ID, body.Title, body.Folder); err != nil {
		h.fail(c, err)
		return
	}
	detail := ""
	if body.Folder != "" && body.Folder != rec.FolderID {
		detail = "moved from folder " + rec.FolderID + " to " + body.Folder
	}
	h.audit(c, "recording.edited", "recording "+rec.ID, detail)
	rec, err := h.Meta.Recording(c.ctx(), c.tenant(), rec.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.writeRecording(c, rec)
}

// deleteRecording deletes the rows, then the sealed objects (a failure there leaves
// unreadable orphans, logged, never a half-listed recording).
func (h *Handler) deleteRecording(c call) {
	rec, ok := h.recording(c)
	if !ok {
		return
	}
	m, err := h.Meta.Manifest(c.ctx(), c.tenant(), rec.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := h.Meta.DeleteRecording(c.ctx(), c.tenant(), rec.ID); err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, "recording.deleted", "recording "+rec.ID, "")
	if d, ok := h.Blobs.(blob.Deleter); ok {
		for _, t := range m.Tracks {
			keys := []blob.Key{}
			if k, err := blob.InitKey(c.tenant(), rec.ID, t.ID); err == nil {
				keys = append(keys, k)
			}
			for _, s := range t.Segments {
				if k, err := blob.SegmentKey(c.tenant(), rec.ID, t.ID, s.Seq); err == nil {
					keys = append(keys, k)
				}
			}
			for _, k := range keys {
				if err := d.Delete(c.ctx(), k); err != nil && !errors.Is(err, blob.ErrNotFound) && h.Log != nil {
					h.Log.Error("delete recording object", "key", k.String(), "err", err)
				}
			}
		}
	}
	c.w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) publish(on bool) func(c call) {
	return func(c call) {
		rec, ok := h.recording(c)
		if !ok {
			return
		}
		var at *time.Time
		action := "recording.unpublished"
		if on {
			now := h.now()
			at, action = &now, "recording.published"
		}
		if err := h.Meta.SetPublished(c.ctx(), c.tenant(), rec.ID, at); err != nil {
			h.fail(c, err)
			return
		}
		h.audit(c, action, "recording "+rec.ID, "")
		c.w.WriteHeader(http.StatusNoContent)
	}
}

func (h *Handler) download(c call) {
	rec, ok := h.recording(c)
	if !ok {
		return
	}
	h.audit(c, "recording.downloaded", "recording "+rec.ID, "track "+c.r.PathValue("track"))
	h.VOD.Download(c.w, c.r, rec, c.r.PathValue("track"))
}
