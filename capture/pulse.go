package capture

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// pulseSource is one line of `pactl list short sources`.
type pulseSource struct {
	Name       string
	Driver     string
	SampleRate int
	Channels   int
	State      string
	// Monitor reports a source that records what a sink plays, not a microphone.
	Monitor bool
}

// parsePactlSources parses the output of `pactl list short sources`: one source a line,
// tab-separated index, name, driver, sample spec and state, as in
//
//	1	alsa_input.pci-0000_00_1f.3.analog-stereo	module-alsa-card.c	s16le 2ch 44100Hz	SUSPENDED
//
// Lines it cannot read are skipped.
func parsePactlSources(out []byte) []pulseSource {
	var sources []pulseSource
	for line := range strings.Lines(string(out)) {
		fields := strings.Split(strings.TrimRight(line, "\r\n"), "\t")
		if len(fields) < 2 {
			continue
		}
		if _, ok := parseNumber(strings.TrimSpace(fields[0]), 0, 1<<30); !ok {
			continue
		}
		name := strings.TrimSpace(fields[1])
		if name == "" || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
			continue
		}
		src := pulseSource{Name: name, Monitor: strings.HasSuffix(name, ".monitor")}
		if len(fields) > 2 {
			src.Driver = strings.TrimSpace(fields[2])
		}
		if len(fields) > 3 {
			src.SampleRate, src.Channels = parseSampleSpec(fields[3])
		}
		if len(fields) > 4 {
			src.State = strings.TrimSpace(fields[4])
		}
		sources = append(sources, src)
	}
	return sources
}

// parseSampleSpec reads rate and channels from a PulseAudio sample spec such as
// "s16le 2ch 44100Hz"; what it cannot read stays 0.
func parseSampleSpec(spec string) (rate, channels int) {
	for word := range strings.FieldsSeq(spec) {
		if n, ok := strings.CutSuffix(word, "ch"); ok {
			channels, _ = parseNumber(n, 1, maxChannels)
		} else if n, ok := strings.CutSuffix(word, "Hz"); ok {
			rate, _ = parseNumber(n, 1, maxRate)
		}
	}
	return rate, channels
}
