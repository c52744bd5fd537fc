package index

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ragd/ragd/index/filter"
	"github.com/stretchr/testify/require"
)

// TestSearchBatchEqualsSearches: a batch that mixes modes, filters (some
// repeated, one matching nothing), k and ef gives, request by request, the
// hits of Search. The wide beams make each graph walk exact, so the legs
// the batch answers by an exact scan must agree with them; ef 1 forces the
// batch to walk too, and a walk must agree with itself.
func TestSearchBatchEqualsSearches(t *testing.T) {
	ix := openTest(t, "", Config{})
	docs := corpus(11, 1500, 16)
	for _, shards := range []int{1, 3} {
		c := mustCreate(t, ix, CollectionConfig{Name: "b" + string(rune('0'+shards)), Dimension: 16, Metric: L2, Shards: shards})
		_, err := c.Upsert(ctx, docs)
		require.NoError(t, err)
		// Deletes leave tombstones the exact scan must skip.
		_, err = c.Delete(ctx, []string{docs[3].ID, docs[40].ID, docs[41].ID})
		require.NoError(t, err)

		red, err := filter.Parse([]byte(`{"must":[{"key":"color","match":{"value":"red"}}]}`))
		require.NoError(t, err)
		red2, err := filter.Parse([]byte(`{"must":[{"key":"color","match":{"value":"red"}}]}`))
		require.NoError(t, err)
		few, err := filter.Parse([]byte(`{"must":[{"key":"bucket","range":{"lt":30}}]}`))
		require.NoError(t, err)
		none, err := filter.Parse([]byte(`{"must":[{"key":"color","match":{"value":"purple"}}]}`))
		require.NoError(t, err)

		rng := rand.New(rand.NewPCG(5, uint64(shards)))
		var reqs []SearchRequest
		for q := range 12 {
			vec := append([]float32(nil), docs[rng.IntN(len(docs))].Vector...)
			vec[1] += 0.2
			reqs = append(reqs,
				SearchRequest{Vector: vec, K: 10, Ef: 1500},
				SearchRequest{Vector: vec, K: 3 + q, Ef: 1500, Filter: red},
				SearchRequest{Vector: vec, K: 5, Ef: 1500, Filter: red2},
				SearchRequest{Vector: vec, K: 7, Filter: few},
				SearchRequest{Vector: vec, K: 10, Ef: 1},
				SearchRequest{Text: "river castle", K: 10},
				SearchRequest{Text: "ocean", K: 4, Filter: red},
				SearchRequest{Vector: vec, Text: "glacier tower", K: 10, Ef: 1500},
				SearchRequest{Vector: vec, Text: "meadow", K: 10, Ef: 1500, Fusion: FusionRRF, Filter: few},
				SearchRequest{Vector: vec, Text: "lake", K: 10, Filter: none},
				SearchRequest{Vector: vec, K: 2, Ef: 1500, IncludeVectors: true},
			)
		}
		got, err := c.SearchBatch(ctx, reqs)
		require.NoError(t, err)
		require.Len(t, got, len(reqs))
		for i, r := range reqs {
			want, err := c.Search(ctx, r)
			require.NoError(t, err)
			require.Equal(t, len(want.Hits), len(got[i].Hits), "request %d %+v", i, r)
			for j := range want.Hits {
				w, g := want.Hits[j], got[i].Hits[j]
				require.InDelta(t, w.Score, g.Score, 1e-5, "request %d rank %d", i, j)
				require.Equal(t, w.Ranks, g.Ranks, "request %d rank %d", i, j)
				require.Equal(t, w.Vector, g.Vector, "request %d rank %d", i, j)
				if j+1 < len(want.Hits) && want.Hits[j+1].Score < w.Score-1e-5 {
					require.Equal(t, w.ID, g.ID, "request %d rank %d", i, j) // not tied
				}
			}
			if r.Filter == none {
				require.Empty(t, got[i].Hits)
			}
		}
	}
}

// TestSearchBatchErrors: an invalid request fails the batch with its
// position named; a cancelled context stops it.
func TestSearchBatchErrors(t *testing.T) {
	ix := openTest(t, "", Config{})
	c := mustCreate(t, ix, CollectionConfig{Name: "e", Dimension: 4, Metric: Cosine})
	_, err := c.Upsert(ctx, corpus(1, 50, 4))
	require.NoError(t, err)
	ok := SearchRequest{Vector: []float32{1, 0, 0, 0}}
	_, err = c.SearchBatch(ctx, []SearchRequest{ok, {Vector: []float32{1, 2}}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.ErrorContains(t, err, "searches[1]")
	require.ErrorContains(t, err, "dimension 2")
	_, err = c.SearchBatch(ctx, []SearchRequest{ok, ok, {Vector: []float32{0, 0, 0, 0}}})
	require.ErrorContains(t, err, "searches[2]: ")
	require.ErrorContains(t, err, "zero vector")

	res, err := c.SearchBatch(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, res)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.SearchBatch(cctx, []SearchRequest{ok, ok})
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
}
