package blob_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aulacapture/aula/server/blob"
)

const (
	tenant    = "0190a8c2-7d4e-7b3a-9f10-1234567890ab"
	recording = "0190a8c2-7d4e-7b3a-9f10-abcdefabcdef"
)

func TestSegmentKey(t *testing.T) {
	long := strings.Repeat("a", 32)
	tests := []struct {
		name                     string
		tenant, recording, track string
		seq                      int
		want                     string // "" means ErrBadKey
		part                     string // the part the error must name
	}{
		{"first", tenant, recording, "camera", 1, "tenants/" + tenant + "/recordings/" + recording + "/camera/000001.m4s", ""},
		{"max seq", tenant, recording, "screen-1", blob.MaxSeq, "tenants/" + tenant + "/recordings/" + recording + "/screen-1/9999999.m4s", ""},
		{"6 digits", tenant, recording, "a_b", 999_999, "tenants/" + tenant + "/recordings/" + recording + "/a_b/999999.m4s", ""},
		{"32-char track", tenant, recording, long, 7, "tenants/" + tenant + "/recordings/" + recording + "/" + long + "/000007.m4s", ""},
		{"1-char track", tenant, recording, "a", 7, "tenants/" + tenant + "/recordings/" + recording + "/a/000007.m4s", ""},

		{"seq 0", tenant, recording, "camera", 0, "", "seq"},
		{"seq negative", tenant, recording, "camera", -1, "", "seq"},
		{"seq too big", tenant, recording, "camera", blob.MaxSeq + 1, "", "seq"},
		{"33-char track", tenant, recording, long + "a", 1, "", "track"},
		{"empty track", tenant, recording, "", 1, "", "track"},
		{"track dotdot", tenant, recording, "..", 1, "", "track"},
		{"track dot", tenant, recording, ".", 1, "", "track"},
		{"track encoded dotdot", tenant, recording, "%2e%2e", 1, "", "track"},
		{"track slash", tenant, recording, "a/b", 1, "", "track"},
		{"track backslash", tenant, recording, `a\b`, 1, "", "track"},
		{"track uppercase", tenant, recording, "A", 1, "", "track"},
		{"track uppercase inside", tenant, recording, "camEra", 1, "", "track"},
		{"track NUL", tenant, recording, "cam\x00", 1, "", "track"},
		{"track starts with digit", tenant, recording, "1cam", 1, "", "track"},
		{"track starts with dash", tenant, recording, "-cam", 1, "", "track"},
		{"track space", tenant, recording, "cam era", 1, "", "track"},
		{"track unicode", tenant, recording, "caméra", 1, "", "track"},
		{"track percent", tenant, recording, "cam%20", 1, "", "track"},
		{"tenant empty", "", recording, "camera", 1, "", "tenant"},
		{"tenant uppercase", strings.ToUpper(tenant), recording, "camera", 1, "", "tenant"},
		{"tenant dotdot", "..", recording, "camera", 1, "", "tenant"},
		{"tenant no dashes", strings.ReplaceAll(tenant, "-", "") + "0000", recording, "camera", 1, "", "tenant"},
		{"tenant braces", "{" + tenant[1:35] + "}", recording, "camera", 1, "", "tenant"},
		{"tenant slash", tenant[:35] + "/", recording, "camera", 1, "", "tenant"},
		{"tenant not hex", "g" + tenant[1:], recording, "camera", 1, "", "tenant"},
		{"tenant NUL", tenant[:35] + "\x00", recording, "camera", 1, "", "tenant"},
		{"tenant too long", tenant + "0", recording, "camera", 1, "", "tenant"},
		{"recording empty", tenant, "", "camera", 1, "", "recording"},
		{"recording encoded", tenant, "%2e%2e", "camera", 1, "", "recording"},
		{"recording dash moved", tenant, recording[:7] + "-" + recording[7:35], "camera", 1, "", "recording"},
		{"recording backslash", tenant, `\` + recording[1:], "camera", 1, "", "recording"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := blob.SegmentKey(tc.tenant, tc.recording, tc.track, tc.seq)
			if tc.want == "" {
				if !errors.Is(err, blob.ErrBadKey) {
					t.Fatalf("err = %v, want ErrBadKey", err)
				}
				if !strings.Contains(err.Error(), tc.part) {
					t.Fatalf("error %q does not name %s", err, tc.part)
				}
				if k.String() != "" {
					t.Fatalf("failed constructor returned key %q", k)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.String() != tc.want {
				t.Fatalf("String = %q, want %q", k, tc.want)
			}
			p, err := blob.ParseKey(tc.want)
			if err != nil || p != k {
				t.Fatalf("ParseKey(%q) = %v, %v; want %v", tc.want, p, err, k)
			}
			if k.Tenant() != tc.tenant || k.Recording() != tc.recording || k.Track() != tc.track || k.Seq() != tc.seq {
				t.Fatalf("accessors = %s %s %s %d", k.Tenant(), k.Recording(), k.Track(), k.Seq())
			}
		})
	}
}

func TestInitKey(t *testing.T) {
	k, err := blob.InitKey(tenant, recording, "audio")
	if err != nil {
		t.Fatal(err)
	}
	want := "tenants/" + tenant + "/recordings/" + recording + "/audio/init.mp4"
	if k.String() != want || k.Seq() != 0 {
		t.Fatalf("InitKey = %q seq %d", k, k.Seq())
	}
	if p, err := blob.ParseKey(want); err != nil || p != k {
		t.Fatalf("ParseKey = %v, %v", p, err)
	}
	if _, err := blob.InitKey(tenant, recording, ".."); !errors.Is(err, blob.ErrBadKey) {
		t.Fatalf("InitKey(..) err = %v", err)
	}
}

func TestParseKeyRejects(t *testing.T) {
	base := "tenants/" + tenant + "/recordings/" + recording + "/camera/"
	for _, s := range []string{
		"",
		base,
		base + "1.m4s",
		base + "00001.m4s",
		base + "0000001.m4s", // 7 digits with a leading zero: not canonical
		base + "10000000.m4s",
		base + "000000.m4s",
		base + "000001.M4S",
		base + "000001.mp4",
		base + "init.m4s",
		base + "INIT.mp4",
		base + "+00001.m4s",
		base + "-00001.m4s",
		base + " 00001.m4s",
		base + "000001.m4s/",
		base + "../000001.m4s",
		base + "%2e%2e/000001.m4s",
		"/" + base + "000001.m4s",
		base + "000001.m4s\x00",
		"tenants/" + tenant + "/recordings/" + recording + "/../000001.m4s",
		"tenants/" + tenant + "/recordings/" + recording + "/camera//000001.m4s",
		"tenants/" + tenant + "/recording/" + recording + "/camera/000001.m4s",
		"Tenants/" + tenant + "/recordings/" + recording + "/camera/000001.m4s",
		"tenants/" + strings.ToUpper(tenant) + "/recordings/" + recording + "/camera/000001.m4s",
		`tenants\` + tenant + `\recordings\` + recording + `\camera\000001.m4s`,
		"tenants/" + tenant + "/recordings/" + recording + "/camera/000001.m4s" + strings.Repeat("x", 200),
	} {
		if k, err := blob.ParseKey(s); !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("ParseKey(%q) = %q, %v; want ErrBadKey", s, k, err)
		}
	}
}

func TestPrefix(t *testing.T) {
	rp, err := blob.RecordingPrefix(tenant, recording)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := blob.TenantPrefix(tenant)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rp.String(), "tenants/"+tenant+"/recordings/"+recording+"/"; got != want {
		t.Fatalf("RecordingPrefix = %q, want %q", got, want)
	}
	if got, want := tp.String(), "tenants/"+tenant+"/"; got != want {
		t.Fatalf("TenantPrefix = %q, want %q", got, want)
	}
	k, _ := blob.SegmentKey(tenant, recording, "camera", 1)
	other, _ := blob.SegmentKey(recording, recording, "camera", 1) // same recording, other tenant
	if !rp.Contains(k) || !tp.Contains(k) || rp.Contains(other) || tp.Contains(other) || (blob.Prefix{}).Contains(k) {
		t.Fatal("Contains is wrong")
	}
	for _, bad := range []string{"", "..", "%2e%2e", "a/b", "A", strings.ToUpper(tenant), tenant + "/"} {
		if _, err := blob.TenantPrefix(bad); !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("TenantPrefix(%q) err = %v", bad, err)
		}
		if _, err := blob.RecordingPrefix(tenant, bad); !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("RecordingPrefix(%q) err = %v", bad, err)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	base := "tenants/" + tenant + "/recordings/" + recording + "/"
	for _, s := range []string{
		base + "camera/000001.m4s", base + "screen-2/init.mp4", base + "a/9999999.m4s",
		base + "../000001.m4s", base + "camera/0000001.m4s", "", "tenants/", "\x00", base + "A/init.mp4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := blob.ParseKey(s)
		if err != nil {
			if !errors.Is(err, blob.ErrBadKey) {
				t.Fatalf("ParseKey(%q) err = %v, not ErrBadKey", s, err)
			}
			return
		}
		if k.String() != s {
			t.Fatalf("ParseKey(%q).String() = %q", s, k)
		}
		var want blob.Key
		if k.Seq() == 0 {
			want, err = blob.InitKey(k.Tenant(), k.Recording(), k.Track())
		} else {
			want, err = blob.SegmentKey(k.Tenant(), k.Recording(), k.Track(), k.Seq())
		}
		if err != nil || want != k {
			t.Fatalf("constructors disagree with ParseKey(%q): %v, %v", s, want, err)
		}
		if strings.Contains(s, "..") || strings.ContainsAny(s, "\\%\x00") {
			t.Fatalf("accepted %q", s)
		}
	})
}

func ExampleSegmentKey() {
	k, err := blob.SegmentKey("0190a8c2-7d4e-7b3a-9f10-1234567890ab", "0190a8c2-7d4e-7b3a-9f10-abcdefabcdef", "camera", 42)
	fmt.Println(k, err)
	_, err = blob.SegmentKey("0190a8c2-7d4e-7b3a-9f10-1234567890ab", "0190a8c2-7d4e-7b3a-9f10-abcdefabcdef", "..", 42)
	fmt.Println(err)
	// Output:
	// tenants/0190a8c2-7d4e-7b3a-9f10-1234567890ab/recordings/0190a8c2-7d4e-7b3a-9f10-abcdefabcdef/camera/000042.m4s <nil>
	// bad blob key: track ID ".." must match [a-z][a-z0-9_-]*
}
