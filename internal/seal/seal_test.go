package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sealed(t testing.TB, plain []byte, recipients ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Seal(&buf, plain, recipients...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	tenant, recovery := newIdentity(t), newIdentity(t)
	const chunk = 64 << 10 // age's chunk size: the edges are where off-by-ones live
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"chunk minus one", chunk - 1},
		{"one chunk", chunk},
		{"chunk plus one", chunk + 1},
		{"one MiB", 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := randomBytes(t, tt.size)
			s := sealed(t, plain, tenant.Recipient(), recovery.Recipient())
			if bytes.Contains(s, plain) && tt.size > 16 {
				t.Fatal("sealed bytes contain the plaintext")
			}
			for name, id := range map[string]age.Identity{"tenant": tenant, "recovery": recovery} {
				got, err := Open(s, tt.size, id)
				if err != nil {
					t.Fatalf("open with %s: %v", name, err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("open with %s: plaintext differs", name)
				}
			}
		})
	}
}

func TestWriterMatchesSeal(t *testing.T) {
	id := newIdentity(t)
	plain := randomBytes(t, 200<<10)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes cross chunk edges.
	for rest := plain; len(rest) > 0; {
		n := min(len(rest), 12345)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Open(buf.Bytes(), 0, id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatal("plaintext differs")
	}
}

func TestOpenErrors(t *testing.T) {
	id, other := newIdentity(t), newIdentity(t)
	plain := randomBytes(t, 100<<10)
	good := sealed(t, plain, id.Recipient())
	armored := func() []byte {
		var buf bytes.Buffer
		w, _ := age.Encrypt(&buf, id.Recipient())
		_, _ = w.Write(plain)
		_ = w.Close()
		return append([]byte(armorMagic+"\n"), buf.Bytes()...)
	}()
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name       string
		sealed     []byte
		maxPlain   int
		identities []age.Identity
		want       error
	}{
		{"empty", nil, 0, []age.Identity{id}, ErrNotSealed},
		{"garbage", []byte("\x00\x00\x00\x18ftypiso5"), 0, []age.Identity{id}, ErrNotSealed},
		{"plaintext segment", plain, 0, []age.Identity{id}, ErrNotSealed},
		{"armored", armored, 0, []age.Identity{id}, ErrNotSealed},
		{"magic only", []byte(magic), 0, []age.Identity{id}, ErrCorrupt},
		{"wrong identity", good, 0, []age.Identity{other}, ErrNoKey},
		{"no identity", good, 0, nil, ErrNoKey},
		{"truncated payload", good[:len(good)-1], 0, []age.Identity{id}, ErrCorrupt},
		{"truncated to a chunk edge", good[:len(good)-(100<<10-64<<10)-16], 0, []age.Identity{id}, ErrCorrupt},
		{"truncated header", good[:40], 0, []age.Identity{id}, ErrCorrupt},
		{"flipped payload byte", flip(len(good) - 1000), 0, []age.Identity{id}, ErrCorrupt},
		{"flipped first chunk", flip(len(good) - 90<<10), 0, []age.Identity{id}, ErrCorrupt},
		{"too large", good, len(plain) - 1, []age.Identity{id}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Open(tt.sealed, tt.maxPlain, tt.identities...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatal("Open returned plaintext with an error")
			}
		})
	}
	t.Run("cap equal to size", func(t *testing.T) {
		if _, err := Open(good, len(plain), id); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong then right identity", func(t *testing.T) {
		if _, err := Open(good, 0, other, id); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAppendOpen(t *testing.T) {
	id := newIdentity(t)
	plain := randomBytes(t, 200<<10)
	s := sealed(t, plain, id.Recipient())
	t.Run("into spare capacity", func(t *testing.T) {
		buf := make([]byte, 3, 3+len(plain))
		copy(buf, "abc")
		got, err := AppendOpen(buf, s, 0, id)
		if err != nil {
			t.Fatal(err)
		}
		if &got[0] != &buf[0] {
			t.Error("AppendOpen allocated although dst had the capacity")
		}
		if string(got[:3]) != "abc" || !bytes.Equal(got[3:], plain) {
			t.Fatal("AppendOpen did not append the plaintext to dst")
		}
	})
	t.Run("grows", func(t *testing.T) {
		got, err := AppendOpen([]byte("x"), s, 0, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1+len(plain) || got[0] != 'x' || !bytes.Equal(got[1:], plain) {
			t.Fatal("AppendOpen did not append the plaintext to dst")
		}
	})
	t.Run("error", func(t *testing.T) {
		got, err := AppendOpen(make([]byte, 0, len(plain)), s[:len(s)-1], 0, id)
		if !errors.Is(err, ErrCorrupt) || got != nil {
			t.Fatalf("AppendOpen of a truncated segment = %d bytes, %v; want nil, ErrCorrupt", len(got), err)
		}
	})
}

// TestOpenMatchesAge opens sealed segments cut, extended and altered at every place
// where the STREAM format has an edge, and checks that Open accepts exactly what age's
// own reader accepts, with the same plaintext.
func TestOpenMatchesAge(t *testing.T) {
	id := newIdentity(t)
	for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 2 * chunkSize, 2*chunkSize + 17} {
		good := sealed(t, randomBytes(t, size), id.Recipient())
		h, err := age.ExtractHeader(bytes.NewReader(good))
		if err != nil {
			t.Fatal(err)
		}
		hdr := len(h)
		var cases [][]byte
		for _, cut := range []int{0, 1, 15, 16, 17, 16 + encChunkSize - 1, 16 + encChunkSize, 16 + encChunkSize + 1, 16 + 2*encChunkSize} {
			if hdr+cut <= len(good) {
				cases = append(cases, good[:hdr+cut])
			}
		}
		cases = append(cases, good, append(bytes.Clone(good), 0), append(bytes.Clone(good), make([]byte, 16)...))
		for _, i := range []int{hdr - 1, hdr, hdr + 16, len(good) - 17, len(good) - 1} {
			if i >= 0 && i < len(good) {
				b := bytes.Clone(good)
				b[i] ^= 0x80
				cases = append(cases, b)
			}
		}
		for i, c := range cases {
			got, err := Open(c, 0, id)
			want, werr := ageOpen(c, id)
			if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
				t.Errorf("size %d case %d (%d bytes): Open gave %d bytes, %v; age %d bytes, %v", size, i, len(c), len(got), err, len(want), werr)
			}
		}
	}
}

// ageOpen is Open as age's own reader does it, the reference.
func ageOpen(sealed []byte, id age.Identity) ([]byte, error) {
	r, size, err := age.DecryptReaderAt(bytes.NewReader(sealed), int64(len(sealed)), id)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, size)
	if n, err := r.ReadAt(plain, 0); err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return nil, err
	}
	return plain, nil
}

func TestSealErrors(t *testing.T) {
	if err := Seal(io.Discard, []byte("x")); !errors.Is(err, ErrNoRecipient) {
		t.Fatalf("Seal without recipients = %v, want ErrNoRecipient", err)
	}
}

func TestParseRecipient(t *testing.T) {
	id := newIdentity(t)
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	good := id.Recipient().String()
	tests := []struct {
		name    string
		in      string
		wantErr bool
		notIn   string // must not appear in the error
	}{
		{"valid", good, false, ""},
		{"surrounding space", " " + good + "\n", false, ""},
		{"empty", "", true, ""},
		{"secret key", id.String(), true, id.String()},
		{"post-quantum", pq.Recipient().String(), true, ""},
		{"ssh key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB", true, ""},
		{"bad checksum", good[:len(good)-1] + flipChar(good[len(good)-1]), true, ""},
		{"truncated", good[:20], true, ""},
		{"uppercase mixed", strings.ToUpper(good[:10]) + good[10:], true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRecipient(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadRecipient) {
					t.Fatalf("ParseRecipient(%q) error = %v, want ErrBadRecipient", tt.in, err)
				}
				if tt.notIn != "" && strings.Contains(err.Error(), tt.notIn) {
					t.Fatal("error message leaks the secret key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != good {
				t.Fatalf("recipient = %s, want %s", r, good)
			}
		})
	}
}

func flipChar(c byte) string {
	if c == 'q' {
		return "p"
	}
	return "q"
}

func FuzzOpen(f *testing.F) {
	id, err := age.ParseX25519Identity("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
	if err != nil {
		f.Fatal(err)
	}
	// Small seeds only: the fuzzer minimizes each new input for up to a minute.
	s := sealed(f, bytes.Repeat([]byte("segment "), 40), id.Recipient())
	f.Add(s)
	f.Add(s[:len(s)/2])
	f.Add(sealed(f, nil, id.Recipient()))
	f.Add([]byte(magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := Open(b, 1<<20, id)
		if err == nil && len(plain) > 1<<20 {
			t.Fatalf("plaintext of %d bytes beyond the cap", len(plain))
		}
		if err != nil && plain != nil {
			t.Fatal("plaintext with an error")
		}
		// What age's own reader opens, Open opens the same, and nothing else (the
		// armored form aside, which Open refuses on purpose).
		if bytes.HasPrefix(b, []byte(magic)) && len(b) < 1<<20 {
			want, werr := ageOpen(b, id)
			if (err == nil) != (werr == nil) || !bytes.Equal(plain, want) {
				t.Fatalf("Open: %d bytes, %v; age: %d bytes, %v", len(plain), err, len(want), werr)
			}
		}
	})
}

const segmentSize = 1 << 20

// BenchmarkSeal seals 1 MiB segments, the agent's hot path; BenchmarkPlainCopy is the
// reference. Both report MB/s; the "x-copy" metric is seal time over copy time.
func BenchmarkSeal(b *testing.B) {
	id := newIdentity(b)
	plain := randomBytes(b, segmentSize)
	recipient := id.Recipient()
	copyTime := timeCopy(b, plain)
	b.SetBytes(segmentSize)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := Seal(io.Discard, plain, recipient); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start))/float64(b.N)/float64(copyTime), "x-copy")
}

// BenchmarkOpen opens 1 MiB sealed segments in memory, the server's hot path.
func BenchmarkOpen(b *testing.B) {
	id := newIdentity(b)
	s := sealed(b, randomBytes(b, segmentSize), id.Recipient())
	b.SetBytes(segmentSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(s, segmentSize, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendOpen is BenchmarkOpen into one reused buffer, as the server's ingest
// does it.
func BenchmarkAppendOpen(b *testing.B) {
	id := newIdentity(b)
	s := sealed(b, randomBytes(b, segmentSize), id.Recipient())
	buf := make([]byte, 0, segmentSize)
	b.SetBytes(segmentSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AppendOpen(buf, s, segmentSize, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlainCopy copies the same 1 MiB to io.Discard through io.Copy's buffer, so every
// byte is actually read (a bytes.Reader's WriteTo would hand io.Discard the slice and
// measure nothing).
func BenchmarkPlainCopy(b *testing.B) {
	plain := randomBytes(b, segmentSize)
	b.SetBytes(segmentSize)
	b.ReportAllocs()
	for b.Loop() {
		plainCopy(b, plain)
	}
}

func plainCopy(b *testing.B, plain []byte) {
	if _, err := io.Copy(io.Discard, struct{ io.Reader }{bytes.NewReader(plain)}); err != nil {
		b.Fatal(err)
	}
}

// timeCopy measures one plain copy of plain, the best of many, as BenchmarkSeal's reference.
func timeCopy(b *testing.B, plain []byte) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 200 {
		start := time.Now()
		plainCopy(b, plain)
		best = min(best, time.Since(start))
	}
	return best
}
