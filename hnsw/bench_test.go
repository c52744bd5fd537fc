package hnsw

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ragd/ragd/internal/texmex"
)

// The search benchmarks run on synthetic clustered data, and on the real
// MNIST-784 and GloVe-100 sets when `make bench-data` has made them (they are
// skipped otherwise). Graphs are built once per process. Each reports
// recall@10 next to ns/op, so that a speed-up that costs recall shows:
//
//	go test -run '^$' -bench 'Search' -benchtime 5000x ./hnsw

type benchSet struct {
	name     string
	metric   Metric
	base, qs []float32
	dim      int
	gt       []int32 // 100 per query; nil for synthetic sets (computed)
	gtDim    int
}

var benchGraphs sync.Map // name → *Graph

func loadBenchSet(b *testing.B, name string, metric Metric, nq int) (benchSet, bool) {
	dir := filepath.Join("..", "bench", "data")
	base, dim, _, err := texmex.ReadFvecs(filepath.Join(dir, name+".base.fvecs"), 0)
	if err != nil {
		return benchSet{}, false
	}
	qs, _, _, err := texmex.ReadFvecs(filepath.Join(dir, name+".query.fvecs"), nq)
	if err != nil {
		b.Fatal(err)
	}
	gt, gdim, _, err := texmex.ReadIvecs(filepath.Join(dir, name+".gt.ivecs"), nq)
	if err != nil {
		b.Fatal(err)
	}
	return benchSet{name: name, metric: metric, base: base, qs: qs, dim: dim, gt: gt, gtDim: gdim}, true
}

func syntheticBenchSet(b *testing.B, dim int) benchSet {
	f := newFixture(42, 20000, 500, dim)
	s := benchSet{name: fmt.Sprintf("synthetic-%d", dim), metric: L2, base: f.data, qs: f.queries, dim: dim, gtDim: 10}
	for qi := range f.nq() {
		for _, n := range bruteFiltered(f, L2, f.query(qi), 10, nil) {
			s.gt = append(s.gt, int32(n.Key))
		}
	}
	return s
}

func (s benchSet) graph(b *testing.B) *Graph {
	if g, ok := benchGraphs.Load(s.name); ok {
		return g.(*Graph)
	}
	n := len(s.base) / s.dim
	g, err := New(Config{Dim: s.dim, Metric: s.metric, M: 16, EfConstruction: 200, Capacity: n})
	if err != nil {
		b.Fatal(err)
	}
	addParallel(b, g, fixture{dim: s.dim, data: s.base}, 0, n)
	benchGraphs.Store(s.name, g)
	return g
}

func BenchmarkSearch(b *testing.B) {
	sets := []struct {
		name string
		make func(b *testing.B) (benchSet, bool)
	}{
		{"synthetic-128", func(b *testing.B) (benchSet, bool) { return syntheticBenchSet(b, 128), true }},
		{"synthetic-768", func(b *testing.B) (benchSet, bool) { return syntheticBenchSet(b, 768), true }},
		{"mnist", func(b *testing.B) (benchSet, bool) { return loadBenchSet(b, "mnist-784-euclidean", L2, 2000) }},
		{"glove", func(b *testing.B) (benchSet, bool) { return loadBenchSet(b, "glove-100-angular", Cosine, 1000) }},
	}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			s, ok := set.make(b)
			if !ok {
				b.Skip("no data: run make bench-data")
			}
			for _, ef := range []int{10, 20, 80, 320} {
				b.Run(fmt.Sprintf("ef=%d", ef), func(b *testing.B) { benchSearch(b, s, ef) })
			}
		})
	}
}

func benchSearch(b *testing.B, s benchSet, ef int) {
	g := s.graph(b)
	nq := len(s.qs) / s.dim
	dst := make([]Result, 0, 10)
	hits, total := 0, 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		qi := i % nq
		i++
		res, err := g.SearchAppend(dst[:0], s.qs[qi*s.dim:(qi+1)*s.dim], 10, ef, nil)
		if err != nil {
			b.Fatal(err)
		}
		want := s.gt[qi*s.gtDim : qi*s.gtDim+10]
		for _, r := range res {
			for _, w := range want {
				if int32(r.Key) == w {
					hits++
					break
				}
			}
		}
		total += 10
	}
	b.ReportMetric(float64(hits)/float64(total), "recall@10")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "QPS")
}

func BenchmarkAdd(b *testing.B) {
	for _, dim := range []int{128, 768} {
		b.Run(fmt.Sprintf("dim=%d", dim), func(b *testing.B) {
			f := newFixture(43, 20000, 1, dim)
			g, err := New(Config{Dim: dim, Metric: L2, M: 16, EfConstruction: 200, Capacity: f.n()})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(4 * dim))
			i := 0
			for b.Loop() {
				if err := g.Add(uint32(i), f.row(i%f.n())); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkSearchFiltered measures filtered searches at several
// selectivities on synthetic data; allocs/op must stay 0.
func BenchmarkSearchFiltered(b *testing.B) {
	s := syntheticBenchSet(b, 128)
	g := s.graph(b)
	nq := len(s.qs) / s.dim
	for _, sel := range []float64{0.001, 0.01, 0.1, 0.5} {
		b.Run(fmt.Sprintf("selectivity=%g", sel), func(b *testing.B) {
			allow := randomAllow(rand.New(rand.NewPCG(1, 2)), len(s.base)/s.dim, sel)
			dst := make([]Result, 0, 10)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				qi := i % nq
				i++
				if _, err := g.SearchAppend(dst[:0], s.qs[qi*s.dim:(qi+1)*s.dim], 10, 64, allow); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "QPS")
		})
	}
}

// BenchmarkFilterStrategy runs the same filtered searches (k = ef = 100)
// through the graph walk and through the exact scan of the allowed
// vectors, over 100,000 random 384-d vectors, at selectivities around the
// crossover that scanCheaper predicts (17,900 allowed): it is the
// measurement behind that cost model.
//
//	go test -run '^$' -bench FilterStrategy -benchtime 200x ./hnsw
func BenchmarkFilterStrategy(b *testing.B) {
	const n, dim = 100000, 384
	rng := rand.New(rand.NewPCG(1, 1))
	data := make([]float32, n*dim)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	g, err := New(Config{Dim: dim, Metric: L2, M: 16, EfConstruction: 200, Capacity: n})
	if err != nil {
		b.Fatal(err)
	}
	addParallel(b, g, fixture{dim: dim, data: data}, 0, n)
	for _, sel := range []float64{0.05, 0.1, 0.2, 0.3} {
		allow := randomAllow(rand.New(rand.NewPCG(uint64(sel*100), 3)), n, sel)
		for _, strategy := range []string{"walk", "scan"} {
			b.Run(fmt.Sprintf("selectivity=%g/%s", sel, strategy), func(b *testing.B) {
				saved := g.cfg
				defer func() { g.cfg, g.noScanModel = saved, false }()
				g.noScanModel = true
				g.cfg.FilterExactCount = 0
				if strategy == "scan" {
					g.cfg.FilterExactCount = n
				}
				dst := make([]Result, 0, 100)
				i := 0
				for b.Loop() {
					q := data[(i*37%n)*dim : (i*37%n+1)*dim]
					i++
					if _, err := g.SearchAppend(dst[:0], q, 100, 100, allow); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/query")
			})
		}
	}
}
