//go:build race

package ingest

// raceEnabled is set under the race detector, where sync.Pool drops items at random.
const raceEnabled = true
