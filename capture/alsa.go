package capture

import (
	"strings"
	"unicode"
)

// asoundPCM is one line of /proc/asound/pcm.
type asoundPCM struct {
	Card, Device int
	ID, Name     string
	// Playback and Capture count the substreams in each direction.
	Playback, Capture int
}

// parseAsoundPCM parses /proc/asound/pcm, which the kernel writes one PCM a line as
//
//	00-00: ALC3246 Analog : ALC3246 Analog : playback 1 : capture 1
//
// (card-device, id, name, then the directions it has). Lines it cannot read are skipped.
func parseAsoundPCM(text []byte) []asoundPCM {
	var pcms []asoundPCM
	for line := range strings.Lines(string(text)) {
		line = strings.TrimRight(line, "\r\n")
		head, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		cardText, devText, ok := strings.Cut(head, "-")
		if !ok {
			continue
		}
		card, okCard := parseNumber(cardText, 0, 1<<16)
		dev, okDev := parseNumber(devText, 0, 1<<16)
		if !okCard || !okDev {
			continue
		}
		parts := strings.Split(rest, " : ")
		pcm := asoundPCM{Card: card, Device: dev}
		// The directions come last; id and name (which may hold " : ") come before.
		for len(parts) > 1 {
			last := parts[len(parts)-1]
			if n, ok := strings.CutPrefix(last, "capture "); ok {
				pcm.Capture, ok = parseNumber(n, 0, 1<<16)
				if !ok {
					break
				}
			} else if n, ok := strings.CutPrefix(last, "playback "); ok {
				pcm.Playback, ok = parseNumber(n, 0, 1<<16)
				if !ok {
					break
				}
			} else {
				break
			}
			parts = parts[:len(parts)-1]
		}
		pcm.ID = cleanName(parts[0])
		if len(parts) > 1 {
			pcm.Name = cleanName(strings.Join(parts[1:], " : "))
		}
		pcms = append(pcms, pcm)
	}
	return pcms
}

// parseAsoundCards reads the card numbers and short names from /proc/asound/cards,
// which the kernel writes as
//
//	0 [PCH            ]: HDA-Intel - HDA Intel PCH
//	                     HDA Intel PCH at 0xf7f10000 irq 31
//
// (number, id, driver and short name, then the long name on a line of its own).
func parseAsoundCards(text []byte) map[int]string {
	cards := map[int]string{}
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		numText, rest, ok := strings.Cut(line, " [")
		if !ok {
			continue
		}
		num, ok := parseNumber(numText, 0, 1<<16)
		if !ok {
			continue
		}
		_, rest, ok = strings.Cut(rest, "]: ")
		if !ok {
			continue
		}
		name := rest
		if _, short, ok := strings.Cut(rest, " - "); ok {
			name = short
		}
		if name = cleanName(name); name != "" {
			cards[num] = name
		}
	}
	return cards
}

// cleanName makes text from the kernel fit to show: valid UTF-8, no control characters,
// no surrounding spaces.
func cleanName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
