package hnsw

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReachableAfterReplace: every live vector stays findable by an exact
// query while keys are replaced (deleted and added again) and the graph is
// saved and reloaded. Random 16-d vectors are outliers to each other, so
// the heuristic keeps a single neighbour for many of them; before the
// in-degree guard in addLink, later pruning of that neighbour's list left
// such nodes with no in-link, unreachable by any search.
func TestReachableAfterReplace(t *testing.T) {
	const dim = 16
	vec := func(key uint32, ver int) []float32 {
		r := rand.New(rand.NewPCG(uint64(key), uint64(ver)))
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	cur := map[uint32]int{}
	g, err := New(Config{Dim: dim, Metric: L2, M: 8, EfConstruction: 64})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "g")
	next := uint32(0)
	for round := range 30 {
		for i := range 30 {
			k := next
			next++
			cur[k] = 0
			require.NoError(t, g.Add(k, vec(k, 0)))
			if k >= 20 && i%4 == 0 {
				old := k - 20
				require.NoError(t, g.Delete(old))
				cur[old] = int(k)
				require.NoError(t, g.Add(old, vec(old, int(k))))
			}
		}
		if round%3 == 2 {
			require.NoError(t, g.Save(path, nil))
			g, _, err = Load(path)
			require.NoError(t, err)
		}
		if round%10 == 9 {
			g.Compact()
		}
	}
	checkInvariants(t, g)
	for k, ver := range cur {
		res, err := g.Search(vec(k, ver), 1, 64, nil)
		require.NoError(t, err)
		require.Equal(t, k, res[0].Key, "key %d unreachable", k)
		require.Zero(t, res[0].Dist)
	}
}
