package faultproxy

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults used where a Faults field is zero.
const (
	DefaultMaxBytes = 256 << 10
	DefaultStallFor = 5 * time.Second
)

// Faults says which faults the proxy injects. The four probabilities are exclusive: each
// accepted connection gets at most one of Reset, Stall, Drop and Refuse, so their sum must
// not exceed 1. The zero value forwards every connection untouched.
type Faults struct {
	// Seed starts the random sequence the fault choices and byte offsets are drawn from.
	Seed int64
	// Reset is the probability that a connection is closed with RST on both sides after a
	// random number of bytes (0..MaxBytes) has been forwarded in either direction.
	Reset float64
	// Stall is the probability that forwarding stops in both directions after a random
	// number of bytes (0..MaxBytes), for StallFor, and then continues.
	Stall float64
	// Drop is the probability that a connection is accepted but never connected upstream
	// nor answered (a black hole), until the client gives up or the proxy closes.
	Drop float64
	// Refuse is the probability that a connection is reset right after it is accepted.
	Refuse float64
	// MaxBytes bounds the random byte offsets of Reset and Stall; zero means
	// DefaultMaxBytes.
	MaxBytes int
	// StallFor is how long a stall lasts; zero means DefaultStallFor.
	StallFor time.Duration
	// Latency is waited once per connection, before it is connected upstream.
	Latency time.Duration
	// BytesPerSecond, when positive, limits the throughput of each direction of each
	// connection.
	BytesPerSecond int
}

// Validate reports the first field whose value is out of range, wrapping ErrInvalidFaults.
func (f Faults) Validate() error {
	probs := []struct {
		name string
		v    float64
	}{{"Reset", f.Reset}, {"Stall", f.Stall}, {"Drop", f.Drop}, {"Refuse", f.Refuse}}
	sum := 0.0
	for _, p := range probs {
		if !(p.v >= 0 && p.v <= 1) { // also catches NaN
			return fmt.Errorf("%w: %s is %v, want 0..1", ErrInvalidFaults, p.name, p.v)
		}
		sum += p.v
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("%w: Reset+Stall+Drop+Refuse is %v, want at most 1", ErrInvalidFaults, sum)
	}
	switch {
	case f.MaxBytes < 0:
		return fmt.Errorf("%w: MaxBytes is %d, want >= 0", ErrInvalidFaults, f.MaxBytes)
	case f.StallFor < 0:
		return fmt.Errorf("%w: StallFor is %v, want >= 0", ErrInvalidFaults, f.StallFor)
	case f.Latency < 0:
		return fmt.Errorf("%w: Latency is %v, want >= 0", ErrInvalidFaults, f.Latency)
	case f.BytesPerSecond < 0:
		return fmt.Errorf("%w: BytesPerSecond is %d, want >= 0", ErrInvalidFaults, f.BytesPerSecond)
	}
	return nil
}

func (f Faults) withDefaults() Faults {
	if f.MaxBytes == 0 {
		f.MaxBytes = DefaultMaxBytes
	}
	if f.StallFor == 0 {
		f.StallFor = DefaultStallFor
	}
	return f
}

// kind is the fault chosen for one connection.
type kind uint8

const (
	kindNone kind = iota
	kindReset
	kindStall
	kindDrop
	kindRefuse
)

func (k kind) String() string {
	return [...]string{"none", "reset", "stall", "drop", "refuse"}[k]
}

// plan is what happens to one connection: its fault and, for reset and stall, after how
// many bytes.
type plan struct {
	kind   kind
	offset int
}

// chooser draws plans from the seeded sequence.
type chooser struct {
	f   Faults
	rng *rand.Rand
}

// pcgStream is the fixed second half of the PCG seed; Faults.Seed is the first.
const pcgStream = 0x6175_6c61_6661_756c

func newChooser(f Faults) *chooser {
	f = f.withDefaults()
	return &chooser{f: f, rng: rand.New(rand.NewPCG(uint64(f.Seed), pcgStream))}
}

// next draws the plan of the next accepted connection. It always draws twice, whatever the
// outcome, so one connection's choice does not shift the next one's.
func (c *chooser) next() plan {
	r := c.rng.Float64()
	off := c.rng.IntN(c.f.MaxBytes + 1)
	f := c.f
	k := kindNone
	switch {
	case r < f.Refuse:
		k = kindRefuse
	case r < f.Refuse+f.Drop:
		k = kindDrop
	case r < f.Refuse+f.Drop+f.Reset:
		k = kindReset
	case r < f.Refuse+f.Drop+f.Reset+f.Stall:
		k = kindStall
	}
	return plan{kind: k, offset: off}
}
