package hnsw

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDeleteRecall deletes 10 % and 50 % of a graph and checks that, after
// Compact, recall over the survivors stays within one point of a graph built
// fresh from the survivors alone.
func TestDeleteRecall(t *testing.T) {
	f := newFixture(2, 6000, 200, 32)
	cfg := Config{Metric: L2, M: 12, EfConstruction: 100, Seed: 3}
	for _, frac := range []float64{0.1, 0.5} {
		t.Run("", func(t *testing.T) {
			g := build(t, f, cfg)
			rng := rand.New(rand.NewPCG(9, 9))
			deleted := map[uint32]bool{}
			for _, i := range rng.Perm(f.n())[:int(frac*float64(f.n()))] {
				require.NoError(t, g.Delete(uint32(i)))
				deleted[uint32(i)] = true
			}
			keep := func(k uint32) bool { return !deleted[k] }

			// Tombstones are excluded at once.
			before := recall(t, g, f, 10, 12, nil, keep)
			for qi := range 20 {
				res, err := g.Search(f.query(qi), 10, 48, nil)
				require.NoError(t, err)
				for _, r := range res {
					require.False(t, deleted[r.Key], "deleted key %d returned", r.Key)
				}
			}

			reclaimed := g.Compact()
			require.Equal(t, len(deleted), reclaimed)
			checkInvariants(t, g)
			after := recall(t, g, f, 10, 12, nil, keep)

			// A fresh graph over the survivors, same parameters.
			fresh, err := New(Config{Dim: f.dim, Metric: L2, M: 12, EfConstruction: 100, Seed: 3})
			require.NoError(t, err)
			for i := range f.n() {
				if !deleted[uint32(i)] {
					require.NoError(t, fresh.Add(uint32(i), f.row(i)))
				}
			}
			want := recall(t, fresh, f, 10, 12, nil, keep)
			t.Logf("deleted %.0f%%: recall with tombstones %.4f, after compact %.4f, fresh build %.4f",
				100*frac, before, after, want)
			require.GreaterOrEqual(t, after, want-0.01)

			// Reclaimed slots are reused: adding the deleted rows back does not
			// grow the slot count.
			slots := g.Stats().Slots
			for k := range deleted {
				require.NoError(t, g.Add(k, f.row(int(k))))
			}
			require.Equal(t, slots, g.Stats().Slots)
			require.Equal(t, f.n(), g.Len())
			checkInvariants(t, g)
			full := recall(t, g, f, 10, 48, nil, nil)
			t.Logf("after re-adding into reclaimed slots: recall %.4f", full)
			require.GreaterOrEqual(t, full, 0.95)
		})
	}
}

func TestDeleteErrors(t *testing.T) {
	g, err := New(Config{Dim: 4, Metric: L2})
	require.NoError(t, err)
	require.ErrorIs(t, g.Delete(1), ErrNotFound)
	require.NoError(t, g.Add(1, []float32{1, 2, 3, 4}))
	require.ErrorIs(t, g.Add(1, []float32{1, 2, 3, 4}), ErrDuplicateKey)
	require.NoError(t, g.Delete(1))
	require.ErrorIs(t, g.Delete(1), ErrNotFound)
	res, err := g.Search([]float32{1, 2, 3, 4}, 5, 0, nil)
	require.NoError(t, err)
	require.Empty(t, res)
	require.Equal(t, 1, g.Compact())
	res, err = g.Search([]float32{1, 2, 3, 4}, 5, 0, nil)
	require.NoError(t, err)
	require.Empty(t, res)
	_, _, ok := g.entryPoint()
	require.False(t, ok)
	// The graph works again after being emptied.
	require.NoError(t, g.Add(2, []float32{1, 1, 1, 1}))
	res, err = g.Search([]float32{1, 2, 3, 4}, 5, 0, nil)
	require.NoError(t, err)
	require.Equal(t, []Result{{Key: 2, Dist: 0 + 1 + 4 + 9}}, res)
}
