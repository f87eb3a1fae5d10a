package capture

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// pactlPulse is `pactl list short sources` on PulseAudio with a USB microphone.
const pactlPulse = "0\talsa_output.pci-0000_00_1f.3.analog-stereo.monitor\tmodule-alsa-card.c\ts16le 2ch 48000Hz\tSUSPENDED\n" +
	"1\talsa_input.pci-0000_00_1f.3.analog-stereo\tmodule-alsa-card.c\ts16le 2ch 44100Hz\tSUSPENDED\n" +
	"2\talsa_input.usb-Blue_Microphones_Yeti_Stereo_Microphone_REV8-00.analog-stereo\tmodule-alsa-card.c\ts16le 2ch 48000Hz\tRUNNING\n"

// pactlPipeWire is the same on PipeWire's PulseAudio server with a headset.
const pactlPipeWire = "56\talsa_output.pci-0000_00_1f.3.analog-stereo.monitor\tPipeWire\ts32le 2ch 48000Hz\tSUSPENDED\n" +
	"57\talsa_input.pci-0000_00_1f.3.analog-stereo\tPipeWire\ts32le 2ch 48000Hz\tSUSPENDED\n" +
	"91\tbluez_input.00_1B_66_81_8A_AB.0\tPipeWire\tfloat32le 1ch 16000Hz\tIDLE\n"

func TestParsePactlSources(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []pulseSource
	}{
		{"pulseaudio", pactlPulse, []pulseSource{
			{Name: "alsa_output.pci-0000_00_1f.3.analog-stereo.monitor", Driver: "module-alsa-card.c", SampleRate: 48000, Channels: 2, State: "SUSPENDED", Monitor: true},
			{Name: "alsa_input.pci-0000_00_1f.3.analog-stereo", Driver: "module-alsa-card.c", SampleRate: 44100, Channels: 2, State: "SUSPENDED"},
			{Name: "alsa_input.usb-Blue_Microphones_Yeti_Stereo_Microphone_REV8-00.analog-stereo", Driver: "module-alsa-card.c", SampleRate: 48000, Channels: 2, State: "RUNNING"},
		}},
		{"pipewire", pactlPipeWire, []pulseSource{
			{Name: "alsa_output.pci-0000_00_1f.3.analog-stereo.monitor", Driver: "PipeWire", SampleRate: 48000, Channels: 2, State: "SUSPENDED", Monitor: true},
			{Name: "alsa_input.pci-0000_00_1f.3.analog-stereo", Driver: "PipeWire", SampleRate: 48000, Channels: 2, State: "SUSPENDED"},
			{Name: "bluez_input.00_1B_66_81_8A_AB.0", Driver: "PipeWire", SampleRate: 16000, Channels: 1, State: "IDLE"},
		}},
		{"CRLF and short lines", "3\tmic\r\n4\tnull\tmodule-null-sink.c\n", []pulseSource{
			{Name: "mic"}, {Name: "null", Driver: "module-null-sink.c"},
		}},
		{"odd sample spec", "5\tx\td\tulaw 99ch 0Hz\tIDLE\n", []pulseSource{{Name: "x", Driver: "d", State: "IDLE"}}},
		{"junk", "Connection failure: Connection refused\n\n\tname\nx\ty\n", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parsePactlSources([]byte(tt.text))
			if !slices.Equal(got, tt.want) {
				t.Errorf("parsePactlSources =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func FuzzParsePactl(f *testing.F) {
	for _, s := range []string{pactlPulse, pactlPipeWire, "", "1\t\t\t\t\n", "0\tx\ty\t2ch 2ch 9999999999Hz"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		for _, src := range parsePactlSources(out) {
			if src.Name == "" || !utf8.ValidString(src.Name) || strings.ContainsFunc(src.Name, unicode.IsControl) {
				t.Errorf("bad source name %q", src.Name)
			}
			if src.SampleRate < 0 || src.SampleRate > maxRate || src.Channels < 0 || src.Channels > maxChannels {
				t.Errorf("source %q: rate %d, channels %d", src.Name, src.SampleRate, src.Channels)
			}
		}
	})
}
