package flat

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/ragd/ragd/internal/testutil"
	"github.com/ragd/ragd/simd"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0xf1a7)) }

var metrics = []Metric{L2, Cosine, Dot}

// oracle returns the brute-force answer of testutil for one query.
func oracle(m Metric, data []float32, dim int, q []float32, k int, keep func(uint32) bool) []testutil.Neighbor {
	return testutil.BruteForce(testutil.Metric(m.String()), data, dim, nil, q, k, keep)
}

// requireMatches checks hits against the oracle's neighbours: the same
// number, the same distances up to rounding, and the same ids except where
// two distances tie within rounding (then either order, or either of two
// rows at the k-th place, is right).
func requireMatches(t *testing.T, m Metric, data []float32, dim int, q []float32, want []testutil.Neighbor, got []Result, msg string) {
	t.Helper()
	require.Lenf(t, got, len(want), "%s: number of hits", msg)
	tol := func(d float64) float64 { return 1e-4*math.Abs(d) + 1e-4*scale(m, q) }
	for i := range want {
		require.InDeltaf(t, want[i].Dist, float64(got[i].Dist), tol(want[i].Dist), "%s: hit %d distance (want id %d, got %d)", msg, i, want[i].Key, got[i].ID)
		if got[i].ID != want[i].Key {
			// A tie: the row we returned must be as near as the oracle's.
			d := testutil.Distance(testutil.Metric(m.String()), q, data[int(got[i].ID)*dim:int(got[i].ID+1)*dim])
			require.InDeltaf(t, want[i].Dist, d, tol(want[i].Dist), "%s: hit %d id %d instead of %d is not a tie", msg, i, got[i].ID, want[i].Key)
		}
		if i > 0 {
			require.LessOrEqualf(t, got[i-1].Dist, got[i].Dist, "%s: hits out of order", msg)
		}
	}
	ids := make([]uint32, len(got))
	for i, h := range got {
		ids[i] = h.ID
	}
	slices.Sort(ids)
	require.Lenf(t, slices.Compact(ids), len(got), "%s: duplicate ids", msg)
}

// scale is the size of the distances of query q: the rounding of float32
// products is relative to it.
func scale(m Metric, q []float32) float64 {
	var s float64
	for _, x := range q {
		s += float64(x) * float64(x)
	}
	if m == Cosine {
		return 1
	}
	return s + 1
}

func mustEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	require.NoError(t, err)
	return e
}

// engines are the configurations every search test runs under: one
// thread, several (query blocks and row shards), and the direct path for
// every batch size.
func engines(t testing.TB) map[string]*Engine {
	return map[string]*Engine{
		"1thread":     mustEngine(t, Config{Threads: 1}),
		"3threads":    mustEngine(t, Config{Threads: 3, CacheBytes: 4 << 10}),
		"direct":      mustEngine(t, Config{Threads: 2, SmallBatch: 1 << 20}),
		"tiles-alone": mustEngine(t, Config{Threads: 1, SmallBatch: 1}),
	}
}

func TestSearchBruteForce(t *testing.T) {
	ctx := context.Background()
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			r := newRand(1)
			for _, c := range []struct{ n, nq, dim, k int }{
				{1, 1, 1, 1}, {7, 3, 5, 3}, {50, 17, 13, 10}, {300, 40, 33, 7}, {257, 5, 100, 300},
				{1000, 35, 17, 1}, {64, 70, 64, 64},
			} {
				data := testutil.Clustered(r, c.n+c.nq, c.dim, 4)
				base, qs := data[:c.n*c.dim], data[c.n*c.dim:]
				for _, m := range metrics {
					var resp Response
					req := &Request{Vectors: Slab(base, c.dim), Metric: m, Queries: qs, K: c.k}
					require.NoError(t, e.Search(ctx, req, &resp))
					require.Equal(t, c.n, resp.Rows)
					for i := range c.nq {
						q := qs[i*c.dim : (i+1)*c.dim]
						want := oracle(m, base, c.dim, q, c.k, nil)
						requireMatches(t, m, base, c.dim, q, want, resp.Hits(i), fmt.Sprintf("%s %+v query %d", m, c, i))
					}
				}
			}
		})
	}
}

// search runs one request on e and fails the test on error.
func search(t testing.TB, e *Engine, req *Request) *Response {
	t.Helper()
	var resp Response
	require.NoError(t, e.Search(context.Background(), req, &resp))
	return &resp
}

func TestSearchFilters(t *testing.T) {
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			r := newRand(2)
			n, nq, dim, k := 500, 23, 19, 8
			data := testutil.Clustered(r, n+nq, dim, 5)
			base, qs := data[:n*dim], data[n*dim:]
			var sorted IDs
			for i := range n {
				if r.IntN(7) == 0 {
					sorted = append(sorted, uint32(i))
				}
			}
			unsorted := slices.Clone(sorted)
			r.Shuffle(len(unsorted), func(i, j int) { unsorted[i], unsorted[j] = unsorted[j], unsorted[i] })
			unsorted = append(unsorted, sorted[:5]...)      // duplicates
			unsorted = append(unsorted, uint32(n), 1<<31-1) // beyond Len
			bm := roaring.New()
			for _, id := range sorted {
				bm.Add(id)
			}
			odd := func(id uint32) bool { return id%2 == 1 }
			for _, c := range []struct {
				name    string
				allow   AllowList
				exclude func(uint32) bool
				keep    func(uint32) bool
			}{
				{"sorted", sorted, nil, func(id uint32) bool { return slices.Contains(sorted, id) }},
				{"unsorted", unsorted, nil, func(id uint32) bool { return slices.Contains(sorted, id) }},
				{"roaring", bm, nil, bm.Contains},
				{"exclude", nil, odd, func(id uint32) bool { return !odd(id) }},
				{"roaring+exclude", bm, odd, func(id uint32) bool { return bm.Contains(id) && !odd(id) }},
				{"few", IDs{3, 400, 17}, nil, func(id uint32) bool { return id == 3 || id == 400 || id == 17 }},
			} {
				for _, m := range metrics {
					req := &Request{Vectors: Slab(base, dim), Metric: m, Queries: qs, K: k, Allow: c.allow, Exclude: c.exclude}
					resp := search(t, e, req)
					for i := range nq {
						q := qs[i*dim : (i+1)*dim]
						want := oracle(m, base, dim, q, k, c.keep)
						requireMatches(t, m, base, dim, q, want, resp.Hits(i), fmt.Sprintf("%s %s query %d", c.name, m, i))
					}
				}
			}
		})
	}
}

func TestSearchEmpty(t *testing.T) {
	e := mustEngine(t, Config{Threads: 2})
	r := newRand(3)
	base := testutil.Clustered(r, 40, 6, 2)
	qs := base[:3*6]
	for name, req := range map[string]*Request{
		"no rows":      {Vectors: Slab(nil, 6), Metric: L2, Queries: qs, K: 5},
		"len 0":        {Vectors: Vectors{Dim: 6, Chunks: [][]float32{base}}, Metric: Dot, Queries: qs, K: 5},
		"empty allow":  {Vectors: Slab(base, 6), Metric: Cosine, Queries: qs, K: 5, Allow: IDs{}},
		"all excluded": {Vectors: Slab(base, 6), Metric: L2, Queries: qs, K: 5, Exclude: func(uint32) bool { return true }},
		"allow beyond": {Vectors: Slab(base, 6), Metric: L2, Queries: qs, K: 5, Allow: IDs{40, 41, 1000}},
	} {
		t.Run(name, func(t *testing.T) {
			resp := search(t, e, req)
			require.Equal(t, 5, resp.K)
			require.Len(t, resp.Found, 3)
			for i := range 3 {
				require.Empty(t, resp.Hits(i))
			}
		})
	}
	t.Run("no queries", func(t *testing.T) {
		resp := search(t, e, &Request{Vectors: Slab(base, 6), Metric: L2, K: 5})
		require.Empty(t, resp.Found)
	})
	t.Run("k beyond rows", func(t *testing.T) {
		resp := search(t, e, &Request{Vectors: Slab(base[:4*6], 6), Metric: L2, Queries: qs, K: 50})
		for i := range 3 {
			require.Len(t, resp.Hits(i), 4)
		}
		require.Equal(t, 4, resp.Rows)
	})
}

// chunked returns the rows of base (n rows of dim floats) as a Vectors of
// chunks of the given row counts, stride floats apart with NaN in the gaps
// (so that reading past a vector shows), and a last chunk with spare room.
func chunked(base []float32, dim, stride int, rows []int) Vectors {
	v := Vectors{Dim: dim, Stride: stride}
	next := 0
	for ci, c := range rows {
		spare := 0
		if ci == len(rows)-1 {
			spare = 3
		}
		chunk := make([]float32, (c+spare)*stride)
		for i := range chunk {
			chunk[i] = float32(math.NaN())
		}
		for j := range c {
			copy(chunk[j*stride:], base[(next+j)*dim:(next+j+1)*dim])
		}
		next += c
		v.Chunks = append(v.Chunks, chunk)
	}
	v.Len = next
	return v
}

func TestSearchChunksAndStride(t *testing.T) {
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			r := newRand(4)
			dim, nq, k := 21, 19, 6
			sizes := []int{1, 16, 0, 37, 5, 64, 13}
			n := 0
			for _, s := range sizes {
				n += s
			}
			data := testutil.Clustered(r, n+nq, dim, 3)
			base, qs := data[:n*dim], data[n*dim:]
			for _, stride := range []int{dim, dim + 3, 40} {
				v := chunked(base, dim, stride, sizes)
				for _, m := range metrics {
					for _, norms := range []bool{false, true} {
						vv := v
						if norms {
							vv.Norms = make([]float32, n)
							for i := range n {
								row := base[i*dim : (i+1)*dim]
								vv.Norms[i] = simd.Dot(row, row)
							}
						}
						for _, allow := range []AllowList{nil, IDs{0, 1, 2, 17, 18, 60, 61, 62, 63, 100, 135}} {
							resp := search(t, e, &Request{Vectors: vv, Metric: m, Queries: qs, K: k, Allow: allow})
							for i := range nq {
								q := qs[i*dim : (i+1)*dim]
								var keep func(uint32) bool
								if allow != nil {
									keep = func(id uint32) bool { return slices.Contains(allow.(IDs), id) }
								}
								want := oracle(m, base, dim, q, k, keep)
								requireMatches(t, m, base, dim, q, want, resp.Hits(i), fmt.Sprintf("stride %d %s norms %v allow %v query %d", stride, m, norms, allow != nil, i))
							}
						}
					}
				}
			}
		})
	}
}

// TestSearchDistances checks that the distances returned are those of the
// simd kernels, bit for bit, as hnsw computes them.
func TestSearchDistances(t *testing.T) {
	e := mustEngine(t, Config{Threads: 2})
	r := newRand(5)
	n, nq, dim := 300, 20, 50
	data := testutil.Clustered(r, n+nq, dim, 4)
	base, qs := data[:n*dim], data[n*dim:]
	unit := slices.Clone(base)
	for i := range n {
		normalize(unit[i*dim : (i+1)*dim])
	}
	for _, c := range []struct {
		m    Metric
		v    Vectors
		dist func(q, row []float32) float32
	}{
		{L2, Slab(base, dim), simd.L2Squared},
		{Dot, Slab(base, dim), func(q, row []float32) float32 { return -simd.Dot(q, row) }},
		{Cosine, Slab(base, dim), func(q, row []float32) float32 { return 1 - simd.Cosine(q, row) }},
		{Cosine, Vectors{Dim: dim, Chunks: [][]float32{unit}, Len: n, Unit: true}, func(q, row []float32) float32 {
			qn := slices.Clone(q)
			normalize(qn)
			return 0.5 * simd.L2Squared(qn, row)
		}},
	} {
		resp := search(t, e, &Request{Vectors: c.v, Metric: c.m, Queries: qs, K: 10})
		for i := range nq {
			q := qs[i*dim : (i+1)*dim]
			for _, h := range resp.Hits(i) {
				row := c.v.Chunks[0][int(h.ID)*dim : int(h.ID+1)*dim]
				require.Equal(t, math.Float32bits(c.dist(q, row)), math.Float32bits(h.Dist), "%s unit %v query %d id %d", c.m, c.v.Unit, i, h.ID)
			}
		}
	}
}

// TestSearchTies checks that equal distances come back by ascending id,
// across tiles, blocks and shards.
func TestSearchTies(t *testing.T) {
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			dim, n := 9, 700
			row := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
			base := make([]float32, 0, n*dim)
			for range n {
				base = append(base, row...)
			}
			qs := make([]float32, 0, 40*dim)
			for i := range 40 {
				for j := range dim {
					qs = append(qs, float32(i+j))
				}
			}
			for _, m := range metrics {
				resp := search(t, e, &Request{Vectors: Slab(base, dim), Metric: m, Queries: qs, K: 12, Allow: nil})
				for i := range 40 {
					for j, h := range resp.Hits(i) {
						require.Equal(t, uint32(j), h.ID, "%s query %d hit %d", m, i, j)
					}
				}
			}
		})
	}
}

// TestSearchNaNRows checks that rows whose distance is NaN never come
// back, and the others still do.
func TestSearchNaNRows(t *testing.T) {
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			r := newRand(6)
			n, dim := 100, 8
			base := testutil.Clustered(r, n, dim, 2)
			for i := 0; i < n; i += 3 {
				base[i*dim+i%dim] = float32(math.NaN())
			}
			qs := testutil.Clustered(r, 17, dim, 2)
			for _, m := range metrics {
				resp := search(t, e, &Request{Vectors: Slab(base, dim), Metric: m, Queries: qs, K: 200})
				for i := range 17 {
					hits := resp.Hits(i)
					require.Len(t, hits, n-34, "%s query %d", m, i)
					for _, h := range hits {
						require.NotZero(t, h.ID%3, "%s: NaN row returned", m)
					}
				}
			}
		})
	}
}

func TestSearchInvalid(t *testing.T) {
	e := mustEngine(t, Config{})
	base := make([]float32, 40)
	q := make([]float32, 4)
	for name, c := range map[string]struct {
		req  Request
		want error
	}{
		"dim":        {Request{Vectors: Vectors{Chunks: [][]float32{base}, Len: 1}, Metric: L2, Queries: q, K: 1}, ErrInvalidArgument},
		"stride":     {Request{Vectors: Vectors{Dim: 4, Stride: 3, Chunks: [][]float32{base}, Len: 1}, Metric: L2, Queries: q, K: 1}, ErrInvalidArgument},
		"len":        {Request{Vectors: Vectors{Dim: 4, Chunks: [][]float32{base}, Len: 11}, Metric: L2, Queries: q, K: 1}, ErrInvalidArgument},
		"norms":      {Request{Vectors: Vectors{Dim: 4, Chunks: [][]float32{base}, Len: 10, Norms: make([]float32, 9)}, Metric: L2, Queries: q, K: 1}, ErrInvalidArgument},
		"k":          {Request{Vectors: Slab(base, 4), Metric: L2, Queries: q, K: 0}, ErrInvalidArgument},
		"metric":     {Request{Vectors: Slab(base, 4), Metric: 9, Queries: q, K: 1}, ErrInvalidArgument},
		"query dims": {Request{Vectors: Slab(base, 4), Metric: L2, Queries: q[:3], K: 1}, ErrDimensionMismatch},
	} {
		t.Run(name, func(t *testing.T) {
			var resp Response
			require.ErrorIs(t, e.Search(context.Background(), &c.req, &resp), c.want)
		})
	}
}

func TestSearchCanceled(t *testing.T) {
	r := newRand(7)
	base := testutil.Clustered(r, 2000, 16, 2)
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var resp Response
			err := e.Search(ctx, &Request{Vectors: Slab(base, 16), Metric: L2, Queries: base[:64*16], K: 3}, &resp)
			require.ErrorIs(t, err, context.Canceled)
			// The engine still works afterwards.
			require.NoError(t, e.Search(context.Background(), &Request{Vectors: Slab(base, 16), Metric: L2, Queries: base[:64*16], K: 3}, &resp))
			require.Equal(t, uint32(5), resp.Hits(5)[0].ID)
		})
	}
}

// TestSearchConcurrent runs searches on one engine from several goroutines.
func TestSearchConcurrent(t *testing.T) {
	r := newRand(8)
	n, dim := 800, 24
	base := testutil.Clustered(r, n, dim, 4)
	e := mustEngine(t, Config{Threads: 2})
	want := search(t, e, &Request{Vectors: Slab(base, dim), Metric: L2, Queries: base[:40*dim], K: 5})
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			var resp Response
			for range 5 {
				if err := e.Search(context.Background(), &Request{Vectors: Slab(base, dim), Metric: L2, Queries: base[:40*dim], K: 5}, &resp); err != nil {
					errs <- err
					return
				}
				for i := range 40 {
					if !slices.Equal(want.Hits(i), resp.Hits(i)) {
						errs <- fmt.Errorf("goroutine %d query %d: results differ", g, i)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}

func TestSearchAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under coverage and the race detector")
	}
	r := newRand(9)
	base := testutil.Clustered(r, 500, 32, 3)
	e := mustEngine(t, Config{Threads: 1})
	for _, c := range []struct {
		nq    int
		allow AllowList
	}{{1, nil}, {50, nil}, {1, IDs{1, 5, 7, 100, 300}}, {50, IDs{1, 5, 7, 100, 300}}} {
		nq := c.nq
		req := &Request{Vectors: Slab(base, 32), Metric: L2, Queries: base[:nq*32], K: 10, Allow: c.allow}
		var resp Response
		require.NoError(t, e.Search(context.Background(), req, &resp))
		allocs := testing.AllocsPerRun(20, func() {
			_ = e.Search(context.Background(), req, &resp)
		})
		require.Zero(t, allocs, "%d queries, allow-list %v", nq, c.allow != nil)
	}
}

func TestConfig(t *testing.T) {
	d := DefaultConfig()
	require.Positive(t, d.Threads)
	require.GreaterOrEqual(t, d.CacheBytes, 64<<10)
	require.Positive(t, d.SmallBatch)
	require.NoError(t, Config{}.Validate())
	require.ErrorIs(t, Config{Threads: -1}.Validate(), ErrInvalidConfig)
	require.ErrorIs(t, Config{CacheBytes: 100}.Validate(), ErrInvalidConfig)
	require.ErrorIs(t, Config{SmallBatch: -2}.Validate(), ErrInvalidConfig)
	_, err := New(Config{Threads: -1})
	require.ErrorIs(t, err, ErrInvalidConfig)

	require.Equal(t, 512<<10, parseCacheSize("512K"))
	require.Equal(t, 2<<20, parseCacheSize("2M"))
	require.Equal(t, 1000, parseCacheSize("1000"))
	require.Zero(t, parseCacheSize("x"))
	require.Zero(t, parseCacheSize(""))

	for _, m := range metrics {
		got, err := ParseMetric(m.String())
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	_, err = ParseMetric("hamming")
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.Equal(t, "Metric(9)", Metric(9).String())
}
