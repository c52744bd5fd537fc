package hnsw

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ragd/ragd/flat"
	"github.com/stretchr/testify/require"
)

// TestSearchExact: the batch exact search returns the brute-force top k
// of the live vectors, with or without an allow-list, for every metric,
// with tombstones in the graph and after the dimension order was learnt
// (reorderAt vectors).
func TestSearchExact(t *testing.T) {
	f := newFixture(21, 3000, 40, 72)
	for _, m := range []Metric{L2, Cosine, Dot} {
		t.Run(m.String(), func(t *testing.T) {
			g := build(t, f, Config{Metric: m, M: 8, EfConstruction: 60, Seed: 3})
			deleted := map[uint32]bool{}
			for key := uint32(0); key < 3000; key += 7 {
				require.NoError(t, g.Delete(key))
				deleted[key] = true
			}
			rng := rand.New(rand.NewPCG(4, 4))
			allow := randomAllow(rng, 3000, 0.05)
			qs := make([][]float32, f.nq())
			for i := range qs {
				qs[i] = f.query(i)
			}
			for _, tc := range []struct {
				name  string
				allow AllowList
				keep  func(uint32) bool
			}{
				{"all", nil, func(k uint32) bool { return !deleted[k] }},
				{"allowed", allow, func(k uint32) bool { return !deleted[k] && allow.Contains(k) }},
			} {
				const k = 10
				res, err := g.SearchExact(context.Background(), qs, k, tc.allow)
				require.NoError(t, err)
				require.Len(t, res, len(qs))
				for qi, got := range res {
					want := bruteFiltered(f, m, qs[qi], k, tc.keep)
					require.Len(t, got, len(want), "%s query %d", tc.name, qi)
					for j := range want {
						require.InDelta(t, want[j].Dist, float64(got[j].Dist), 1e-3*(1+math.Abs(want[j].Dist)), "%s query %d rank %d", tc.name, qi, j)
						if j+1 < len(want) && want[j+1].Dist-want[j].Dist > 1e-4 && (j == 0 || want[j].Dist-want[j-1].Dist > 1e-4) {
							require.Equal(t, want[j].Key, got[j].Key, "%s query %d rank %d", tc.name, qi, j)
						}
					}
				}
			}
		})
	}
}

// TestFlatMetric: SearchExact converts a graph's metric to flat's by
// value; the two packages number the metrics alike.
func TestFlatMetric(t *testing.T) {
	for _, m := range []Metric{L2, Cosine, Dot} {
		require.Equal(t, m.String(), flat.Metric(m).String())
	}
}

// TestSearchExactEdges: bad k, an empty graph, an allow-list naming keys
// the graph lacks, a cancelled context, a bad query.
func TestSearchExactEdges(t *testing.T) {
	g, err := New(Config{Dim: 4, Metric: Cosine})
	require.NoError(t, err)
	ctx := context.Background()
	q := [][]float32{{1, 0, 0, 0}}
	_, err = g.SearchExact(ctx, q, 0, nil)
	require.ErrorIs(t, err, ErrInvalidArgument)
	res, err := g.SearchExact(ctx, q, 3, nil)
	require.NoError(t, err)
	require.Empty(t, res[0])
	require.NoError(t, g.Add(5, []float32{0, 1, 0, 0}))
	require.NoError(t, g.Add(9, []float32{1, 1, 0, 0}))
	res, err = g.SearchExact(ctx, q, 3, keyList{5, 77})
	require.NoError(t, err)
	require.Equal(t, []uint32{5}, keysOf(res[0]))
	res, err = g.SearchExact(ctx, q, 3, nil)
	require.NoError(t, err)
	require.Equal(t, []uint32{9, 5}, keysOf(res[0]))
	_, err = g.SearchExact(ctx, [][]float32{{1, 0, 0, 0}, {0, 0, 0, 0}}, 3, nil)
	require.ErrorIs(t, err, ErrInvalidVector)
	require.ErrorContains(t, err, "query 1")
	_, err = g.SearchExact(ctx, [][]float32{{1, 0}}, 3, nil)
	require.ErrorIs(t, err, ErrDimensionMismatch)
}

// TestSearchExactWithWriters runs exact batches while writers add and
// delete (under -race this checks that only ready slots are read), then
// checks that every key a batch returned was added.
func TestSearchExactWithWriters(t *testing.T) {
	f := newFixture(8, 4000, 16, 32)
	g := build(t, f, Config{M: 8, EfConstruction: 40})
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			key := uint32(10000 + i)
			if err := g.Add(key, f.row(i%f.n())); err != nil {
				t.Error(err)
				return
			}
			if i%3 == 0 {
				_ = g.Delete(uint32(i % 4000))
			}
		}
	}()
	qs := make([][]float32, f.nq())
	for i := range qs {
		qs[i] = f.query(i)
	}
	for range 20 {
		res, err := g.SearchExact(context.Background(), qs, 5, nil)
		require.NoError(t, err)
		for _, r := range res {
			require.Len(t, r, 5)
		}
	}
	stop.Store(true)
	wg.Wait()
}

type keyList []uint32

func (l keyList) Contains(k uint32) bool {
	for _, x := range l {
		if x == k {
			return true
		}
	}
	return false
}
func (l keyList) GetCardinality() uint64 { return uint64(len(l)) }
func (l keyList) Iterate(cb func(uint32) bool) {
	for _, x := range l {
		if !cb(x) {
			return
		}
	}
}

func keysOf(rs []Result) []uint32 {
	out := make([]uint32, len(rs))
	for i, r := range rs {
		out[i] = r.Key
	}
	return out
}

// BenchmarkExactScanSingle compares, for one query at a time, the exact
// scan of a small allowed set through the graph's own loop (the filtered
// Search) with the same scan through flat (SearchExact with one query), on
// 100,000 random 384-d vectors.
//
//	go test -run '^$' -bench ExactScanSingle ./hnsw
func BenchmarkExactScanSingle(b *testing.B) {
	const n, dim = 100000, 384
	rng := rand.New(rand.NewPCG(1, 1))
	data := make([]float32, n*dim)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	g, err := New(Config{Dim: dim, Metric: L2, M: 16, EfConstruction: 40, Capacity: n})
	if err != nil {
		b.Fatal(err)
	}
	addParallel(b, g, fixture{dim: dim, data: data}, 0, n)
	q := make([]float32, dim)
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	for _, sel := range []float64{0.002, 0.01, 0.05} {
		allow := randomAllow(rand.New(rand.NewPCG(uint64(sel*1000), 3)), n, sel)
		b.Run(fmt.Sprintf("allowed=%d/graph-loop", allow.GetCardinality()), func(b *testing.B) {
			saved := g.cfg
			defer func() { g.cfg = saved }()
			g.cfg.FilterExactCount = n
			for b.Loop() {
				if _, err := g.Search(q, 10, 64, allow); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("allowed=%d/flat", allow.GetCardinality()), func(b *testing.B) {
			for b.Loop() {
				if _, err := g.SearchExact(context.Background(), [][]float32{q}, 10, allow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
