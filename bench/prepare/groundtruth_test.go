package main

import (
	"context"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragd/ragd/simd"
)

// naiveGT is the oracle: every key in float64, fully sorted.
func naiveGT(base, queries []float32, dim, k int, m metric) ([]int32, []float32) {
	nb := len(base) / dim
	var ids []int32
	var dists []float32
	for q := 0; q < len(queries); q += dim {
		r := make([]ranked, nb)
		for id := range nb {
			r[id] = ranked{exactKey(m, queries[q:q+dim], base[id*dim:(id+1)*dim]), int32(id)}
		}
		slices.SortFunc(r, compareRanked)
		for _, c := range r[:k] {
			ids = append(ids, c.id)
			dists = append(dists, float32(distance(m, c.key)))
		}
	}
	return ids, dists
}

func randomRows(rng *rand.Rand, n, dim int, value func() float32) []float32 {
	out := make([]float32, n*dim)
	for i := range out {
		out[i] = value()
	}
	return out
}

func TestGroundTruth(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	gauss := func() float32 { return float32(rng.NormFloat64()) }
	pixel := func() float32 { return float32(rng.Intn(2)) } // few values: big groups of exact ties

	// Duplicated rows make exact ties across the candidate cut, which the
	// float32 scan cannot order: those queries must be rescanned.
	dupBase := randomRows(rng, 300, 12, gauss)
	for i := 1; i < 300; i += 2 {
		copy(dupBase[i*12:(i+1)*12], dupBase[:12])
	}

	tests := []struct {
		name        string
		base, query []float32
		dim, k      int
		metric      metric
		workers     int
		blockRows   int
		wantRescans bool
	}{
		{"euclidean gaussian", randomRows(rng, 3000, 17, gauss), randomRows(rng, 37, 17, gauss), 17, 10, euclidean, 1, 0, false},
		{"euclidean small blocks, 3 workers", randomRows(rng, 3000, 17, gauss), randomRows(rng, 37, 17, gauss), 17, 100, euclidean, 3, 129, false},
		{"euclidean integer ties", randomRows(rng, 2000, 4, pixel), randomRows(rng, 20, 4, pixel), 4, 50, euclidean, 2, 64, true},
		{"angular", normalized(randomRows(rng, 3000, 100, gauss), 100), normalized(randomRows(rng, 25, 100, gauss), 100), 100, 100, angular, 2, 1000, false},
		{"angular duplicates", normalized(dupBase, 12), normalized(dupBase[:5*12], 12), 12, 20, angular, 2, 7, true},
		{"k equals base", randomRows(rng, 40, 5, gauss), randomRows(rng, 9, 5, gauss), 5, 40, euclidean, 2, 0, false},
		{"candidates equal base", randomRows(rng, 60, 5, gauss), randomRows(rng, 9, 5, gauss), 5, 40, euclidean, 2, 0, false},
		{"long vectors", randomRows(rng, 500, 1536, gauss), randomRows(rng, 4, 1536, gauss), 1536, 100, euclidean, 2, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := groundTruth(context.Background(), gtInput{
				base: tt.base, queries: tt.query, dim: tt.dim, k: tt.k, metric: tt.metric,
				workers: tt.workers, blockRows: tt.blockRows,
			})
			require.NoError(t, err)
			wantIDs, wantDists := naiveGT(tt.base, tt.query, tt.dim, tt.k, tt.metric)
			require.Equal(t, wantIDs, res.ids)
			require.Equal(t, wantDists, res.dists)
			if tt.wantRescans {
				require.Positive(t, res.rescans)
			}
		})
	}
}

func TestGroundTruthErrors(t *testing.T) {
	ok := gtInput{base: make([]float32, 20), queries: make([]float32, 4), dim: 4, k: 5, workers: 1}
	nan := slices.Clone(ok.base)
	nan[9] = float32(math.NaN())
	inf := slices.Clone(ok.queries)
	inf[0] = float32(math.Inf(-1))

	tests := []struct {
		name   string
		modify func(in *gtInput)
		want   string
	}{
		{"k above base", func(in *gtInput) { in.k = 6 }, "k = 6 with 5 base rows"},
		{"zero k", func(in *gtInput) { in.k = 0 }, "k = 0"},
		{"ragged base", func(in *gtInput) { in.base = in.base[:19] }, "not rows of dimension 4"},
		{"zero dim", func(in *gtInput) { in.dim = 0 }, "not rows of dimension 0"},
		{"no workers", func(in *gtInput) { in.workers = 0 }, "0 workers"},
		{"NaN", func(in *gtInput) { in.base = nan }, "base row 2 has a non-finite value"},
		{"Inf", func(in *gtInput) { in.queries = inf }, "query 0 has a non-finite value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.modify(&in)
			_, err := groundTruth(context.Background(), in)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestGroundTruthCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := groundTruth(ctx, gtInput{base: make([]float32, 20), queries: make([]float32, 4), dim: 4, k: 5, workers: 2})
	require.ErrorIs(t, err, context.Canceled)
}

func TestGroundTruthProgress(t *testing.T) {
	// The reporter goroutine must stop even when it never fired.
	called := false
	_, err := groundTruth(context.Background(), gtInput{
		base: make([]float32, 20), queries: make([]float32, 4), dim: 4, k: 5, workers: 1,
		progress: func(int) { called = true },
	})
	require.NoError(t, err)
	require.False(t, called)
}

// TestLowerBound checks the float32 error bound the candidate proof rests
// on, with the kernels the ground truth uses, on data built to make float32
// sums err: mixed magnitudes, long vectors, cancellation.
func TestLowerBound(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, dim := range []int{1, 3, 17, 100, 784, 1536} {
		for range 300 {
			scale := math.Pow(10, float64(rng.Intn(9)-4))
			val := func() float32 {
				x := rng.NormFloat64() * scale
				if rng.Intn(4) == 0 {
					x *= 1e3
				}
				return float32(x)
			}
			q, b := randomRows(rng, 1, dim, val), randomRows(rng, 1, dim, val)
			if rng.Intn(3) == 0 { // b close to q: small distance, heavy cancellation
				for i := range b {
					b[i] = q[i] + b[i]*1e-4
				}
			}
			f := simd.L2Squared(q, b)
			require.LessOrEqual(t, lowerBound(euclidean, dim, f), exactKey(euclidean, q, b), "dim %d", dim)

			qn, bn := normalized(q, dim), normalized(b, dim)
			f = -simd.Dot(qn, bn)
			require.LessOrEqual(t, lowerBound(angular, dim, f), exactKey(angular, qn, bn), "dim %d", dim)
		}
	}
}

func TestTopHeap(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var h topHeap
	for _, n := range []int{1, 2, 7, 64} {
		h.reset(n)
		var all []float32
		for id := range 500 {
			key := float32(rng.Intn(1000))
			all = append(all, key)
			if key < h.limit {
				h.push(key, int32(id))
			}
		}
		slices.Sort(all)
		var kept []float32
		for _, c := range h.items {
			kept = append(kept, c.key)
		}
		slices.Sort(kept)
		require.Equal(t, all[:n], kept)
		require.Equal(t, all[n-1], h.limit)
	}
}

func TestNormalized(t *testing.T) {
	in := []float32{3, 4, 0, 0, 0, 0, 1, 0, 0}
	got := normalized(in, 3)
	require.Equal(t, []float32{0.6, 0.8, 0, 0, 0, 0, 1, 0, 0}, got)
	require.Equal(t, float32(3), in[0], "the input is not modified")
}

// BenchmarkGroundTruth measures the scan on MNIST-shaped data (784
// dimensions) and GloVe-shaped data (100), reporting the time per
// query-row pair.
func BenchmarkGroundTruth(b *testing.B) {
	for _, bc := range []struct {
		name      string
		dim, base int
		metric    metric
	}{
		{"euclidean-784", 784, 20000, euclidean},
		{"angular-100", 100, 100000, angular},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rng := rand.New(rand.NewSource(1))
			val := func() float32 { return float32(rng.Intn(256)) }
			base, queries := randomRows(rng, bc.base, bc.dim, val), randomRows(rng, 64, bc.dim, val)
			if bc.metric == angular {
				base, queries = normalized(base, bc.dim), normalized(queries, bc.dim)
			}
			in := gtInput{base: base, queries: queries, dim: bc.dim, k: gtK, metric: bc.metric, workers: 1}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := groundTruth(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(64*bc.base), "ns/pair")
		})
	}
}
