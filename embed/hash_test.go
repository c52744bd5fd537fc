package embed

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ragd/ragd/internal/testutil"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/hash.golden")

func newHash(t testing.TB, cfg HashConfig) *Hash {
	t.Helper()
	h, err := NewHash(cfg)
	require.NoError(t, err)
	return h
}

func embedOne(t testing.TB, h *Hash, text string) []float32 {
	t.Helper()
	vs, err := h.Embed(context.Background(), []string{text})
	require.NoError(t, err)
	require.Len(t, vs, 1)
	return vs[0]
}

func cosine(a, b []float32) float64 { return 1 - testutil.Distance("cosine", a, b) }

func TestHashConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     HashConfig
		wantErr bool
		dim     int
		model   string
	}{
		{"zero value: defaults", HashConfig{}, false, 256, "hash-256"},
		{"dimension 1", HashConfig{Dimension: 1}, false, 1, "hash-1"},
		{"dimension 768", HashConfig{Dimension: 768}, false, 768, "hash-768"},
		{"max dimension", HashConfig{Dimension: MaxHashDimension}, false, MaxHashDimension, "hash-65536"},
		{"seed in the model name", HashConfig{Seed: 7}, false, 256, "hash-256-seed7"},
		{"negative dimension", HashConfig{Dimension: -1}, true, 0, ""},
		{"dimension too large", HashConfig{Dimension: MaxHashDimension + 1}, true, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			h, herr := NewHash(tt.cfg)
			require.Equal(t, err, herr)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidConfig)
				require.ErrorContains(t, err, "dimension")
				require.Nil(t, h)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.dim, h.Dimension())
			require.Equal(t, tt.model, h.Model())
			require.Len(t, embedOne(t, h, "a jet engine"), tt.dim)
		})
	}
	require.Equal(t, HashConfig{Dimension: DefaultHashDimension}, DefaultHashConfig())
}

func TestHashDeterministic(t *testing.T) {
	texts := []string{"The boundary layer on a flat plate.", "Ünïcödé wörds, 数字 123 and ＦＵＬＬＷＩＤＴＨ", "x"}
	a := newHash(t, HashConfig{})
	first, err := a.Embed(context.Background(), texts)
	require.NoError(t, err)
	for range 3 {
		again, err := newHash(t, HashConfig{}).Embed(context.Background(), texts)
		require.NoError(t, err)
		require.Equal(t, bits(first), bits(again), "a new embedder gives the same bits")
		again, err = a.Embed(context.Background(), texts)
		require.NoError(t, err)
		require.Equal(t, bits(first), bits(again), "a reused embedder gives the same bits")
	}
	// A text's vector does not depend on its batch.
	for i, text := range texts {
		require.Equal(t, bits(first[i:i+1]), bits([][]float32{embedOne(t, a, text)}))
	}
	// Another seed gives another vector.
	other := embedOne(t, newHash(t, HashConfig{Seed: 1}), texts[0])
	require.NotEqual(t, bits(first[:1]), bits([][]float32{other}))
}

func bits(vs [][]float32) [][]uint32 {
	out := make([][]uint32, len(vs))
	for i, v := range vs {
		for _, x := range v {
			out[i] = append(out[i], math.Float32bits(x))
		}
	}
	return out
}

// TestHashGolden pins the exact bits of a few vectors, so that a change of
// algorithm, weights or platform that alters them fails here. Refresh with
// -update only together with a new Model name.
func TestHashGolden(t *testing.T) {
	cases := []struct {
		cfg  HashConfig
		text string
	}{
		{HashConfig{}, "experimental investigation of the aerodynamics of a wing in a slipstream ."},
		{HashConfig{}, "What similarity laws must be obeyed when constructing aeroelastic models?"},
		{HashConfig{Dimension: 768, Seed: 42}, "Ünïcödé wörds, 数字 123, the the the"},
		{HashConfig{Dimension: 1}, "one dimension"},
		// Eight dimensions for hundreds of features with irrational weights
		// (√tf): the bits pin the summation order too.
		{HashConfig{Dimension: 8}, strings.Repeat("the shock wave shock layer of the wing, the lift of wings; ", 3) +
			"an experimental study of a wing in a propeller slipstream was made in order to determine the spanwise distribution"},
	}
	var got strings.Builder
	for _, c := range cases {
		v := embedOne(t, newHash(t, c.cfg), c.text)
		sum := sha256.New()
		for _, x := range v {
			require.NoError(t, binary.Write(sum, binary.LittleEndian, math.Float32bits(x)))
		}
		fmt.Fprintf(&got, "%d %d %s %s\n", c.cfg.Dimension, c.cfg.Seed, hex.EncodeToString(sum.Sum(nil))[:32], strconv.Quote(c.text))
	}
	path := filepath.Join("testdata", "hash.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got.String())
}

func TestHashNormalised(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := strings.Fields("lift drag wing the of a mach 2.5 boundary layer heat Ünïcödé 数字 ＦＵＬＬ naïve")
	for _, dim := range []int{1, 2, 3, 64, 256, 768} {
		h := newHash(t, HashConfig{Dimension: dim})
		for range 200 {
			var b strings.Builder
			for range 1 + rng.IntN(80) {
				b.WriteString(words[rng.IntN(len(words))])
				b.WriteString([]string{" ", ", ", "-", "\n", " . "}[rng.IntN(5)])
			}
			v := embedOne(t, h, b.String())
			var sum float64
			for _, x := range v {
				require.False(t, math.IsNaN(float64(x)) || math.IsInf(float64(x), 0))
				sum += float64(x) * float64(x)
			}
			require.InDelta(t, 1, math.Sqrt(sum), 1e-6, "dim %d text %q", dim, b.String())
		}
	}
}

func TestHashSimilarity(t *testing.T) {
	tests := []struct {
		name            string
		text, near, far string
	}{
		{"shared words",
			"the boundary layer on a heated flat plate in supersonic flow",
			"heat transfer through the boundary layer of a flat plate at supersonic speed",
			"buckling of thin cylindrical shells under axial compression"},
		{"word pieces",
			"aerodynamic heating of hypersonic vehicles",
			"aerodynamically heated hypersonic vehicle",
			"elastic vibrations of panels"},
		{"case and punctuation do not matter",
			"Jet-Engine NOISE!",
			"jet engine noise",
			"slender body theory"},
		{"word order, through bigrams",
			"wing flutter speed",
			"wing flutter speed prediction",
			"speed flutter wing prediction"},
	}
	h := newHash(t, HashConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, near, far := embedOne(t, h, tt.text), embedOne(t, h, tt.near), embedOne(t, h, tt.far)
			cn, cf := cosine(v, near), cosine(v, far)
			require.Greater(t, cn, cf, "near %.3f far %.3f", cn, cf)
		})
	}
	// Case and punctuation give the identical vector.
	require.Equal(t, embedOne(t, h, "jet engine noise"), embedOne(t, h, "Jet-Engine NOISE!"))
	require.InDelta(t, 1, cosine(embedOne(t, h, "wing"), embedOne(t, h, "WING")), 1e-12)
}

func TestHashEmptyText(t *testing.T) {
	h := newHash(t, HashConfig{})
	for _, text := range []string{"", " ", "\n\t", "!!! ??", "— · …", "\xff\xfe"} {
		t.Run(strconv.Quote(text), func(t *testing.T) {
			vs, err := h.Embed(context.Background(), []string{"fine", text})
			require.ErrorIs(t, err, ErrEmptyText)
			require.ErrorContains(t, err, "text 1")
			require.Nil(t, vs, "no vectors on error")
		})
	}
	vs, err := h.Embed(context.Background(), nil)
	require.NoError(t, err)
	require.Empty(t, vs)
}

func TestHashContext(t *testing.T) {
	h := newHash(t, HashConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	vs, err := h.Embed(ctx, []string{"a", "b"})
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, vs)

	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = h.Embed(ctx, []string{"a"})
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Cancelled mid-batch: the call stops early instead of embedding the rest.
	ctx, cancel = context.WithCancel(context.Background())
	texts := make([]string, 100_000)
	for i := range texts {
		texts[i] = passage(i)
	}
	go func() { time.Sleep(5 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err = h.Embed(ctx, texts)
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 2*time.Second)
}

func TestHashConcurrent(t *testing.T) {
	h := newHash(t, HashConfig{Dimension: 128})
	texts := make([]string, 50)
	for i := range texts {
		texts[i] = passage(i)
	}
	want, err := h.Embed(context.Background(), texts)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for g := range 8 {
		wg.Go(func() {
			for range 5 {
				got, err := h.Embed(context.Background(), texts)
				if err == nil && !equalBits(got, want) {
					err = errors.New("vectors differ under concurrency")
				}
				if err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

func equalBits(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return false
			}
		}
	}
	return true
}

// passage returns a deterministic English-like passage of about 500
// characters.
func passage(seed int) string {
	const vocab = "the of a boundary layer flow wing lift drag mach number supersonic pressure " +
		"distribution heat transfer plate shock wave theory experimental results shell buckling " +
		"stress panel flutter velocity temperature surface model tunnel measured compressible"
	words := strings.Fields(vocab)
	rng := rand.New(rand.NewPCG(uint64(seed), 9))
	var b strings.Builder
	for b.Len() < 500 {
		b.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(12) == 0 {
			b.WriteString(". ")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()[:500]
}

func BenchmarkHash(b *testing.B) {
	texts := make([]string, 64)
	var size int64
	for i := range texts {
		texts[i] = passage(i)
		size += int64(len(texts[i]))
	}
	for _, dim := range []int{128, 768, 1536} {
		b.Run(fmt.Sprintf("dim=%d", dim), func(b *testing.B) {
			h := newHash(b, HashConfig{Dimension: dim})
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(size)
			n := 0
			for b.Loop() {
				if _, err := h.Embed(ctx, texts); err != nil {
					b.Fatal(err)
				}
				n += len(texts)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "texts/s")
		})
	}
}

// FuzzHashEmbed: any text either has no features (ErrEmptyText) or gives a
// finite unit vector, the same one every time.
func FuzzHashEmbed(f *testing.F) {
	for _, s := range []string{"", "a", "jet engine", "Ünïcödé 数字", "\xff", "a\u0301", "!!!", passage(1)} {
		f.Add(s)
	}
	h, err := NewHash(HashConfig{Dimension: 32})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		vs, err := h.Embed(context.Background(), []string{text, text})
		if err != nil {
			if !errors.Is(err, ErrEmptyText) {
				t.Fatalf("%q: %v", text, err)
			}
			return
		}
		var sum float64
		for i, x := range vs[0] {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("%q: non-finite value", text)
			}
			if math.Float32bits(x) != math.Float32bits(vs[1][i]) {
				t.Fatalf("%q: two embeddings differ", text)
			}
			sum += float64(x) * float64(x)
		}
		if math.Abs(math.Sqrt(sum)-1) > 1e-6 {
			t.Fatalf("%q: norm %v", text, math.Sqrt(sum))
		}
	})
}
