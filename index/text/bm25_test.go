package text

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stretchr/testify/require"
)

// corpus is a small English collection with repeated terms, lengths from 0
// to ~60 tokens, a document of stop words only, possessives and two
// identical documents (a tie).
var corpus = []string{
	"The wing of the aircraft was tested in a wind tunnel at high speed.",
	"Wind tunnel tests of a swept wing: lift, drag and pitching moment at transonic speeds.",
	"Heat transfer in laminar boundary layers on a flat plate.",
	"Turbulent boundary layer heat transfer; heat flux measured over a heated plate, heat again.",
	"The pilot's report on the aircraft's handling at low speed.",
	"",
	"the and of a to in",
	"Supersonic flow around a cone: shock waves, pressure distribution and drag.",
	"Shock wave boundary layer interaction at supersonic speeds causes separation of the flow.",
	"A theory of the vibration of elastic plates and shells under thermal stress.",
	"Buckling of thin cylindrical shells under axial compression and external pressure.",
	"Buckling of thin cylindrical shells under axial compression and external pressure.",
	"Hypersonic flow over blunt bodies: heat transfer to the stagnation point at very high speed.",
	"Drag drag drag: drag reduction by boundary layer suction on a wing.",
	"Flutter of a wing in incompressible flow, with aileron and tab, measured and computed.",
	"An experimental investigation of jet noise from a nozzle at subsonic and supersonic exit speeds, " +
		"covering the noise spectrum, directivity of the noise, the effect of the nozzle shape on noise " +
		"and the noise of heated jets, compared with the theory of Lighthill for the noise generated " +
		"aerodynamically by turbulence in the mixing region of the jet.",
	"Running and runs: a runner ran.",
	"Pressure distribution on a delta wing at angle of attack in supersonic flow.",
	"Radiation heat transfer in a gas; the gas is grey.",
	"Stress analysis of a plate with a hole under tension.",
}

// queries exercise single terms, repeats, stop words, unknown words and
// words of most documents.
var queries = []string{
	"wing",
	"heat transfer",
	"heat heat transfer boundary layer",
	"supersonic flow drag",
	"buckling of shells",
	"noise of jets",
	"pilot's aircraft",
	"zeppelin",
	"the of",
	"wing flow speed pressure plate",
}

// oracle computes BM25 directly from the analysed documents.
type oracle struct {
	docs   map[uint32][]string // analysed tokens
	k1, b  float64
	n      float64
	avgdl  float64
	df     map[string]float64
	scored []uint32 // numbers in ascending order
}

func newOracle(ix *Index, docs []Doc, k1, b float64) oracle {
	o := oracle{docs: map[uint32][]string{}, k1: k1, b: b, df: map[string]float64{}}
	var total float64
	for _, d := range docs {
		toks := ix.Terms(d.Text) // the analyser, nothing else
		o.docs[d.Num] = toks
		total += float64(len(toks))
		seen := map[string]bool{}
		for _, t := range toks {
			if !seen[t] {
				seen[t] = true
				o.df[t]++
			}
		}
		o.scored = append(o.scored, d.Num)
	}
	slices.Sort(o.scored)
	o.n = float64(len(docs))
	o.avgdl = total / o.n
	return o
}

// score is the textbook formula, one term occurrence of the query at a time.
func (o oracle) score(num uint32, query []string) float64 {
	toks := o.docs[num]
	dl := float64(len(toks))
	var s float64
	for _, q := range query {
		tf := 0.0
		for _, t := range toks {
			if t == q {
				tf++
			}
		}
		if tf == 0 {
			continue
		}
		df := o.df[q]
		idf := math.Log(1 + (o.n-df+0.5)/(df+0.5))
		s += idf * tf * (o.k1 + 1) / (tf + o.k1*(1-o.b+o.b*dl/o.avgdl))
	}
	return s
}

// rank returns the oracle's k best allowed documents with a positive score.
func (o oracle) rank(query []string, k int, allow func(uint32) bool) []Hit {
	var hits []Hit
	for _, num := range o.scored {
		if allow != nil && !allow(num) {
			continue
		}
		if s := o.score(num, query); s > 0 {
			hits = append(hits, Hit{Num: num, Score: s})
		}
	}
	slices.SortStableFunc(hits, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) })
	return hits[:min(k, len(hits))]
}

// requireSameRanking compares hits with the oracle's to rel relative error.
// Documents whose oracle scores are within rel of each other may come in
// either order.
func requireSameRanking(t *testing.T, want, got []Hit, rel float64) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		require.InEpsilon(t, w.Score, g.Score, rel, "rank %d", i)
		if w.Num != g.Num {
			require.InEpsilon(t, w.Score, gotScoreOf(want, g.Num), rel, "rank %d: doc %d in place of %d", i, g.Num, w.Num)
		}
	}
	require.True(t, slices.IsSortedFunc(got, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Num, b.Num)
	}), "hits not sorted by score, then number")
}

func gotScoreOf(hits []Hit, num uint32) float64 {
	for _, h := range hits {
		if h.Num == num {
			return h.Score
		}
	}
	return math.NaN()
}

func search(t *testing.T, ix *Index, query string, k int, allow Allow) []Hit {
	t.Helper()
	terms := ix.Terms(query)
	st, err := ix.Stats(terms)
	require.NoError(t, err)
	hits, err := ix.Search(terms, st, k, allow)
	require.NoError(t, err)
	return hits
}

func TestSearchMatchesFormula(t *testing.T) {
	// b = 0 (no length normalisation) and k1 = 0 (binary term frequency)
	// are legal settings, not "the default".
	params := []struct{ k1, b float64 }{{1.2, 0.75}, {0.9, 0.4}, {2, 1}, {1.2, 0}, {0, 0.75}}
	for _, p := range params {
		ix := openT(t, Config{K1: new(p.k1), B: new(p.b)})
		docs := docsOf(100, corpus...)
		require.NoError(t, ix.Apply(1, docs, nil))
		o := newOracle(ix, docs, p.k1, p.b)
		for _, q := range queries {
			t.Run(q, func(t *testing.T) {
				terms := ix.Terms(q)
				for _, k := range []int{1, 3, 100} {
					want := o.rank(terms, k, nil)
					got := search(t, ix, q, k, nil)
					requireSameRanking(t, want, got, 1e-9)
				}
			})
		}
		checkInvariants(t, ix)
	}
}

func TestTermsKeepRepeats(t *testing.T) {
	ix := openT(t, Config{})
	require.Equal(t, []string{"heat", "heat", "transfer"}, ix.Terms("Heat, HEAT and the transfer"))
	require.Empty(t, ix.Terms("the of and"))

	// A repeated query term counts twice: the score is the single term's
	// score plus itself.
	require.NoError(t, ix.Apply(1, docsOf(1, corpus...), nil))
	one := search(t, ix, "heat", 100, nil)
	two := search(t, ix, "heat heat", 100, nil)
	require.Len(t, two, len(one))
	for i := range one {
		require.Equal(t, one[i].Num, two[i].Num)
		require.InEpsilon(t, 2*one[i].Score, two[i].Score, 1e-12)
	}
}

func TestTiesByNumber(t *testing.T) {
	ix := openT(t, Config{})
	// Numbers 9, 3 and 5 hold the same text; 3 must come first.
	require.NoError(t, ix.Apply(1, []Doc{
		{Num: 9, Text: "shells buckling"}, {Num: 3, Text: "shells buckling"},
		{Num: 5, Text: "shells buckling"}, {Num: 4, Text: "shells and plates of any kind"},
	}, nil))
	hits := search(t, ix, "buckling shells", 2, nil)
	require.Equal(t, []uint32{3, 5}, nums(hits))
	require.Equal(t, hits[0].Score, hits[1].Score)
}

func nums(hits []Hit) []uint32 {
	out := make([]uint32, len(hits))
	for i, h := range hits {
		out[i] = h.Num
	}
	return out
}

// TestShardsMatchOneIndex splits the corpus over three indexes: the merged
// statistics equal one index's, and every document scores the same bits.
func TestShardsMatchOneIndex(t *testing.T) {
	dir := t.TempDir()
	whole := openDirT(t, filepath.Join(dir, "whole"), Config{})
	var shards [3]*Index
	var parts [3][]Doc
	for i := range shards {
		shards[i] = openDirT(t, filepath.Join(dir, "shard", string(rune('a'+i))), Config{})
	}
	docs := docsOf(1, corpus...)
	for i, d := range docs {
		parts[(i*7)%3] = append(parts[(i*7)%3], d)
	}
	require.NoError(t, whole.Apply(1, docs, nil))
	for i := range shards {
		require.NoError(t, shards[i].Apply(1, parts[i], nil))
	}
	// Replace and delete in both layouts, so that deleted postings linger
	// in the shards' segments.
	require.NoError(t, whole.Apply(2, docsOf(2, "heat heat heat wing"), []uint32{4, 8}))
	for i := range shards {
		var puts []Doc
		var dels []uint32
		for _, d := range parts[i] {
			switch d.Num {
			case 2:
				puts = append(puts, Doc{Num: 2, Text: "heat heat heat wing"})
			case 4, 8:
				dels = append(dels, d.Num)
			}
		}
		require.NoError(t, shards[i].Apply(2, puts, dels))
	}

	for _, q := range queries {
		t.Run(q, func(t *testing.T) {
			terms := whole.Terms(q)
			want, err := whole.Stats(terms)
			require.NoError(t, err)
			var global Stats
			for _, s := range shards {
				st, err := s.Stats(terms)
				require.NoError(t, err)
				global.Add(st)
			}
			require.Equal(t, want, global)

			one, err := whole.Search(terms, want, 100, nil)
			require.NoError(t, err)
			var merged []Hit
			for _, s := range shards {
				hits, err := s.Search(terms, global, 100, nil)
				require.NoError(t, err)
				merged = append(merged, hits...)
			}
			slices.SortFunc(merged, func(a, b Hit) int {
				if c := cmp.Compare(b.Score, a.Score); c != 0 {
					return c
				}
				return cmp.Compare(a.Num, b.Num)
			})
			require.Equal(t, one, merged) // the same bits
		})
	}
}

func TestStatsAdd(t *testing.T) {
	var s Stats
	s.Add(Stats{Docs: 2, TotalLen: 10, DF: map[string]uint64{"a": 1}})
	s.Add(Stats{Docs: 3, TotalLen: 5, DF: map[string]uint64{"a": 2, "b": 0}})
	s.Add(Stats{})
	require.Equal(t, Stats{Docs: 5, TotalLen: 15, DF: map[string]uint64{"a": 3, "b": 0}}, s)
}

type numSet map[uint32]bool

func (s numSet) Contains(n uint32) bool { return s[n] }

func TestAllow(t *testing.T) {
	ix := openT(t, Config{})
	docs := docsOf(1, corpus...)
	require.NoError(t, ix.Apply(1, docs, nil))
	o := newOracle(ix, docs, 1.2, 0.75)
	even := numSet{}
	bm := roaring.New()
	for n := uint32(0); n < 40; n += 2 {
		even[n] = true
		bm.Add(n)
	}
	cases := []struct {
		name  string
		allow Allow
		admit func(uint32) bool
	}{
		{"nil", nil, nil},
		{"even", even, func(n uint32) bool { return n%2 == 0 }},
		{"roaring even", bm, func(n uint32) bool { return n%2 == 0 }},
		{"one", numSet{17: true}, func(n uint32) bool { return n == 17 }},
		{"none", numSet{}, func(uint32) bool { return false }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, q := range queries {
				terms := ix.Terms(q)
				for _, k := range []int{1, 2, 3, 5, 100} {
					want := o.rank(terms, k, c.admit)
					got := search(t, ix, q, k, c.allow)
					requireSameRanking(t, want, got, 1e-9)
					for _, h := range got {
						require.True(t, c.admit == nil || c.admit(h.Num), "doc %d not allowed", h.Num)
					}
				}
			}
		})
	}
}

func TestSearchArguments(t *testing.T) {
	ix := openT(t, Config{})
	require.NoError(t, ix.Apply(1, docsOf(1, corpus...), nil))
	terms := ix.Terms("wing flow")
	st, err := ix.Stats(terms)
	require.NoError(t, err)
	for _, k := range []int{0, -1, maxK + 1} {
		_, err := ix.Search(terms, st, k, nil)
		require.ErrorIs(t, err, ErrInvalidArgument, "k %d", k)
	}
	_, err = ix.Search([]string{"wing", "tunnel"}, st, 10, nil)
	require.ErrorIs(t, err, ErrInvalidArgument, "term missing from the statistics")

	hits, err := ix.Search(nil, st, 10, nil)
	require.NoError(t, err)
	require.Empty(t, hits)
	hits, err = ix.Search(terms, Stats{}, 10, nil)
	require.NoError(t, err)
	require.Empty(t, hits, "no documents anywhere")
}

// TestLenFromNorm checks the length recovery on the norms bleve reports:
// zap stores the length and reports float64(float32(1/√len)).
func TestLenFromNorm(t *testing.T) {
	norm := func(l uint32) float64 {
		return float64(float32(1.0 / math.Sqrt(float64(l))))
	}
	require.Equal(t, 0.0, lenFromNorm(norm(0)))
	step := uint32(1)
	if testing.Short() {
		step = 97
	}
	for l := uint32(1); l < 6_660_631; l += step {
		if lenFromNorm(norm(l)) != float64(l) {
			t.Fatalf("length %d comes back as %v", l, lenFromNorm(norm(l)))
		}
	}
	require.NotEqual(t, 6_660_631.0, lenFromNorm(norm(6_660_631)), "the documented limit moved")
}

// TestPruningKeepsTopK checks MaxScore against the exhaustive ranking (a k
// so large that nothing is pruned): the same hits, bit for bit, on a
// Zipfian corpus in several segments with deletions, with and without a
// filter.
func TestPruningKeepsTopK(t *testing.T) {
	ix := openT(t, Config{Analyzer: "standard"})
	docs := synthetic(3000, 7)
	for i := 0; i < len(docs); i += 500 {
		var dels []uint32
		for n := 0; n < i; n += 41 {
			dels = append(dels, uint32(n))
		}
		require.NoError(t, ix.Apply(uint64(i+1), docs[i:i+500], dels))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(rng, 1.07, 2, 49_999)
	odd := numSet{}
	for n := uint32(1); n < 3000; n += 2 {
		odd[n] = true
	}
	for qi := range 200 {
		var words []string
		for range 1 + rng.IntN(8) {
			w := zipf.Uint64()
			if rng.IntN(4) == 0 {
				w = uint64(rng.IntN(20)) // a common word
			}
			words = append(words, fmt.Sprintf("w%d", w))
		}
		query := strings.Join(words, " ")
		var allow Allow
		if qi%3 == 0 {
			allow = odd
		}
		all := search(t, ix, query, maxK, allow)
		for _, k := range []int{1, 3, 10, 50} {
			got := search(t, ix, query, k, allow)
			require.Equal(t, all[:min(k, len(all))], got, "query %q k %d", query, k)
		}
	}
}
