package hnsw

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ragd/ragd/internal/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixture is a seeded data set with queries.
type fixture struct {
	dim     int
	data    []float32 // n·dim
	queries []float32 // nq·dim
}

func newFixture(seed uint64, n, nq, dim int) fixture {
	rng := rand.New(rand.NewPCG(seed, 1))
	all := testutil.Clustered(rng, n+nq, dim, 20)
	return fixture{dim: dim, data: all[:n*dim], queries: all[n*dim:]}
}

func (f fixture) n() int  { return len(f.data) / f.dim }
func (f fixture) nq() int { return len(f.queries) / f.dim }
func (f fixture) row(i int) []float32 {
	return f.data[i*f.dim : (i+1)*f.dim]
}
func (f fixture) query(i int) []float32 {
	return f.queries[i*f.dim : (i+1)*f.dim]
}

func oracleMetric(m Metric) testutil.Metric {
	return testutil.Metric(m.String())
}

// build adds every row of f with key = row number, in parallel.
func build(t testing.TB, f fixture, cfg Config) *Graph {
	t.Helper()
	cfg.Dim = f.dim
	g, err := New(cfg)
	require.NoError(t, err)
	addParallel(t, g, f, 0, f.n())
	return g
}

func addParallel(t testing.TB, g *Graph, f fixture, from, to int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < to; i += workers {
				if err := g.Add(uint32(i), f.row(i)); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, firstErr)
}

// recall measures mean recall@k over the fixture's queries against the
// brute-force oracle restricted to keep.
func recall(t testing.TB, g *Graph, f fixture, k, ef int, allow AllowList, keep func(uint32) bool) float64 {
	t.Helper()
	m := oracleMetric(g.Config().Metric)
	keys := make([]uint32, f.n())
	for i := range keys {
		keys[i] = uint32(i)
	}
	var sum float64
	for qi := range f.nq() {
		q := f.query(qi)
		res, err := g.Search(q, k, ef, allow)
		require.NoError(t, err)
		want := testutil.BruteForce(m, f.data, f.dim, keys, q, k, keep)
		got := make([]uint32, len(res))
		for i, r := range res {
			got[i] = r.Key
		}
		require.LessOrEqual(t, len(res), k)
		sum += testutil.Recall(got, want)
	}
	return sum / float64(f.nq())
}

func TestRecallByMetric(t *testing.T) {
	f := newFixture(1, 4000, 100, 48)
	for _, m := range []Metric{L2, Cosine, Dot} {
		t.Run(m.String(), func(t *testing.T) {
			g := build(t, f, Config{Metric: m, M: 12, EfConstruction: 100, Seed: 7})
			require.Equal(t, f.n(), g.Len())
			r := recall(t, g, f, 10, 64, nil, nil)
			t.Logf("recall@10 = %.4f", r)
			require.GreaterOrEqual(t, r, 0.95)
			checkInvariants(t, g)
		})
	}
}

// checkInvariants walks every in-use slot: degree bounds, no self links, no
// duplicate links, no link to a free slot, levels consistent, entry point
// live and at the top level.
func checkInvariants(t testing.TB, g *Graph) {
	t.Helper()
	g.mu.Lock()
	next := g.mu.next
	live := 0
	g.keys.each(func(key uint32, id NodeID) {
		live++
		require.Less(t, id, next)
		require.Equal(t, key, g.key(id), "key map and slot disagree")
		require.False(t, g.isDeleted(id), "live key %d on a tombstone", key)
	})
	require.Equal(t, live, g.Len(), "live count")
	g.mu.Unlock()
	ep, top, ok := g.entryPoint()
	if live == 0 && !ok {
		return
	}
	require.True(t, ok, "graph with live nodes has no entry point")
	checkInDegrees(t, g)
	require.Equal(t, top, g.level(ep))
	for id := range next {
		if !g.inUse(id) {
			continue
		}
		require.LessOrEqual(t, g.level(id), top)
		for l := 0; l <= g.level(id); l++ {
			lk := g.links(id, l)
			n := int(lk[0])
			require.LessOrEqual(t, n, len(lk)-1, "degree bound")
			seen := map[uint32]bool{}
			for _, nb := range lk[1 : 1+n] {
				require.NotEqual(t, uint32(id), nb, "self link")
				require.False(t, seen[nb], "duplicate link")
				seen[nb] = true
				require.Less(t, NodeID(nb), next, "link past the end")
				require.True(t, g.inUse(NodeID(nb)), "link to a free slot")
				require.GreaterOrEqual(t, g.level(NodeID(nb)), l, "link to a node below the level")
			}
		}
	}
}

func bruteFiltered(f fixture, m Metric, q []float32, k int, keep func(uint32) bool) []testutil.Neighbor {
	return testutil.BruteForce(oracleMetric(m), f.data, f.dim, nil, q, k, keep)
}

func recallOf(got []uint32, want []testutil.Neighbor) float64 {
	return testutil.Recall(got, want)
}

type errDeletedReturned uint32

func (e errDeletedReturned) Error() string {
	return fmt.Sprintf("search returned key %d deleted before it began", uint32(e))
}

type errDisallowedReturned uint32

func (e errDisallowedReturned) Error() string {
	return fmt.Sprintf("filtered search returned disallowed key %d", uint32(e))
}

func deletedForGoodSnapshot(mu *sync.RWMutex, m map[uint32]bool) map[uint32]bool {
	mu.RLock()
	defer mu.RUnlock()
	return maps.Clone(m)
}

func runtimeGosched() { time.Sleep(time.Millisecond) }

// checkInDegrees: the level-0 in-degree counters equal the links.
func checkInDegrees(t testing.TB, g *Graph) {
	t.Helper()
	g.mu.Lock()
	next := g.mu.next
	g.mu.Unlock()
	want := make(map[NodeID]int32)
	for id := range next {
		if !g.inUse(id) {
			continue
		}
		lk := g.links(id, 0)
		for _, nb := range lk[1 : 1+lk[0]] {
			want[NodeID(nb)]++
		}
	}
	for id := range next {
		if g.inUse(id) {
			require.Equal(t, want[id], g.inDegree(id).Load(), "in-degree of slot %d", id)
		}
	}
}
