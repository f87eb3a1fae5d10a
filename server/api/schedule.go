package api

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/store"
)

// Windows of the schedule routes.
const (
	// folderScheduleDays is how far ahead a folder's schedule lists by default.
	folderScheduleDays = 30
	// maxScheduleWindow bounds a folder's schedule query.
	maxScheduleWindow = 400 * 24 * time.Hour
	// agentScheduleBehind and agentScheduleAhead are the window an agent is given: an
	// entry that started within the hour is still to be recorded, and two weeks ahead
	// let it record from its cache through a long outage.
	agentScheduleBehind = time.Hour
	agentScheduleAhead  = 14 * 24 * time.Hour
)

type scheduleJSON struct {
	ID        string     `json:"id"`
	Folder    string     `json:"folder"`
	Room      string     `json:"room"`
	Title     string     `json:"title"`
	StartsAt  time.Time  `json:"starts_at"`
	EndsAt    time.Time  `json:"ends_at"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// scheduleView is an entry as people see it; an agent is not told who made it.
func scheduleView(e store.ScheduleEntry, forAgent bool) scheduleJSON {
	out := scheduleJSON{ID: e.ID, Folder: e.FolderID, Room: e.Room, Title: e.Title, StartsAt: e.StartsAt, EndsAt: e.EndsAt, UpdatedAt: e.UpdatedAt}
	if !forAgent {
		created := e.CreatedAt
		out.CreatedBy, out.CreatedAt = e.CreatedBy, &created
	}
	return out
}

// folderSchedule lists the folder's entries from ?from= to ?to= (RFC 3339), by
// default from now for 30 days.
func (h *Handler) folderSchedule(c call) {
	now := h.now().UTC()
	from, to := now, now.Add(folderScheduleDays*24*time.Hour)
	for name, t := range map[string]*time.Time{"from": &from, "to": &to} {
		v := c.r.URL.Query().Get(name)
		if v == "" {
			continue
		}
		p, err := time.Parse(time.RFC3339, v)
		if err != nil {
			h.fail(c, invalidf("?%s= is a time in RFC 3339, as in 2026-11-23T09:00:00Z, not %q", name, v))
			return
		}
		*t = p.UTC()
	}
	if !to.After(from) || to.Sub(from) > maxScheduleWindow {
		h.fail(c, invalidf("?to= is after ?from=, and at most %d days later", int(maxScheduleWindow/(24*time.Hour))))
		return
	}
	entries, err := h.Meta.FolderSchedule(c.ctx(), c.tenant(), c.r.PathValue("id"), from, to)
	if err != nil {
		h.fail(c, err)
		return
	}
	out := []scheduleJSON{}
	for _, e := range entries {
		out = append(out, scheduleView(e, false))
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"from": from, "to": to, "entries": out})
}

// addScheduleEntry schedules {"room", "title", "starts_at", "ends_at"} into the folder;
// the room must be bound to the folder or one above it, since a room's agent records
// only into its room's folders.
func (h *Handler) addScheduleEntry(c call) {
	// Times are kept to the second, as iCalendar gives them.
	var body struct {
		Room     string    `json:"room"`
		Title    string    `json:"title"`
		StartsAt time.Time `json:"starts_at"`
		EndsAt   time.Time `json:"ends_at"`
	}
	if !decode(c, &body) {
		return
	}
	folder := c.r.PathValue("id")
	e := store.ScheduleEntry{TenantID: c.tenant(), FolderID: folder, Room: strings.TrimSpace(body.Room), Title: body.Title,
		StartsAt: body.StartsAt.UTC().Truncate(time.Second), EndsAt: body.EndsAt.UTC().Truncate(time.Second), CreatedBy: c.actor()}
	if err := store.CheckScheduleEntry(e); err != nil {
		h.fail(c, err)
		return
	}
	bound, err := h.Meta.RoomFolders(c.ctx(), c.tenant(), e.Room)
	if err != nil {
		h.fail(c, err)
		return
	}
	if !boundAbove(c.s, bound, folder) {
		h.fail(c, invalidf("room %s is not bound to this folder or one above it, and a room records only into its folders; "+
			"an administrator binds it with PUT /api/v1/admin/rooms/{room}/folders/{folder}", e.Room))
		return
	}
	e, err = h.Meta.CreateScheduleEntry(c.ctx(), e)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, "schedule.created", "folder "+folder, fmt.Sprintf("room %s from %s to %s (entry %s)", e.Room,
		e.StartsAt.Format(time.RFC3339), e.EndsAt.Format(time.RFC3339), e.ID))
	writeJSON(c.w, http.StatusCreated, scheduleView(e, false))
}

// boundAbove reports whether folder or one of its ancestors is among bound.
func boundAbove(s *authz.Subject, bound []string, folder string) bool {
	set := map[string]bool{}
	for _, id := range bound {
		set[id] = true
	}
	for id, n := folder, 0; id != "" && n < 1000; id, n = s.Parent(id), n+1 {
		if set[id] {
			return true
		}
	}
	return false
}

func (h *Handler) removeScheduleEntry(c call) {
	folder, id := c.r.PathValue("id"), c.r.PathValue("entry")
	e, err := h.Meta.DeleteScheduleEntry(c.ctx(), c.tenant(), folder, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, "schedule.deleted", "folder "+folder, fmt.Sprintf("room %s from %s to %s (entry %s)", e.Room,
		e.StartsAt.Format(time.RFC3339), e.EndsAt.Format(time.RFC3339), e.ID))
	c.w.WriteHeader(http.StatusNoContent)
}

// agentOnly answers 403 unless the caller is a room's agent.
func agentOnly(c call) bool {
	if c.s.Agent {
		return true
	}
	writeProblem(c, http.StatusForbidden, "agents-only", "Only a room's agent, with its own credential, may use /api/v1/agents/self.")
	return false
}

// agentSchedule answers the agent's own room's entries from an hour ago to two weeks
// ahead: JSON, or iCalendar (RFC 5545) to Accept: text/calendar, both with the same
// weak ETag, so an unchanged schedule answers 304 to If-None-Match. The room comes from
// the agent's credential; the request cannot name another.
func (h *Handler) agentSchedule(c call) {
	if !agentOnly(c) {
		return
	}
	now := h.now().UTC()
	entries, err := h.Meta.RoomSchedule(c.ctx(), c.tenant(), c.s.Room, now.Add(-agentScheduleBehind), now.Add(agentScheduleAhead))
	if err != nil {
		h.fail(c, err)
		return
	}
	// An entry whose folder the room has since been unbound from is one the agent
	// could not record into: leave it out rather than have it fail at upload.
	var mine []store.ScheduleEntry
	for _, e := range entries {
		if c.s.Can(authz.ActRecord, e.FolderID) {
			mine = append(mine, e)
		}
	}
	etag := scheduleETag(c.s.Room, mine)
	hdr := c.w.Header()
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "private, no-cache")
	hdr.Set("Vary", "Accept")
	if etagMatches(c.r.Header.Get("If-None-Match"), etag) {
		c.w.WriteHeader(http.StatusNotModified)
		return
	}
	if wantsCalendar(c.r.Header.Get("Accept")) {
		cal := ics.NewCalendarFor("Aula")
		cal.SetXWRCalName("Aula: " + c.s.Room)
		for _, e := range mine {
			ev := cal.AddEvent(e.ID)
			ev.SetDtStampTime(e.UpdatedAt)
			ev.SetStartAt(e.StartsAt)
			ev.SetEndAt(e.EndsAt)
			ev.SetSummary(e.Title)
			ev.SetLocation(e.Room)
			ev.SetModifiedAt(e.UpdatedAt)
			ev.SetProperty(ics.ComponentProperty("X-AULA-FOLDER"), e.FolderID)
		}
		hdr.Set("Content-Type", "text/calendar; charset=utf-8")
		c.w.WriteHeader(http.StatusOK)
		_ = cal.SerializeTo(c.w, ics.WithNewLineWindows)
		return
	}
	out := []scheduleJSON{}
	for _, e := range mine {
		out = append(out, scheduleView(e, true))
	}
	hdr.Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(c.w).Encode(map[string]any{"room": c.s.Room, "entries": out})
}

// scheduleETag is a weak validator of the room's schedule: a hash of what both
// representations are made from. It is weak because JSON and iCalendar share it.
func scheduleETag(room string, entries []store.ScheduleEntry) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("aula schedule v1")
	field(room)
	for _, e := range entries {
		field(e.ID)
		field(e.FolderID)
		field(e.Title)
		for _, t := range []time.Time{e.StartsAt, e.EndsAt, e.UpdatedAt} {
			field(strconv.FormatInt(t.UnixNano(), 10))
		}
	}
	return `W/"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// etagMatches is the weak comparison of If-None-Match (RFC 9110 §13.1.2).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	opaque := func(t string) string { return strings.TrimPrefix(strings.TrimSpace(t), "W/") }
	for _, t := range strings.Split(header, ",") {
		if strings.TrimSpace(t) == "*" || opaque(t) == opaque(etag) {
			return true
		}
	}
	return false
}

// wantsCalendar reports whether Accept prefers text/calendar to application/json.
func wantsCalendar(accept string) bool {
	var cal, js float64 = 0, -1
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "text/calendar":
			cal = max(cal, q)
		case "application/json":
			js = max(js, q)
		}
	}
	return cal > 0 && cal >= js
}

// agentState stores the agent's report {"state", "recording", "queue_segments",
// "queue_bytes", "free_bytes", "audio_level", "last_error"} and answers 204. Reports
// come every 10–60 s, so only a change into "error" is audited.
func (h *Handler) agentState(c call) {
	if !agentOnly(c) {
		return
	}
	var body struct {
		State         string   `json:"state"`
		Recording     string   `json:"recording"`
		QueueSegments int64    `json:"queue_segments"`
		QueueBytes    int64    `json:"queue_bytes"`
		FreeBytes     int64    `json:"free_bytes"`
		AudioLevel    *float64 `json:"audio_level"`
		LastError     string   `json:"last_error"`
	}
	if !decode(c, &body) {
		return
	}
	if body.Recording != "" {
		if !manifest.ValidID(body.Recording) {
			h.fail(c, invalidf("recording %q is not a lowercase UUIDv7", body.Recording))
			return
		}
		rec, err := h.Meta.Recording(c.ctx(), c.tenant(), body.Recording)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.fail(c, err)
			return
		}
		// A recording the server does not hold yet is fine (captured offline, or its
		// announcement not sent yet); one that exists must be this agent's.
		if err == nil && !c.s.Owns(rec) {
			h.fail(c, invalidf("recording %s is not one this agent made", body.Recording))
			return
		}
	}
	prev, err := h.Meta.PutAgentState(c.ctx(), store.AgentState{TenantID: c.tenant(), ClientID: c.p.ClientID, State: body.State,
		RecordingID: body.Recording, QueueSegments: body.QueueSegments, QueueBytes: body.QueueBytes, FreeBytes: body.FreeBytes,
		AudioLevel: body.AudioLevel, LastError: body.LastError, ReportedAt: h.now()})
	if err != nil {
		h.fail(c, err)
		return
	}
	if body.State == store.AgentError && prev != store.AgentError {
		h.audit(c, "agent.error", "room "+c.s.Room, truncate(body.LastError, 200))
	}
	c.w.WriteHeader(http.StatusNoContent)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

type agentStateJSON struct {
	Agent         string    `json:"agent"`
	Room          string    `json:"room"`
	Revoked       bool      `json:"revoked"`
	State         string    `json:"state"`
	Recording     string    `json:"recording"`
	QueueSegments int64     `json:"queue_segments"`
	QueueBytes    int64     `json:"queue_bytes"`
	FreeBytes     int64     `json:"free_bytes"`
	AudioLevel    *float64  `json:"audio_level"`
	LastError     string    `json:"last_error"`
	ReportedAt    time.Time `json:"reported_at"`
	AgeSeconds    int64     `json:"age_seconds"`
}

// roomStates lists every agent's last report, with its room and how old it is.
func (h *Handler) roomStates(c call) {
	states, err := h.Meta.AgentStates(c.ctx(), c.tenant())
	if err != nil {
		h.fail(c, err)
		return
	}
	now := h.now()
	out := []agentStateJSON{}
	for _, a := range states {
		out = append(out, agentStateJSON{Agent: a.ClientID, Room: a.Room, Revoked: a.Revoked, State: a.State, Recording: a.RecordingID,
			QueueSegments: a.QueueSegments, QueueBytes: a.QueueBytes, FreeBytes: a.FreeBytes, AudioLevel: a.AudioLevel,
			LastError: a.LastError, ReportedAt: a.ReportedAt, AgeSeconds: max(0, int64(now.Sub(a.ReportedAt)/time.Second))})
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"states": out})
}
