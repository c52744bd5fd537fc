package hnsw

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stretchr/testify/require"
)

func randomAllow(rng *rand.Rand, n int, frac float64) *roaring.Bitmap {
	b := roaring.New()
	for i := range n {
		if rng.Float64() < frac {
			b.Add(uint32(i))
		}
	}
	return b
}

// TestFilteredRecall checks recall@10 against the exact filtered answer at
// selectivities from 0.1 % to 50 %: with the search choosing its strategy
// (an exact-scan threshold of 1,000 vectors, as the default gives vectors of
// 2,600 dimensions, and the cost model of scanCheaper, so that 0.1 %, 1 %
// and 10 % take the exact scan and 50 % walks the graph), and with each
// kind of walk forced at every selectivity from 1 % up.
func TestFilteredRecall(t *testing.T) {
	f := newFixture(3, 30000, 100, 32)
	g := build(t, f, Config{Metric: L2, M: 12, EfConstruction: 100, Seed: 5, FilterExactCount: 1000})
	for _, sel := range []float64{0.001, 0.01, 0.1, 0.5} {
		rng := rand.New(rand.NewPCG(uint64(sel*1e6), 2))
		allow := randomAllow(rng, f.n(), sel)
		keep := allow.Contains
		r := recall(t, g, f, 10, 64, allow, keep)
		t.Logf("selectivity %.1f%% (%d allowed): recall@10 %.4f (strategy chosen by the search)", 100*sel, allow.GetCardinality(), r)
		require.GreaterOrEqual(t, r, 0.95)
		if sel < 0.01 {
			continue // too few allowed vectors for a walk to be judged
		}
		for _, twoHop := range []bool{false, true} {
			restore := forceWalk(g, twoHop)
			rw := recall(t, g, f, 10, 64, allow, keep)
			restore()
			t.Logf("selectivity %.1f%%: recall@10 %.4f (walk forced, two-hop %v)", 100*sel, rw, twoHop)
			// At 1 % the default answers with the exact scan; a walk alone is
			// held to a lower bar there. The graph is built in parallel, so
			// its recall varies from build to build: the two-hop walk at 1 %
			// measured 0.91–0.94 over seven builds (0.896 once under -race),
			// the plain walk 1.00.
			bar := 0.95
			if sel < 0.05 {
				bar = 0.85
			}
			require.GreaterOrEqual(t, rw, bar)
		}
	}
}

// TestFilteredWalk checks both walks themselves, not the exact-scan
// fallback behind them: they find k allowed results on their own.
func TestFilteredWalk(t *testing.T) {
	f := newFixture(4, 20000, 50, 32)
	g := build(t, f, Config{Metric: L2, M: 12, EfConstruction: 100, Seed: 5})
	for _, sel := range []float64{0.1, 0.5} {
		for _, twoHop := range []bool{false, true} {
			allow := randomAllow(rand.New(rand.NewPCG(7, 7)), f.n(), sel)
			s := g.getSearcher()
			var sum float64
			for qi := range f.nq() {
				q := f.query(qi)
				ep, top, _ := g.entryPoint()
				ep, d := g.greedy(q, ep, g.distance(q, g.vec(ep)), top, 0)
				g.searchLayer(s, q, ep, d, 64, 0, allow, twoHop)
				require.GreaterOrEqual(t, s.res.len(), 10, "walk found fewer than k")
				got := g.appendResults(nil, s, 10)
				keys := make([]uint32, len(got))
				for i, r := range got {
					require.True(t, allow.Contains(r.Key), "walk returned a disallowed key")
					keys[i] = r.Key
				}
				sum += recallOf(keys, bruteFiltered(f, g.Config().Metric, q, 10, allow.Contains))
			}
			g.putSearcher(s)
			r := sum / float64(f.nq())
			t.Logf("walk at %.0f%%, two-hop %v: recall@10 %.4f", 100*sel, twoHop, r)
			require.GreaterOrEqual(t, r, 0.95)
		}
	}
}

// TestFilteredReturnsK: whenever k allowed nodes exist, k come back, even
// when the allowed ones are scattered where a walk would not find them.
func TestFilteredReturnsK(t *testing.T) {
	f := newFixture(5, 3000, 20, 16)
	g := build(t, f, Config{Metric: L2, M: 8, EfConstruction: 50, Seed: 1})
	for _, n := range []int{1, 5, 10, 11, 50, 400} {
		allow := roaring.New()
		rng := rand.New(rand.NewPCG(uint64(n), 3))
		for allow.GetCardinality() < uint64(n) {
			allow.Add(uint32(rng.IntN(f.n())))
		}
		allow.Add(1 << 30) // a key the graph does not hold
		for _, mode := range []string{"default", "walk", "two-hop walk"} {
			t.Run(fmt.Sprintf("%d allowed, %s", n, mode), func(t *testing.T) {
				if mode != "default" {
					defer forceWalk(g, mode == "two-hop walk")()
				}
				for qi := range f.nq() {
					res, err := g.Search(f.query(qi), 10, 10, allow)
					require.NoError(t, err)
					require.Len(t, res, min(n, 10))
					for i, r := range res {
						require.True(t, allow.Contains(r.Key))
						if i > 0 {
							require.LessOrEqual(t, res[i-1].Dist, r.Dist)
						}
					}
				}
			})
		}
	}
	// An empty allow-list returns nothing.
	res, err := g.Search(f.query(0), 10, 10, roaring.New())
	require.NoError(t, err)
	require.Empty(t, res)
}

// forceWalk makes g answer every filtered search by walking the graph (with
// the exact scan only as the fallback), always or never looking through
// disallowed nodes, until the returned function restores its thresholds.
func forceWalk(g *Graph, twoHop bool) (restore func()) {
	saved := g.cfg
	g.noScanModel = true
	g.cfg.FilterExactCount = 0
	g.cfg.FilterTwoHopBelow = 0
	if twoHop {
		g.cfg.FilterTwoHopBelow = 2
	}
	return func() { g.cfg, g.noScanModel = saved, false }
}

// TestScanCheaper pins the cost model that picks the exact scan: card² ≤
// ef·m0·live.
func TestScanCheaper(t *testing.T) {
	for _, c := range []struct {
		card, live, ef, m0 uint64
		want               bool
	}{
		{17800, 100000, 100, 32, true}, // 17,800² ≈ 3.17e8 ≤ 3.2e8
		{18000, 100000, 100, 32, false},
		{1, 1, 1, 1, true},
		{2000, 1000000, 10, 32, true},
		{20000, 1000000, 10, 32, false},
		{1 << 32, 1 << 32, 1 << 20, 64, false}, // no overflow at the largest sizes
		{1 << 20, 1 << 32, 1 << 20, 64, true},
	} {
		require.Equal(t, c.want, scanCheaper(c.card, c.live, c.ef, c.m0), "%+v", c)
	}
}
