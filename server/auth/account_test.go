package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/aulacapture/aula/server/audit"
	"github.com/aulacapture/aula/server/store"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSealer "seals" by reversing and tagging, so tests need no keys; the server's
// TenantSealer is tested end to end.
type fakeSealer struct{}

func (fakeSealer) Seal(_ context.Context, _ string, p []byte) ([]byte, error) {
	return append([]byte("sealed:"), p...), nil
}
func (fakeSealer) Open(_ context.Context, _ string, s []byte) ([]byte, error) {
	p, ok := strings.CutPrefix(string(s), "sealed:")
	if !ok {
		return nil, errors.New("not sealed")
	}
	return []byte(p), nil
}

type fixture struct {
	st     *store.Store
	acc    *Accounts
	clk    *clock
	tenant store.Tenant
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "aula.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetAuditMAC(audit.MAC([]byte("auth tests' audit key"))) // the server's comes from the master key
	clk := &clock{t: time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)}
	tn, err := st.CreateTenant(context.Background(), store.Tenant{Name: "uni"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, clk: clk, tenant: tn, acc: &Accounts{Store: st, Sealer: fakeSealer{},
		Throttle: &Throttle{Failures: st, Now: clk.Now}, Now: clk.Now}}
}

func (f *fixture) user(t *testing.T, email, password, role string) store.User {
	t.Helper()
	h, err := HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.st.CreateUser(context.Background(), store.User{TenantID: f.tenant.ID, Email: email, PasswordHash: h, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPasswordPolicy(t *testing.T) {
	emoji := strings.Repeat("🎓", 15) // 15 code points, 60 bytes
	cases := []struct {
		name     string
		password string
		rules    PasswordRules
		reason   string // "" means accepted
	}{
		{"14 characters", "kite-violin-gr", PasswordRules{}, "has 14 characters; it needs at least 15"},
		{"15 characters", "kite-violin-gre", PasswordRules{}, ""},
		{"11 with 2FA", "kite-violin", PasswordRules{Require2FA: true}, "needs at least 12"},
		{"12 with 2FA", "kite-violin-", PasswordRules{Require2FA: true}, ""},
		{"64 characters", strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 2)[:64], PasswordRules{}, ""},
		{"emoji per code point", emoji[:14*4], PasswordRules{}, "has 14 characters"},
		{"15 emoji", emoji, PasswordRules{}, "only repeats"},
		{"mixed emoji", "🎓📚✏️🔬🧪🎨🎭🎻🎺🥁🎹🎸🪕🎷", PasswordRules{}, ""},
		{"NFKC counts ligatures as two", "ﬁﬁﬁﬁﬁﬁﬁx" + "yzwvu", PasswordRules{Require2FA: true}, ""},
		{"1024 characters", strings.Repeat("correct horse battery staple ", 40)[:1024], PasswordRules{}, ""},
		{"1025 characters", strings.Repeat("correct horse battery staple ", 40)[:1025], PasswordRules{}, "at most 1024"},
		{"blocklisted", "1qaz2wsx3edc4rfv", PasswordRules{}, "list of common and breached passwords"},
		{"blocklisted any case", "Q1W2E3R4T5Y6U7I8O9P0", PasswordRules{}, "list of common and breached passwords"},
		{"blocklisted with digits", "administrator2024", PasswordRules{}, "list of common and breached passwords"},
		{"repeated word", "qwertyqwertyqwerty", PasswordRules{}, "only repeats"},
		{"the e-mail", "ada.lovelace@uni.example", PasswordRules{}, "e-mail address"},
		{"no composition rules", "correct horse battery staple", PasswordRules{}, ""},
		{"invalid UTF-8", "abcdefghijklmno\xff", PasswordRules{}, "not valid text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckNewPassword(c.password, c.rules, "ada.lovelace@uni.example")
			if c.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || !errors.Is(err, ErrWeakPassword) || !strings.Contains(pe.Reason, c.reason) {
				t.Fatalf("err = %v, want a reason with %q", err, c.reason)
			}
		})
	}
}

func TestPasswordNeverTruncated(t *testing.T) {
	long := strings.Repeat("x", 200)
	h, err := HashPassword(long + "A")
	if err != nil {
		t.Fatal(err)
	}
	if CheckPassword(h, long+"B") == nil || CheckPassword(h, long) == nil || CheckPassword(h, long+"A") != nil {
		t.Error("a long password is compared by a prefix")
	}
	// NFKC: the precomposed and decomposed forms are one password.
	h, _ = HashPassword("café au lait, s'il vous plaît")
	if err := CheckPassword(h, "cafe\u0301 au lait, s'il vous plai\u0302t"); err != nil {
		t.Errorf("decomposed form refused: %v", err)
	}
}

func TestHashParams(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if p.MemoryKiB < 19*1024 || p.Time < 2 || p.Threads != 1 || len(p.Salt) != 16 || len(p.Key) != 32 {
		t.Errorf("hash %s: params %+v, salt %d bytes", h, p.Params, len(p.Salt))
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q", h)
	}
	for _, weak := range []Params{{MemoryKiB: 8192, Time: 2, Threads: 1}, {MemoryKiB: 19456, Time: 1, Threads: 1}, {MemoryKiB: 19456, Time: 2, Threads: 2}} {
		if _, err := HashPasswordWith(weak, "x"); err == nil {
			t.Errorf("params %+v accepted", weak)
		}
	}
	stronger := Params{MemoryKiB: 24 * 1024, Time: 3, Threads: 1}
	if !NeedsRehash(h, stronger) || NeedsRehash(h, DefaultParams) {
		t.Error("NeedsRehash wrong")
	}
}

// TestRehashOnSignIn: a hash made with weaker parameters is replaced at sign-in by one
// with the configured ones.
func TestRehashOnSignIn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "v@uni.example", "correct horse battery staple", store.RoleViewer)
	f.acc.Params = Params{MemoryKiB: 20 * 1024, Time: 3, Threads: 1}
	if _, next, err := f.acc.SignIn(ctx, "v@uni.example", "correct horse battery staple", "192.0.2.1"); err != nil || next != NextDone {
		t.Fatalf("sign-in: %v %v", next, err)
	}
	got, _ := f.st.User(ctx, f.tenant.ID, u.ID)
	if !strings.HasPrefix(got.PasswordHash, "$argon2id$v=19$m=20480,t=3,p=1$") {
		t.Errorf("after sign-in the hash is %s", got.PasswordHash)
	}
	if CheckPassword(got.PasswordHash, "correct horse battery staple") != nil {
		t.Error("re-hashed password does not verify")
	}
}

// TestTOTPVectors checks the RFC 6238 appendix B test vectors (8 digits).
func TestTOTPVectors(t *testing.T) {
	enc := func(s string) string { return strings.TrimRight(b32(s), "=") }
	seeds := map[otp.Algorithm]string{
		otp.AlgorithmSHA1:   enc("12345678901234567890"),
		otp.AlgorithmSHA256: enc("12345678901234567890123456789012"),
		otp.AlgorithmSHA512: enc("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	vectors := []struct {
		unix int64
		want map[otp.Algorithm]string
	}{
		{59, map[otp.Algorithm]string{otp.AlgorithmSHA1: "94287082", otp.AlgorithmSHA256: "46119246", otp.AlgorithmSHA512: "90693936"}},
		{1111111109, map[otp.Algorithm]string{otp.AlgorithmSHA1: "07081804", otp.AlgorithmSHA256: "68084774", otp.AlgorithmSHA512: "25091201"}},
		{1111111111, map[otp.Algorithm]string{otp.AlgorithmSHA1: "14050471", otp.AlgorithmSHA256: "67062674", otp.AlgorithmSHA512: "99943326"}},
		{1234567890, map[otp.Algorithm]string{otp.AlgorithmSHA1: "89005924", otp.AlgorithmSHA256: "91819424", otp.AlgorithmSHA512: "93441116"}},
		{2000000000, map[otp.Algorithm]string{otp.AlgorithmSHA1: "69279037", otp.AlgorithmSHA256: "90698825", otp.AlgorithmSHA512: "38618901"}},
		{20000000000, map[otp.Algorithm]string{otp.AlgorithmSHA1: "65353130", otp.AlgorithmSHA256: "77737706", otp.AlgorithmSHA512: "47863826"}},
	}
	for _, v := range vectors {
		for alg, want := range v.want {
			got, err := TOTPCode(seeds[alg], time.Unix(v.unix, 0), 8, alg)
			if err != nil || got != want {
				t.Errorf("T=%d %v: %q %v, want %q", v.unix, alg, got, err, want)
			}
		}
	}
}

func TestVerifyTOTPWindowAndReuse(t *testing.T) {
	secret := b32("12345678901234567890")
	now := time.Unix(1111111111, 0)
	code := func(at time.Time) string {
		c, _ := TOTPCode(secret, at, 6, otp.AlgorithmSHA1)
		return c
	}
	step := now.Unix() / 30
	for _, d := range []int64{-1, 0, 1} {
		got, err := VerifyTOTP(secret, code(now.Add(time.Duration(d)*30*time.Second)), now, 0)
		if err != nil || got != step+d {
			t.Errorf("step %+d: %d %v", d, got, err)
		}
	}
	for _, d := range []int64{-2, 2} {
		if _, err := VerifyTOTP(secret, code(now.Add(time.Duration(d)*30*time.Second)), now, 0); !errors.Is(err, ErrBadCode) {
			t.Errorf("step %+d accepted: %v", d, err)
		}
	}
	if _, err := VerifyTOTP(secret, code(now), now, step); !errors.Is(err, ErrCodeReused) {
		t.Errorf("reused code: %v", err)
	}
	if _, err := VerifyTOTP(secret, "12 34 5x", now, 0); !errors.Is(err, ErrBadCode) {
		t.Errorf("bad form: %v", err)
	}
}

// TestSecondFactor: a TOTP code is accepted once; recovery codes once each; the seed is
// stored sealed.
func TestSecondFactor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "a@uni.example", "correct horse battery staple", store.RoleAdmin)
	if _, next, _ := f.acc.SignIn(ctx, "a@uni.example", "correct horse battery staple", "192.0.2.1"); next != NextSetup2FA {
		t.Fatalf("an admin without 2FA: next %v, want set-up", next)
	}
	en, err := f.acc.BeginTOTP(u)
	if err != nil || !strings.HasPrefix(en.QR, "data:image/png;base64,") || !strings.HasPrefix(en.URL, "otpauth://totp/") {
		t.Fatalf("BeginTOTP = %+v, %v", en, err)
	}
	now := func() string { c, _ := TOTPCode(en.Secret, f.clk.Now(), 6, otp.AlgorithmSHA1); return c }
	codes, err := f.acc.ConfirmTOTP(ctx, u, en.Secret, now(), "192.0.2.1")
	if err != nil || len(codes) != RecoveryCodeCount {
		t.Fatalf("ConfirmTOTP: %d codes, %v", len(codes), err)
	}
	sealed, _, _ := f.st.UserTOTP(ctx, u.TenantID, u.ID)
	if !strings.HasPrefix(string(sealed), "sealed:") {
		t.Errorf("seed stored as %q", sealed)
	}
	u, _ = f.st.User(ctx, u.TenantID, u.ID)
	if _, next, _ := f.acc.SignIn(ctx, "a@uni.example", "correct horse battery staple", "192.0.2.1"); next != NextTOTP {
		t.Fatalf("next %v, want TOTP", next)
	}
	// The code used at enrolment is spent.
	if err := f.acc.SecondFactor(ctx, u, now(), "192.0.2.1"); !errors.Is(err, ErrCodeReused) {
		t.Errorf("enrolment code again: %v", err)
	}
	f.clk.Add(30 * time.Second)
	c := now()
	if err := f.acc.SecondFactor(ctx, u, c, "192.0.2.1"); err != nil {
		t.Fatalf("fresh code: %v", err)
	}
	if err := f.acc.SecondFactor(ctx, u, c, "192.0.2.1"); !errors.Is(err, ErrCodeReused) {
		t.Errorf("same code twice: %v", err)
	}
	if err := f.acc.SecondFactor(ctx, u, strings.ToLower(codes[0]), "192.0.2.1"); err != nil {
		t.Errorf("recovery code: %v", err)
	}
	if err := f.acc.SecondFactor(ctx, u, codes[0], "192.0.2.1"); !errors.Is(err, ErrBadCode) {
		t.Errorf("recovery code twice: %v", err)
	}
	if n, _ := f.st.RecoveryCodesLeft(ctx, u.TenantID, u.ID); n != RecoveryCodeCount-1 {
		t.Errorf("%d recovery codes left", n)
	}
}

// TestThrottle: the delay grows with failures on a fake clock, and the 101st failure in
// an hour is refused outright.
func TestThrottle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.user(t, "v@uni.example", "correct horse battery staple", store.RoleViewer)
	var waits []time.Duration
	ip := 0
	attempt := func(password string) error {
		ip++ // a new address each time, so only the account's count matters here
		_, _, err := f.acc.SignIn(ctx, "v@uni.example", password, "198.51.100."+string(rune('0'+ip%10)))
		return err
	}
	for i := range MaxFailuresPerHour {
		err := attempt("wrong wrong wrong wrong")
		var te *ThrottledError
		if errors.As(err, &te) {
			waits = append(waits, te.Wait)
			f.clk.Add(te.Wait)
			err = attempt("wrong wrong wrong wrong")
		}
		if !errors.Is(err, ErrSignIn) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	for i := 1; i < len(waits) && waits[i-1] < maxDelay; i++ {
		if waits[i] <= waits[i-1] {
			t.Errorf("delay did not grow: %v", waits[:i+1])
		}
	}
	if len(waits) < 5 || waits[0] != time.Second || waits[len(waits)-1] != maxDelay {
		t.Errorf("delays %v", waits)
	}
	f.clk.Add(maxDelay)
	err := attempt("correct horse battery staple")
	var te *ThrottledError
	if !errors.As(err, &te) || !te.Limit {
		t.Fatalf("101st attempt in the hour: %v, want refused by the hourly limit", err)
	}
	// The refusal came before the password was checked: the right one is refused too.
	events, _ := f.st.AuditEvents(ctx, f.tenant.ID, 200)
	locked := 0
	for _, e := range events {
		if e.Action == "account.locked" {
			locked++
		}
	}
	if locked != 1 {
		t.Errorf("%d account.locked events, want 1", locked)
	}
	f.clk.Add(time.Hour)
	if _, _, err := f.acc.SignIn(ctx, "v@uni.example", "correct horse battery staple", "192.0.2.9"); err != nil {
		t.Errorf("an hour later: %v", err)
	}
}

func TestThrottleIP(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	th := &Throttle{Now: clk.Now}
	for range ipExtraFree + freeFailures {
		if err := th.CheckIP("192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		th.FailIP("192.0.2.1")
	}
	var te *ThrottledError
	if err := th.CheckIP("192.0.2.1"); !errors.As(err, &te) || te.Wait != time.Second {
		t.Fatalf("after %d failures: %v", ipExtraFree+freeFailures, err)
	}
	if err := th.CheckIP("192.0.2.2"); err != nil {
		t.Errorf("another address: %v", err)
	}
	clk.Add(time.Second)
	th.FailIP("192.0.2.1")
	if err := th.CheckIP("192.0.2.1"); !errors.As(err, &te) || te.Wait != 2*time.Second {
		t.Errorf("delay did not double: %v", err)
	}
}

func TestLockUnlockAudited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "v@uni.example", "correct horse battery staple", store.RoleViewer)
	if err := f.acc.Lock(ctx, u.TenantID, u.ID, "cli", "left the university"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.acc.SignIn(ctx, "v@uni.example", "correct horse battery staple", "192.0.2.1"); !errors.Is(err, ErrLocked) {
		t.Errorf("locked account signed in: %v", err)
	}
	if _, _, err := f.acc.SignIn(ctx, "v@uni.example", "wrong wrong wrong wrong", "192.0.2.1"); !errors.Is(err, ErrSignIn) {
		t.Errorf("a wrong password on a locked account: %v, want the usual answer", err)
	}
	if err := f.acc.Unlock(ctx, u.TenantID, u.ID, "cli"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.acc.SignIn(ctx, "v@uni.example", "correct horse battery staple", "192.0.2.1"); err != nil {
		t.Errorf("after unlock: %v", err)
	}
	events, _ := f.st.AuditEvents(ctx, f.tenant.ID, 50)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{"account.locked", "account.unlocked", "signin.refused"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit %q lacks %s", got, want)
		}
	}
}

func TestForcedResetAndExpiry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "v@uni.example", "correct horse battery staple", store.RoleViewer)
	pw, err := f.acc.ResetPassword(ctx, u.TenantID, u.ID, "cli")
	if err != nil {
		t.Fatal(err)
	}
	u, next, err := f.acc.SignIn(ctx, "v@uni.example", pw, "192.0.2.1")
	if err != nil || next != NextChangePassword {
		t.Fatalf("after reset: %v %v", next, err)
	}
	if err := f.acc.ChangePassword(ctx, u, pw, "short", "192.0.2.1"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("weak new password: %v", err)
	}
	if err := f.acc.ChangePassword(ctx, u, "not it", "a much better passphrase", "192.0.2.1"); !errors.Is(err, ErrPassword) {
		t.Errorf("wrong current password: %v", err)
	}
	if err := f.acc.ChangePassword(ctx, u, pw, "a much better passphrase", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	u, next, err = f.acc.SignIn(ctx, "v@uni.example", "a much better passphrase", "192.0.2.1")
	if err != nil || next != NextDone {
		t.Fatalf("after change: %v %v", next, err)
	}
	// Expiry is off by default; a tenant may turn it on.
	f.clk.Add(400 * 24 * time.Hour)
	if n, _ := f.acc.Pending(ctx, u, false); n != NextDone {
		t.Errorf("expired without a policy: %v", n)
	}
	if err := f.st.SetTenantPolicy(ctx, store.TenantPolicy{TenantID: f.tenant.ID, PasswordMaxAge: 365 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.acc.Pending(ctx, u, false); n != NextChangePassword {
		t.Errorf("password older than the policy allows: %v", n)
	}
	// A tenant that requires 2FA sends every user to set it up.
	if err := f.st.SetTenantPolicy(ctx, store.TenantPolicy{TenantID: f.tenant.ID, Require2FA: true}); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.acc.Pending(ctx, u, false); n != NextSetup2FA {
		t.Errorf("tenant requires 2FA: %v", n)
	}
	if rules, _ := f.acc.Rules(ctx, f.tenant.ID); rules.MinLength() != 12 {
		t.Errorf("min length with 2FA required: %d", rules.MinLength())
	}
}

// TestSessionTimeouts: idle and absolute expiry on a fake clock, per-tenant timeouts,
// cookie attributes, and a new token at every sign-in step.
func TestSessionTimeouts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "v@uni.example", "correct horse battery staple", store.RoleViewer)
	s := &Sessions{Store: f.st, Policies: f.st, Now: f.clk.Now}
	start := func(r *http.Request, stage string) (*http.Cookie, *http.Request) {
		w := httptest.NewRecorder()
		if _, err := s.Start(ctx, w, r, u.TenantID, u.ID, stage); err != nil {
			t.Fatal(err)
		}
		c := w.Result().Cookies()[0]
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(c)
		return c, req
	}
	c, r := start(nil, store.SessionFull)
	if c.Name != "__Host-aula" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || len(c.Value) != 43 {
		t.Errorf("cookie %+v", c)
	}
	// Idle: used every 29 minutes it lives; 30 minutes unused ends it.
	for range 5 {
		f.clk.Add(29 * time.Minute)
		if _, err := s.Get(ctx, r); err != nil {
			t.Fatalf("within the idle timeout: %v", err)
		}
	}
	f.clk.Add(30 * time.Minute)
	if _, err := s.Get(ctx, r); !errors.Is(err, ErrNoSession) {
		t.Errorf("idle 30 min: %v", err)
	}
	// Absolute: 12 h after sign-in, however busy.
	_, r = start(nil, store.SessionFull)
	for range 24 {
		f.clk.Add(29 * time.Minute)
		if _, err := s.Get(ctx, r); err != nil {
			t.Fatalf("before 12 h: %v", err)
		}
	}
	f.clk.Add(25 * time.Minute)
	if _, err := s.Get(ctx, r); !errors.Is(err, ErrNoSession) {
		t.Errorf("after 12 h 1 min: %v", err)
	}
	// A tenant's own timeouts.
	if err := f.st.SetTenantPolicy(ctx, store.TenantPolicy{TenantID: f.tenant.ID, IdleTimeout: 5 * time.Minute, AbsoluteTimeout: time.Hour}); err != nil {
		t.Fatal(err)
	}
	_, r = start(nil, store.SessionFull)
	f.clk.Add(5 * time.Minute)
	if _, err := s.Get(ctx, r); !errors.Is(err, ErrNoSession) {
		t.Errorf("tenant idle timeout of 5 min: %v", err)
	}
	// Rotation: a planted cookie stays worthless; each step gets a new token and ends
	// the one before.
	planted := httptest.NewRequest("GET", "/", nil)
	planted.AddCookie(&http.Cookie{Name: CookieName, Value: strings.Repeat("A", 43)})
	c1, r1 := start(planted, store.SessionMFA)
	if c1.Value == strings.Repeat("A", 43) {
		t.Fatal("sign-in kept the planted token")
	}
	if _, err := s.Get(ctx, r1); !errors.Is(err, ErrStage) {
		t.Errorf("a session awaiting the second factor is signed in: %v", err)
	}
	c2, r2 := start(r1, store.SessionFull)
	if c2.Value == c1.Value {
		t.Fatal("the second step kept the token")
	}
	if _, err := s.Current(ctx, r1); !errors.Is(err, ErrNoSession) {
		t.Errorf("the first step's token still works: %v", err)
	}
	if _, err := s.Get(ctx, r2); err != nil {
		t.Errorf("signed in: %v", err)
	}
}

func b32(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var out []byte
	var buf, bits uint
	for _, c := range []byte(s) {
		buf = buf<<8 | uint(c)
		bits += 8
		for bits >= 5 {
			out = append(out, alphabet[(buf>>(bits-5))&31])
			bits -= 5
		}
	}
	if bits > 0 {
		out = append(out, alphabet[(buf<<(5-bits))&31])
	}
	return string(out)
}

func FuzzParseSessionToken(f *testing.F) {
	f.Add(strings.Repeat("A", 43))
	f.Add("")
	f.Add(strings.Repeat("_", 42) + "=")
	f.Fuzz(func(t *testing.T, s string) {
		if v, ok := ParseSessionToken(s); ok && (v != s || len(v) != 43) {
			t.Errorf("ParseSessionToken(%q) = %q", s, v)
		}
	})
}

func FuzzParseTOTPCode(f *testing.F) {
	f.Add("123 456")
	f.Add("12345x")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseTOTPCode(s)
		if err == nil && (len(c) != 6 || strings.Trim(c, "0123456789") != "") {
			t.Errorf("ParseTOTPCode(%q) = %q", s, c)
		}
		_, _ = VerifyTOTP("JBSWY3DPEHPK3PXP", s, time.Unix(1e9, 0), 0)
	})
}

func FuzzParseRecoveryCode(f *testing.F) {
	f.Add("ABCD-EFGH-IJKL-MNOP")
	f.Add("abcd efgh ijkl mnop")
	f.Add("0000-0000-0000-0000")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseRecoveryCode(s)
		if err == nil && len(c) != 16 {
			t.Errorf("ParseRecoveryCode(%q) = %q", s, c)
		}
	})
}

func FuzzParseHash(f *testing.F) {
	h, _ := HashPassword("x")
	f.Add(h)
	f.Add("$argon2id$v=19$m=99999999,t=2,p=1$AA$AA")
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParseHash(s); err == nil && (p.MemoryKiB > 1<<22 || p.Time > 100) {
			t.Errorf("ParseHash(%q) accepted %+v", s, p.Params)
		}
	})
}
