package hnsw

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/ragd/ragd/internal/testutil"
	"github.com/stretchr/testify/require"
)

// TestReorder: past reorderAt vectors the graph stores dimensions by
// decreasing variance; distances, recall and snapshots are unaffected.
func TestReorder(t *testing.T) {
	f := newFixture(12, 3000, 50, 96)
	// Give the dimensions very different spreads, low first, so the learned
	// order is far from the identity.
	for i := range f.data {
		f.data[i] *= float32(1 + i%f.dim)
	}
	for i := range f.queries {
		f.queries[i] *= float32(1 + i%f.dim)
	}
	for _, m := range []Metric{L2, Cosine} {
		t.Run(m.String(), func(t *testing.T) {
			g := build(t, f, Config{Metric: m, M: 12, EfConstruction: 100, Seed: 4})
			require.True(t, g.reordered.Load())
			require.NotNil(t, g.perm)
			require.Greater(t, g.perm[0], uint32(f.dim*3/4), "a wide dimension should come first")

			// Distances reported equal the oracle's on the original vectors.
			for qi := range 20 {
				res, err := g.Search(f.query(qi), 10, 64, nil)
				require.NoError(t, err)
				for _, r := range res {
					want := testutil.Distance(oracleMetric(m), f.query(qi), f.row(int(r.Key)))
					require.InDelta(t, want, float64(r.Dist), 1e-4*math.Max(1, math.Abs(want)))
				}
			}
			r := recall(t, g, f, 10, 64, nil, nil)
			t.Logf("recall@10 %.4f", r)
			require.GreaterOrEqual(t, r, 0.95)

			path := filepath.Join(t.TempDir(), "g")
			require.NoError(t, g.Save(path, nil))
			h, _, err := Load(path)
			require.NoError(t, err)
			require.Equal(t, g.perm, h.perm)
			graphsEqual(t, g, h, f)
			// New vectors go in in the learned order too.
			extra := testutil.Clustered(rand.New(rand.NewPCG(1, 1)), 1, f.dim, 1)
			require.NoError(t, h.Add(1<<20, extra))
			res, err := h.Search(extra, 1, 64, nil)
			require.NoError(t, err)
			require.Equal(t, uint32(1<<20), res[0].Key)
			require.InDelta(t, 0, res[0].Dist, 1e-4)
		})
	}
}
