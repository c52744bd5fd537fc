package hnsw

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ragd/ragd/internal/texmex"
)

func TestMNISTPrefetch(t *testing.T) {
	base, dim, n, err := texmex.ReadFvecs("../bench/data/mnist-784-euclidean.base.fvecs", 0)
	if err != nil {
		t.Skip(err)
	}
	q, _, nq, _ := texmex.ReadFvecs("../bench/data/mnist-784-euclidean.query.fvecs", 5000)
	path := "/tmp/mnist.hnsw"
	g, _, err := Load(path)
	if err != nil {
		g, _ = New(Config{Dim: dim, Metric: L2, M: 16, EfConstruction: 200, Capacity: n})
		f := fixture{dim: dim, data: base, queries: q}
		addParallel(t, g, f, 0, n)
		g.Save(path, nil)
	}
	for _, pf := range []string{"0", "16", "64", "256", "1000000"} {
		if v := os.Getenv("PF"); v != "" && v != pf {
			continue
		}
		prefetchFloats, _ = strconv.Atoi(pf)
		for _, ef := range []int{20, 40} {
			best := 0.0
			for rep := 0; rep < 3; rep++ {
				t0 := time.Now()
				for i := range nq {
					g.SearchAppend(nil, q[i*dim:(i+1)*dim], 10, ef, nil)
				}
				qps := float64(nq) / time.Since(t0).Seconds()
				best = max(best, qps)
			}
			t.Logf("prefetch %s floats, ef %d: %.0f QPS", pf, ef, best)
		}
	}
}
