package index

import (
	"fmt"
	"testing"

	"github.com/ragd/ragd/index/filter"
	"github.com/stretchr/testify/require"
)

// BenchmarkSearchBatch compares 200 vector searches sent one by one
// (Search, in a loop) with the same searches as one SearchBatch, on a
// collection small enough for the batch to scan exactly, one too large for
// that, and the large one under a filter that allows 2 % of it. ns/op is
// per batch of 200 in both; compare within a size.
func BenchmarkSearchBatch(b *testing.B) {
	const dim, nq = 128, 200
	ix := openTest(b, "", Config{})
	f, err := filter.Parse([]byte(`{"must":[{"key":"bucket","range":{"lt":20}}]}`))
	require.NoError(b, err)
	for _, n := range []int{5000, 50000} {
		docs := corpus(uint64(n), n+nq, dim)
		c := mustCreate(b, ix, CollectionConfig{Name: fmt.Sprintf("c%d", n), Dimension: dim, Metric: L2})
		for i := 0; i < n; i += 1000 {
			_, err := c.Upsert(ctx, docs[i:min(n, i+1000)])
			require.NoError(b, err)
		}
		reqs := make([]SearchRequest, nq)
		for i := range reqs {
			reqs[i] = SearchRequest{Vector: docs[n+i].Vector, K: 10}
		}
		filtered := make([]SearchRequest, nq)
		for i := range filtered {
			filtered[i] = SearchRequest{Vector: docs[n+i].Vector, K: 10, Filter: f}
		}
		for _, tc := range []struct {
			name string
			reqs []SearchRequest
		}{{"all", reqs}, {"filter-2pct", filtered}} {
			b.Run(fmt.Sprintf("n=%d/%s/single", n, tc.name), func(b *testing.B) {
				for b.Loop() {
					for _, r := range tc.reqs {
						if _, err := c.Search(ctx, r); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
			b.Run(fmt.Sprintf("n=%d/%s/batch", n, tc.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := c.SearchBatch(ctx, tc.reqs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
