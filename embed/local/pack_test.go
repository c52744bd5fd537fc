package local

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// textOfTokens returns a text of exactly n tokens (n ≤ MaxSequenceLength),
// a prefix of a long passage cut at a word boundary where possible.
func textOfTokens(t testing.TB, m *Model, n, seed int) string {
	words := strings.Fields(strings.Repeat(passage(seed)+" ", 4))
	for k := 1; k <= len(words); k++ {
		s := strings.Join(words[:k], " ")
		if got := len(m.Tokenize(s)); got == n {
			return s
		} else if got > n {
			break
		}
	}
	// No word boundary gives exactly n tokens: a run of single-piece
	// words does.
	s := strings.TrimSpace(strings.Repeat("a ", n))
	require.Len(t, m.Tokenize(s), n)
	return s
}

// TestPackedEqualsAlone checks that a text's vector in a packed call is
// bit for bit its vector embedded alone, for texts of 1 to 128 tokens in
// packs of every size, and that packing does not change the reference
// vectors (TestReferenceEmbeddings runs with the default packing).
func TestPackedEqualsAlone(t *testing.T) {
	m := newTestModel(t, Config{})
	ctx := context.Background()
	lengths := []int{1, 2, 5, 13, 31, 75, 127, 128}
	var texts []string
	for i, n := range lengths {
		texts = append(texts, textOfTokens(t, m, n, i))
	}
	// Longer than the window: cut at 128 tokens, packed as 128.
	texts = append(texts, strings.Repeat(passage(2)+" ", 4))
	for _, r := range references(t)[:3] {
		texts = append(texts, r.Text)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(texts), func(i, j int) { texts[i], texts[j] = texts[j], texts[i] })

	alone := make([][]float32, len(texts))
	for i, text := range texts {
		ids := m.Tokenize(text)
		ids = ids[:min(len(ids), MaxSequenceLength)]
		alone[i] = make([]float32, Dimension)
		m.w.forwardOne(new(workspace), ids, alone[i])
	}
	// 1: each text alone, as the unpacked path (packTokens 0) runs them.
	for _, pack := range []int{1, DefaultPackTokens, MaxPackTokens} {
		t.Run(fmt.Sprintf("pack=%d", pack), func(t *testing.T) {
			pm := newTestModel(t, Config{PackTokens: pack})
			vs, err := pm.Embed(ctx, texts)
			require.NoError(t, err)
			require.Len(t, vs, len(texts))
			for i := range texts {
				require.Equal(t, alone[i], vs[i], "text %d (%d tokens)", i, len(m.Tokenize(texts[i])))
			}
		})
	}
}

// TestPackedSteadyStateAllocs checks that a warm Model allocates only the
// result: the slice of vectors and their backing array.
func TestPackedSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops workspaces at random under -race")
	}
	m := newTestModel(t, Config{})
	texts := []string{passage(0), "How old are you?", passage(1), passage(2), passage(3)}
	ctx := context.Background()
	_, err := m.Embed(ctx, texts)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := m.Embed(ctx, texts); err != nil {
			t.Fatal(err)
		}
	})
	require.LessOrEqual(t, allocs, 2.0)
}

// raceEnabled is set by race_test.go in -race builds.
var raceEnabled bool
