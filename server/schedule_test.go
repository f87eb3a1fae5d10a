package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/aulacapture/aula/server/store"
)

type scheduleEntry struct {
	ID        string    `json:"id"`
	Folder    string    `json:"folder"`
	Room      string    `json:"room"`
	Title     string    `json:"title"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
}

type scheduleList struct {
	Room    string          `json:"room"`
	Entries []scheduleEntry `json:"entries"`
}

func (l scheduleList) ids() []string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, e.ID)
	}
	slices.Sort(out)
	return out
}

// send makes one request with extra headers and returns the whole answer.
func send(h http.Handler, token, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://127.0.0.1"+path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func entryBody(room, title string, start time.Time, d time.Duration) string {
	return fmt.Sprintf(`{"room":%q,"title":%q,"starts_at":%q,"ends_at":%q}`, room, title,
		start.Format(time.RFC3339), start.Add(d).Format(time.RFC3339))
}

// TestScheduleAndAgentState: schedulers schedule a room into the folders it is bound
// to (or below them), the room's agent reads only its own room's schedule (JSON and
// iCalendar, with ETags) and reports its state, which the administrator sees; on the
// real handlers.
func TestScheduleAndAgentState(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, s *Server) {
		w := newWorld(t, s)
		h := s.routes()
		ctx := t.Context()
		tn := w.tenant[0].ID
		own, child, other := w.folder[0]["own"], w.folder[0]["child"], w.folder[0]["other"]
		scheduler, viewer, manager, admin, agent := w.token["scheduler"], w.token["viewer"], w.token["manager"], w.token["tenant-admin"], w.token["agent"]
		base := time.Now().UTC().Truncate(time.Second).Add(24 * time.Hour)
		folderPath := func(f string) string { return "/api/v1/folders/" + f + "/schedule" }

		var e1, e2, lab scheduleEntry
		if c := call(t, h, scheduler, "POST", folderPath(own), entryBody("Hall", "Mechanics, part 1", base, time.Hour), &e1); c != 201 {
			t.Fatalf("schedule Hall into /Own: %d", c)
		}
		if e1.Folder != own || e1.Room != "Hall" || !e1.StartsAt.Equal(base) || e1.CreatedBy == "" {
			t.Errorf("created %+v", e1)
		}
		if c := call(t, h, scheduler, "POST", folderPath(child), entryBody("Hall", "Optics", base.Add(2*time.Hour), time.Hour), &e2); c != 201 {
			t.Fatalf("schedule Hall into /Own/Child (bound above): %d", c)
		}
		for _, c := range []struct {
			name, token, folder, body string
			want                      int
		}{
			{"no role in /Other", scheduler, other, entryBody("Hall", "x", base.Add(4*time.Hour), time.Hour), 404},
			{"Hall unbound in /Other", admin, other, entryBody("Hall", "x", base.Add(4*time.Hour), time.Hour), 400},
			{"unknown room", scheduler, own, entryBody("Attic", "x", base.Add(4*time.Hour), time.Hour), 400},
			{"overlap", scheduler, child, entryBody("Hall", "x", base.Add(30*time.Minute), time.Hour), 409},
			{"end before start", scheduler, own, entryBody("Hall", "x", base.Add(4*time.Hour), -time.Hour), 400},
			{"over 24 h", scheduler, own, entryBody("Hall", "x", base.Add(4*time.Hour), 25*time.Hour), 400},
			{"no title", scheduler, own, entryBody("Hall", "", base.Add(4*time.Hour), time.Hour), 400},
			{"title too long", scheduler, own, entryBody("Hall", strings.Repeat("x", 201), base.Add(4*time.Hour), time.Hour), 400},
			{"not RFC 3339", scheduler, own, `{"room":"Hall","title":"x","starts_at":"tomorrow","ends_at":"later"}`, 400},
			{"unknown field", scheduler, own, `{"room":"Hall","title":"x","folder":"y"}`, 400},
			{"viewer", viewer, own, entryBody("Hall", "x", base.Add(4*time.Hour), time.Hour), 403},
			{"agent", agent, own, entryBody("Hall", "x", base.Add(4*time.Hour), time.Hour), 404},
			{"beta's folder", admin, w.folder[1]["own"], entryBody("Hall", "x", base.Add(4*time.Hour), time.Hour), 404},
		} {
			if got := call(t, h, c.token, "POST", folderPath(c.folder), c.body, nil); got != c.want {
				t.Errorf("%s: %d, want %d", c.name, got, c.want)
			}
		}
		// A second room, bound to /Other, records at the same time as Hall.
		if err := s.Meta.BindRoom(ctx, tn, "Lab", other); err != nil {
			t.Fatal(err)
		}
		s.Authorizer().Invalidate()
		if c := call(t, h, admin, "POST", folderPath(other), entryBody("Lab", "Chemistry", base, time.Hour), &lab); c != 201 {
			t.Fatalf("schedule Lab into /Other: %d", c)
		}

		// Listing a folder.
		var l scheduleList
		if c := call(t, h, viewer, "GET", folderPath(own), "", &l); c != 200 {
			t.Fatalf("viewer lists /Own's schedule: %d", c)
		}
		if got := l.ids(); !slices.Equal(got, []string{e1.ID}) {
			t.Errorf("/Own's schedule %v, want [%s]", got, e1.ID)
		}
		l = scheduleList{}
		call(t, h, viewer, "GET", folderPath(own)+"?from="+base.Add(2*time.Hour).Format(time.RFC3339), "", &l)
		if len(l.Entries) != 0 {
			t.Errorf("/Own's schedule from after its entry: %v", l.ids())
		}
		for path, want := range map[string]int{
			folderPath(own) + "?from=yesterday":          400,
			folderPath(own) + "?to=2000-01-01T00:00:00Z": 400,
			folderPath(other):                            404,
			folderPath(w.folder[1]["own"]):               404,
		} {
			if got := call(t, h, viewer, "GET", path, "", nil); got != want {
				t.Errorf("viewer GET %s: %d, want %d", path, got, want)
			}
		}

		// The agent reads its own room's schedule, whatever it asks for.
		const self = "/api/v1/agents/self/schedule"
		rec := send(h, agent, "GET", self+"?room=Lab", "", nil)
		var mine scheduleList
		if rec.Code != 200 {
			t.Fatalf("agent's schedule: %d %s", rec.Code, rec.Body.String())
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &mine); err != nil {
			t.Fatal(err)
		}
		if got, want := mine.ids(), sorted(e1.ID, e2.ID); mine.Room != "Hall" || !slices.Equal(got, want) {
			t.Errorf("agent's schedule: room %q, entries %v, want Hall %v (never Lab's %s)", mine.Room, got, want, lab.ID)
		}
		for _, e := range mine.Entries {
			if e.CreatedBy != "" {
				t.Errorf("the agent is told who scheduled %s: %q", e.ID, e.CreatedBy)
			}
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Fatal("agent's schedule without an ETag")
		}
		if rec := send(h, agent, "GET", self, "", map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("unchanged schedule with If-None-Match: %d, %d bytes", rec.Code, rec.Body.Len())
		}

		// The iCalendar variant has the same ETag and the same entries.
		rec = send(h, agent, "GET", self, "", map[string]string{"Accept": "text/calendar"})
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/calendar") || rec.Header().Get("ETag") != etag {
			t.Fatalf("iCalendar: %d %q, ETag %q want %q", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("ETag"), etag)
		}
		if !strings.Contains(rec.Body.String(), "\r\n") {
			t.Error("iCalendar lines do not end in CRLF")
		}
		cal, err := ics.ParseCalendar(strings.NewReader(rec.Body.String()))
		if err != nil {
			t.Fatalf("parse iCalendar: %v\n%s", err, rec.Body.String())
		}
		byUID := map[string]*ics.VEvent{}
		for _, ev := range cal.Events() {
			byUID[ev.Id()] = ev
		}
		for _, e := range []scheduleEntry{e1, e2} {
			ev := byUID[e.ID]
			if ev == nil {
				t.Errorf("iCalendar lacks %s", e.ID)
				continue
			}
			start, err1 := ev.GetStartAt()
			end, err2 := ev.GetEndAt()
			if err1 != nil || err2 != nil || !start.Equal(e.StartsAt) || !end.Equal(e.EndsAt) {
				t.Errorf("event %s from %v to %v (%v, %v), want %v to %v", e.ID, start, end, err1, err2, e.StartsAt, e.EndsAt)
			}
			if p := ev.GetProperty(ics.ComponentPropertySummary); p == nil || ics.FromText(p.Value) != e.Title {
				t.Errorf("event %s summary %v, want %q", e.ID, p, e.Title)
			}
			if _, err := ev.GetDtStampTime(); err != nil {
				t.Errorf("event %s DTSTAMP: %v", e.ID, err)
			}
		}
		if len(byUID) != 2 {
			t.Errorf("iCalendar has %d events, want 2", len(byUID))
		}
		if rec := send(h, agent, "GET", self, "", map[string]string{"Accept": "text/calendar", "If-None-Match": etag}); rec.Code != http.StatusNotModified {
			t.Errorf("unchanged iCalendar with If-None-Match: %d", rec.Code)
		}

		for accept, want := range map[string]string{
			"application/json, text/calendar;q=0.5": "application/json",
			"text/calendar, application/json;q=0.9": "text/calendar",
			"*/*":                                   "application/json",
			"text/calendar;q=0, */*":                "application/json",
			"text/html, text/calendar":              "text/calendar",
		} {
			rec := send(h, agent, "GET", self, "", map[string]string{"Accept": accept})
			if got := rec.Header().Get("Content-Type"); rec.Code != 200 || !strings.HasPrefix(got, want) {
				t.Errorf("Accept %q: %d %q, want %s", accept, rec.Code, got, want)
			}
		}
		for inm, want := range map[string]int{"*": 304, `"other", ` + etag: 304, strings.TrimPrefix(etag, "W/"): 304, `W/"other"`: 200} {
			if rec := send(h, agent, "GET", self, "", map[string]string{"If-None-Match": inm}); rec.Code != want {
				t.Errorf("If-None-Match %s: %d, want %d", inm, rec.Code, want)
			}
		}

		// A change changes the ETag.
		if c := call(t, h, scheduler, "DELETE", folderPath(own)+"/"+e2.ID, "", nil); c != 404 {
			t.Errorf("delete /Own/Child's entry through /Own: %d, want 404", c)
		}
		if c := call(t, h, viewer, "DELETE", folderPath(child)+"/"+e2.ID, "", nil); c != 403 {
			t.Errorf("viewer deletes an entry: %d, want 403", c)
		}
		if c := call(t, h, scheduler, "DELETE", folderPath(child)+"/"+e2.ID, "", nil); c != 204 {
			t.Errorf("scheduler deletes an entry: %d", c)
		}
		rec = send(h, agent, "GET", self, "", map[string]string{"If-None-Match": etag})
		if rec.Code != 200 || rec.Header().Get("ETag") == etag {
			t.Errorf("changed schedule with the old ETag: %d, ETag %q", rec.Code, rec.Header().Get("ETag"))
		}

		// Users may not use the agent routes.
		for _, tok := range []string{viewer, scheduler, admin} {
			if c := call(t, h, tok, "GET", self, "", nil); c != 403 {
				t.Errorf("a user reads /agents/self/schedule: %d, want 403", c)
			}
			if c := call(t, h, tok, "PUT", "/api/v1/agents/self/state", `{"state":"idle"}`, nil); c != 403 {
				t.Errorf("a user reports /agents/self/state: %d, want 403", c)
			}
		}

		// The agent reports its state; the administrator sees it.
		const state = "/api/v1/agents/self/state"
		for body, want := range map[string]int{
			`{"state":"capturing","recording":"` + w.rec[0]["agent"] + `","queue_segments":3,"queue_bytes":4096,"free_bytes":1000000000,"audio_level":-20.5}`: 204,
			`{"state":"capturing","recording":"` + w.rec[0]["own"] + `"}`:                                                                                     400, // a user's recording
			`{"state":"capturing","recording":"` + w.rec[1]["agent"] + `"}`:                                                                                   204, // beta's: unknown here, as one not uploaded yet
			`{"state":"capturing","recording":"not-an-id"}`:                                                                                                   400,
			`{"state":"sleeping"}`:                                              400,
			`{"state":"idle","queue_segments":-1}`:                              400,
			`{"state":"idle","audio_level":12}`:                                 400,
			`{"state":"idle","thumbnail":"x"}`:                                  400,
			`{"state":"idle","last_error":"` + strings.Repeat("x", 1001) + `"}`: 400,
		} {
			if got := call(t, h, agent, "PUT", state, body, nil); got != want {
				t.Errorf("report %.80s: %d, want %d", body, got, want)
			}
		}
		if c := call(t, h, agent, "PUT", state, `{"state":"capturing","recording":"`+w.rec[0]["agent"]+`","queue_segments":3,"queue_bytes":4096,"free_bytes":1000000000,"audio_level":-20.5}`, nil); c != 204 {
			t.Fatalf("report: %d", c)
		}
		var states struct {
			States []struct {
				Agent, Room, State, Recording string
				QueueSegments                 int64     `json:"queue_segments"`
				AudioLevel                    *float64  `json:"audio_level"`
				ReportedAt                    time.Time `json:"reported_at"`
				AgeSeconds                    int64     `json:"age_seconds"`
			} `json:"states"`
		}
		if c := call(t, h, admin, "GET", "/api/v1/admin/rooms/states", "", &states); c != 200 {
			t.Fatalf("admin lists states: %d", c)
		}
		if len(states.States) != 1 {
			t.Fatalf("states %+v, want one", states.States)
		}
		if st := states.States[0]; st.Agent != w.agentID || st.Room != "Hall" || st.State != "capturing" || st.Recording != w.rec[0]["agent"] ||
			st.QueueSegments != 3 || st.AudioLevel == nil || *st.AudioLevel != -20.5 || st.ReportedAt.IsZero() || st.AgeSeconds > 60 {
			t.Errorf("state %+v", st)
		}
		if c := call(t, h, manager, "GET", "/api/v1/admin/rooms/states", "", nil); c != 403 {
			t.Errorf("manager lists states: %d, want 403", c)
		}

		// Only a change into error is audited.
		countErrors := func() (n int) {
			for _, e := range must[[]store.AuditEvent](t)(s.Meta.AuditEvents(ctx, tn, 1000)) {
				if e.Action == "agent.error" {
					n++
				}
			}
			return n
		}
		before := countErrors()
		for range 2 {
			if c := call(t, h, agent, "PUT", state, `{"state":"error","last_error":"camera unplugged"}`, nil); c != 204 {
				t.Fatalf("error report: %d", c)
			}
		}
		if got := countErrors() - before; got != 1 {
			t.Errorf("two error reports in a row audited %d times, want once", got)
		}
		var created int
		for _, e := range must[[]store.AuditEvent](t)(s.Meta.AuditEvents(ctx, tn, 1000)) {
			if e.Action == "schedule.created" || e.Action == "schedule.deleted" {
				created++
			}
		}
		if created != 4 {
			t.Errorf("%d schedule audit events, want 4 (three created, one deleted)", created)
		}

		// Tenant beta sees none of it.
		if st := must[[]store.AgentState](t)(s.Meta.AgentStates(ctx, w.tenant[1].ID)); len(st) != 0 {
			t.Errorf("beta's states: %+v", st)
		}
		if c := call(t, h, admin, "DELETE", folderPath(w.folder[1]["own"])+"/"+e1.ID, "", nil); c != 404 {
			t.Errorf("delete through beta's folder: %d, want 404", c)
		}
	})
}
