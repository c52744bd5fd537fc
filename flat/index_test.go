package flat

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/ragd/ragd/internal/testutil"
	"github.com/stretchr/testify/require"
)

func newIndex(t testing.TB, dim int, m Metric) *Index {
	t.Helper()
	x, err := NewIndex(IndexConfig{Dim: dim, Metric: m, Capacity: 16, Engine: Config{Threads: 2}})
	require.NoError(t, err)
	return x
}

func TestIndex(t *testing.T) {
	r := newRand(20)
	n, nq, dim, k := 400, 25, 30, 7
	data := testutil.Clustered(r, n+nq, dim, 4)
	base, qs := data[:n*dim], data[n*dim:]
	for _, m := range metrics {
		t.Run(m.String(), func(t *testing.T) {
			x := newIndex(t, dim, m)
			// Added in three calls: ids follow on.
			for _, part := range [][2]int{{0, 1}, {1, 250}, {250, n}} {
				first, err := x.Add(base[part[0]*dim : part[1]*dim])
				require.NoError(t, err)
				require.Equal(t, uint32(part[0]), first)
			}
			require.Equal(t, n, x.Len())
			deleted := map[uint32]bool{}
			for i := uint32(0); i < uint32(n); i += 5 {
				require.NoError(t, x.Delete(i))
				deleted[i] = true
			}
			require.Equal(t, n-len(deleted), x.Live())
			require.ErrorIs(t, x.Delete(0), ErrNotFound)
			require.ErrorIs(t, x.Delete(uint32(n)), ErrNotFound)

			allow := IDs{1, 2, 3, 5, 6, 7, 100, 101, 399}
			for _, a := range []AllowList{nil, allow} {
				var resp Response
				require.NoError(t, x.Search(context.Background(), qs, k, a, &resp))
				for i := range nq {
					q := qs[i*dim : (i+1)*dim]
					keep := func(id uint32) bool { return !deleted[id] && (a == nil || slices.Contains(allow, id)) }
					want := oracle(m, base, dim, q, k, keep)
					requireMatches(t, m, base, dim, q, want, resp.Hits(i), fmt.Sprintf("allow %v query %d", a != nil, i))
				}
			}

			v, err := x.Vector(nil, 1)
			require.NoError(t, err)
			if m == Cosine {
				require.InDelta(t, 1, math.Sqrt(float64(dotF64(v, v))), 1e-6)
			} else {
				require.Equal(t, base[dim:2*dim], v)
			}
			_, err = x.Vector(nil, 0)
			require.ErrorIs(t, err, ErrNotFound)
		})
	}
}

func dotF64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestIndexErrors(t *testing.T) {
	_, err := NewIndex(IndexConfig{})
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = NewIndex(IndexConfig{Dim: 3, Metric: 7})
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = NewIndex(IndexConfig{Dim: 3, Capacity: -1})
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = NewIndex(IndexConfig{Dim: 3, Engine: Config{Threads: -1}})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Equal(t, Cosine, DefaultIndexConfig(3).Metric)

	x := newIndex(t, 3, Cosine)
	_, err = x.Add([]float32{1, 2})
	require.ErrorIs(t, err, ErrDimensionMismatch)
	_, err = x.Add([]float32{1, 2, 3, 0, 0, 0})
	require.ErrorIs(t, err, ErrInvalidVector)
	_, err = x.Add([]float32{1, float32(math.NaN()), 3})
	require.ErrorIs(t, err, ErrInvalidVector)
	_, err = x.Add([]float32{1, float32(math.Inf(-1)), 3})
	require.ErrorIs(t, err, ErrInvalidVector)
	require.Zero(t, x.Len(), "a failed Add adds nothing")
	var resp Response
	require.ErrorIs(t, x.Search(context.Background(), []float32{1, 2}, 1, nil, &resp), ErrDimensionMismatch)
	require.ErrorIs(t, x.Search(context.Background(), []float32{1, 2, 3}, 0, nil, &resp), ErrInvalidArgument)
	require.NoError(t, x.Search(context.Background(), []float32{1, 2, 3}, 1, nil, &resp))
	require.Empty(t, resp.Hits(0))

	l2 := newIndex(t, 2, L2)
	_, err = l2.Add([]float32{0, 0})
	require.NoError(t, err, "a zero vector is fine under L2")
}

// TestIndexConcurrent adds, deletes and searches at once (for -race).
func TestIndexConcurrent(t *testing.T) {
	r := newRand(21)
	dim := 16
	data := testutil.Clustered(r, 600, dim, 3)
	x := newIndex(t, dim, L2)
	_, err := x.Add(data[:100*dim])
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 100; i < 600; i += 50 {
			_, err := x.Add(data[i*dim : (i+50)*dim])
			require.NoError(t, err)
		}
	}()
	go func() {
		defer wg.Done()
		for i := uint32(0); i < 100; i += 3 {
			require.NoError(t, x.Delete(i))
		}
	}()
	go func() {
		defer wg.Done()
		var resp Response
		for range 20 {
			require.NoError(t, x.Search(context.Background(), data[:10*dim], 5, nil, &resp))
			for i := range 10 {
				for _, h := range resp.Hits(i) {
					require.Less(t, int(h.ID), 600)
				}
			}
		}
	}()
	wg.Wait()
	require.Equal(t, 600, x.Len())
	require.Equal(t, 600-34, x.Live())
}

func TestTopK(t *testing.T) {
	r := newRand(22)
	for _, k := range []int{1, 2, 5, 33} {
		var all []cand
		var h topK
		h.reset(make([]cand, 0, k))
		for i := range 500 {
			c := cand{float32(r.IntN(40)), uint32(i)}
			all = append(all, c)
			h.push(c)
			if len(all) >= k {
				require.True(t, h.full())
			}
		}
		sortCands(all)
		got := slices.Clone(h.h)
		sortCands(got)
		require.Equal(t, all[:k], got)
		require.Equal(t, all[k-1].key, h.worst())
	}
	var h topK
	h.reset(make([]cand, 0, 3))
	require.Equal(t, inf, h.worst())
}
