package capture

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// asoundPCM is /proc/asound/pcm of a laptop with HDMI outputs and a USB microphone.
const asoundPCMText = `00-00: ALC3246 Analog : ALC3246 Analog : playback 1 : capture 1
00-03: HDMI 0 : HDMI 0 : playback 1
00-07: HDMI 1 : HDMI 1 : playback 1
01-00: USB Audio : USB Audio : capture 1
`

// asoundCardsText is /proc/asound/cards of the same laptop.
const asoundCardsText = ` 0 [PCH            ]: HDA-Intel - HDA Intel PCH
                      HDA Intel PCH at 0xf7f10000 irq 31
 1 [Microphone     ]: USB-Audio - Yeti Stereo Microphone
                      Blue Microphones Yeti Stereo Microphone at usb-0000:00:14.0-2, full speed
`

func TestParseAsoundPCM(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []asoundPCM
	}{
		{"laptop", asoundPCMText, []asoundPCM{
			{Card: 0, Device: 0, ID: "ALC3246 Analog", Name: "ALC3246 Analog", Playback: 1, Capture: 1},
			{Card: 0, Device: 3, ID: "HDMI 0", Name: "HDMI 0", Playback: 1},
			{Card: 0, Device: 7, ID: "HDMI 1", Name: "HDMI 1", Playback: 1},
			{Card: 1, Device: 0, ID: "USB Audio", Name: "USB Audio", Capture: 1},
		}},
		{"name with separator and many substreams", "12-02: emu10k1 : Multichannel : Capture : capture 16\n", []asoundPCM{
			{Card: 12, Device: 2, ID: "emu10k1", Name: "Multichannel : Capture", Capture: 16},
		}},
		{"bad direction stays in the name", "00-01: id : name : capture x\n", []asoundPCM{
			{Card: 0, Device: 1, ID: "id", Name: "name : capture x"},
		}},
		{"id only", "02-00: solo\n", []asoundPCM{{Card: 2, ID: "solo"}}},
		{"junk", "--- no soundcards ---\nxx-00: a : b : capture 1\n00-: a\n", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseAsoundPCM([]byte(tt.text))
			if !slices.Equal(got, tt.want) {
				t.Errorf("parseAsoundPCM =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseAsoundCards(t *testing.T) {
	tests := []struct {
		name string
		text string
		want map[int]string
	}{
		{"laptop", asoundCardsText, map[int]string{0: "HDA Intel PCH", 1: "Yeti Stereo Microphone"}},
		{"two digits", "10 [Loopback       ]: Loopback - Loopback\n                      Loopback 1\n", map[int]string{10: "Loopback"}},
		{"no driver", " 3 [X]: Plain name\n", map[int]string{3: "Plain name"}},
		{"no cards", "--- no soundcards ---\n", map[int]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseAsoundCards([]byte(tt.text)); !maps.Equal(got, tt.want) {
				t.Errorf("parseAsoundCards = %v, want %v", got, tt.want)
			}
		})
	}
}

func checkShowable(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) || s != strings.TrimSpace(s) {
		t.Errorf("%s %q is not fit to show", what, s)
	}
}

func FuzzParseAsoundPCM(f *testing.F) {
	for _, s := range []string{asoundPCMText, "", "00-00: : : capture 1 : playback 2", "99999-0: a\x00b : c"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		for _, pcm := range parseAsoundPCM(text) {
			checkShowable(t, "id", pcm.ID)
			checkShowable(t, "name", pcm.Name)
			if pcm.Card < 0 || pcm.Device < 0 || pcm.Capture < 0 || pcm.Playback < 0 {
				t.Errorf("negative numbers in %+v", pcm)
			}
		}
	})
}

func FuzzParseAsoundCards(f *testing.F) {
	for _, s := range []string{asoundCardsText, "", "--- no soundcards ---", " 1 []: - \n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		for n, name := range parseAsoundCards(text) {
			checkShowable(t, "card name", name)
			if n < 0 || name == "" {
				t.Errorf("card %d named %q", n, name)
			}
		}
	})
}
