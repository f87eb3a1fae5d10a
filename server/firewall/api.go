package firewall

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/authz"
	"github.com/aulacapture/aula/server/problem"
)

// API serves GET and PUT /api/v1/admin/firewall: the caller's tenant's rules as JSON.
// The server's guard authenticates the caller, checks that they are the tenant's
// administrator and puts them in the context (authz.PrincipalFrom).
type API struct {
	Service *Service
}

// RulesJSON is the rules as the API reads and writes them; PUT takes it as the body.
type RulesJSON struct {
	Enabled bool     `json:"enabled"`
	Ranges  []string `json:"ranges"`
	// CountryMode is "", "allow" or "deny".
	CountryMode string          `json:"country_mode"`
	Countries   []string        `json:"countries"`
	Exceptions  []ExceptionJSON `json:"exceptions"`
}

// ExceptionJSON is one user's exception: anywhere, or ranges of their own.
type ExceptionJSON struct {
	Email    string   `json:"email"`
	Anywhere bool     `json:"anywhere,omitempty"`
	Ranges   []string `json:"ranges,omitempty"`
}

// StateJSON is what GET (and a successful PUT) answers.
type StateJSON struct {
	Rules RulesJSON `json:"rules"`
	// CountriesEnforced is false when the server has no GeoIP database: country rules
	// are then kept but not enforced.
	CountriesEnforced bool       `json:"countries_enforced"`
	UpdatedAt         *time.Time `json:"updated_at,omitempty"`
	UpdatedBy         string     `json:"updated_by,omitempty"`
	// YourAddress is the caller's address as the server sees it.
	YourAddress string `json:"your_address,omitempty"`
}

// Get answers the tenant's rules.
func (a *API) Get(w http.ResponseWriter, r *http.Request) {
	p, ok := authz.PrincipalFrom(r.Context())
	if !ok {
		problem.Write(w, r, http.StatusUnauthorized, "unauthenticated", "Sign in, or send an API token.")
		return
	}
	rules, err := a.Service.Rules(r.Context(), p.TenantID)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	a.write(w, r, http.StatusOK, rules)
}

// Put replaces the tenant's rules. Malformed rules answer 400 naming the item at fault;
// rules that would lock out the caller, 409.
func (a *API) Put(w http.ResponseWriter, r *http.Request) {
	p, ok := authz.PrincipalFrom(r.Context())
	if !ok {
		problem.Write(w, r, http.StatusUnauthorized, "unauthenticated", "Sign in, or send an API token.")
		return
	}
	var in RulesJSON
	dec := json.NewDecoder(io.LimitReader(r.Body, 256<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		problem.Write(w, r, http.StatusBadRequest, "bad-json", "The body is not the JSON this route takes: "+err.Error())
		return
	}
	if dec.More() {
		problem.Write(w, r, http.StatusBadRequest, "bad-json", "The body holds more than one JSON value.")
		return
	}
	rules, err := in.parse()
	if err != nil {
		problem.Write(w, r, http.StatusBadRequest, "invalid-firewall", err.Error())
		return
	}
	actor := p.UserID
	if u, err := a.Service.Store.User(r.Context(), p.TenantID, p.UserID); err == nil {
		actor = u.Email
	}
	stored, err := a.Service.Set(r.Context(), Change{TenantID: p.TenantID, Rules: rules, Actor: actor,
		ActorUserID: p.UserID, ActorAddr: auth.ClientAddr(r)})
	switch {
	case errors.Is(err, ErrInvalid):
		problem.Write(w, r, http.StatusBadRequest, "invalid-firewall", err.Error())
		return
	case errors.Is(err, ErrLockout):
		problem.Write(w, r, http.StatusConflict, "firewall-lockout", err.Error())
		return
	case err != nil:
		a.internal(w, r, err)
		return
	}
	a.write(w, r, http.StatusOK, stored)
}

func (in RulesJSON) parse() (Rules, error) {
	ranges, err := ParseRangeList("ranges", in.Ranges)
	if err != nil {
		return Rules{}, err
	}
	mode, err := ParseCountryMode(in.CountryMode)
	if err != nil {
		return Rules{}, err
	}
	var countries []string
	for _, c := range in.Countries {
		cs, err := ParseCountries(c)
		if err != nil {
			return Rules{}, err
		}
		if len(cs) != 1 {
			return Rules{}, invalid("countries: give one code per item, not " + quoteIfOdd(c) + ".")
		}
		countries = append(countries, cs...)
	}
	if mode == "" && len(countries) > 0 {
		return Rules{}, invalid("countries: set country_mode to allow or deny, or send no countries.")
	}
	rules := Rules{Enabled: in.Enabled, Ranges: ranges, CountryMode: mode, Countries: countries}
	for i, e := range in.Exceptions {
		if e.Anywhere == (len(e.Ranges) > 0) {
			return Rules{}, invalid("exceptions item " + strconv.Itoa(i+1) + ": give anywhere or ranges, not both or neither.")
		}
		ps, err := ParseRangeList("exceptions item "+strconv.Itoa(i+1)+" ranges", e.Ranges)
		if err != nil {
			return Rules{}, err
		}
		rules.Exceptions = append(rules.Exceptions, Exception{Email: e.Email, Anywhere: e.Anywhere, Ranges: ps})
	}
	return rules, nil
}

func (a *API) write(w http.ResponseWriter, r *http.Request, status int, rules Rules) {
	out := StateJSON{Rules: RulesJSON{Enabled: rules.Enabled, Ranges: []string{}, CountryMode: rules.CountryMode,
		Countries: []string{}, Exceptions: []ExceptionJSON{}},
		CountriesEnforced: a.Service.CountriesEnforced(), UpdatedBy: rules.UpdatedBy}
	for _, p := range rules.Ranges {
		out.Rules.Ranges = append(out.Rules.Ranges, p.String())
	}
	out.Rules.Countries = append(out.Rules.Countries, rules.Countries...)
	for _, e := range rules.Exceptions {
		je := ExceptionJSON{Email: e.Email, Anywhere: e.Anywhere}
		for _, p := range e.Ranges {
			je.Ranges = append(je.Ranges, p.String())
		}
		out.Rules.Exceptions = append(out.Rules.Exceptions, je)
	}
	if !rules.UpdatedAt.IsZero() {
		t := rules.UpdatedAt
		out.UpdatedAt = &t
	}
	if addr := auth.ClientAddr(r); addr.IsValid() {
		out.YourAddress = addr.String()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

func (a *API) internal(w http.ResponseWriter, r *http.Request, err error) {
	if a.Service.Log != nil {
		a.Service.Log.Error("firewall api", "path", r.URL.Path, "err", err)
	}
	problem.Write(w, r, http.StatusInternalServerError, "internal", "The server could not do this; it has been logged.")
}
