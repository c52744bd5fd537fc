package flat

import (
	"context"
	"fmt"
	"testing"

	"github.com/ragd/ragd/simd"
)

// BenchmarkSearch runs one batch of 64 queries against 4,096 random rows,
// k 10, L2 with cached norms, on one thread and on all: the engine end to
// end (packing, tiles, selection, exact distances of the winners). The
// published comparison with FAISS is `ragctl bench exact` (bench/results/exact.md).
func BenchmarkSearch(b *testing.B) {
	const n, nq, k = 4096, 64, 10
	for _, dim := range []int{128, 768, 1536} {
		r := newRand(uint64(dim))
		base := make([]float32, n*dim)
		for i := range base {
			base[i] = r.Float32()*2 - 1
		}
		norms := make([]float32, n)
		for i := range n {
			norms[i] = simd.Dot(base[i*dim:(i+1)*dim], base[i*dim:(i+1)*dim])
		}
		v := Slab(base, dim)
		v.Norms = norms
		for _, threads := range []int{1, 0} {
			e := mustEngine(b, Config{Threads: threads})
			b.Run(fmt.Sprintf("dim=%d/threads=%d", dim, e.Config().Threads), func(b *testing.B) {
				req := &Request{Vectors: v, Metric: L2, Queries: base[:nq*dim], K: k}
				var resp Response
				b.SetBytes(int64(4 * n * dim))
				b.ReportAllocs()
				for b.Loop() {
					if err := e.Search(context.Background(), req, &resp); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(2*float64(n*nq*dim)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(float64(nq)*float64(b.N)/b.Elapsed().Seconds(), "queries/s")
			})
		}
	}
}

// BenchmarkSearchFiltered is the exact scan of a small allowed set: one
// query against 2,000 allowed rows out of 100,000, the case hnsw hands to
// the engine instead of walking the graph.
func BenchmarkSearchFiltered(b *testing.B) {
	const n, dim, allowed = 100_000, 384, 2000
	r := newRand(1)
	base := make([]float32, n*dim)
	for i := range base {
		base[i] = r.Float32()*2 - 1
	}
	ids := make(IDs, 0, allowed)
	for i := range allowed {
		ids = append(ids, uint32(i*(n/allowed)))
	}
	e := mustEngine(b, Config{Threads: 1})
	for _, nq := range []int{1, 16} {
		b.Run(fmt.Sprintf("queries=%d", nq), func(b *testing.B) {
			req := &Request{Vectors: Slab(base, dim), Metric: L2, Queries: base[:nq*dim], K: 10, Allow: ids}
			var resp Response
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Search(context.Background(), req, &resp); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(nq)*float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}
