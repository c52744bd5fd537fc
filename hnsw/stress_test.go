package hnsw

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConcurrentStress runs adds, deletes, searches, filtered searches,
// compactions (whole and stepwise) and saves at once. Under -race it proves the lock-free reads
// are synchronised; in any mode it checks that searches never return a key
// that was deleted before the search began, and that the graph is sound at
// the end.
func TestConcurrentStress(t *testing.T) {
	f := newFixture(6, 3000, 50, 16)
	g, err := New(Config{Dim: f.dim, Metric: Cosine, M: 8, EfConstruction: 40, Seed: 1, Capacity: 64})
	require.NoError(t, err)
	// Seed half, then churn.
	for i := range f.n() / 2 {
		require.NoError(t, g.Add(uint32(i), f.row(i)))
	}

	var deletedMu sync.RWMutex
	deletedForGood := map[uint32]bool{} // deleted and never re-added
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	// Writers: add the second half, delete some of the first half for good.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := f.n() / 2; i < f.n(); i++ {
			if err := g.Add(uint32(i), f.row(i)); err != nil {
				report(err)
				return
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for range 600 {
			k := uint32(rng.IntN(f.n() / 2))
			deletedMu.Lock()
			if !deletedForGood[k] {
				if err := g.Delete(k); err != nil {
					deletedMu.Unlock()
					report(err)
					return
				}
				deletedForGood[k] = true
			}
			deletedMu.Unlock()
		}
	}()
	// Compactions, whole and in steps, and saves while all that runs; every
	// snapshot taken amid the writes must load.
	wg.Add(1)
	go func() {
		defer wg.Done()
		dir := t.TempDir()
		for i := 0; !stop.Load(); i++ {
			time.Sleep(2 * time.Millisecond)
			if i%4 == 0 {
				g.Compact()
			} else {
				g.CompactStep(300)
			}
			if i%3 == 0 {
				if err := g.Save(dir+"/g", nil); err != nil {
					report(err)
					return
				}
				if _, _, err := Load(dir + "/g"); err != nil {
					report(err)
					return
				}
			}
		}
	}()
	// Readers.
	var searches atomic.Int64
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 5))
			allow := randomAllow(rng, f.n(), 0.3)
			for !stop.Load() {
				deletedMu.RLock()
				snapshot := make(map[uint32]bool, len(deletedForGood))
				for k := range deletedForGood {
					snapshot[k] = true
				}
				deletedMu.RUnlock()
				var a AllowList
				if rng.IntN(2) == 0 {
					a = allow
				}
				res, err := g.Search(f.query(rng.IntN(f.nq())), 10, 32, a)
				if err != nil {
					report(err)
					return
				}
				for _, x := range res {
					if snapshot[x.Key] {
						report(errDeletedReturned(x.Key))
						return
					}
					if a != nil && !allow.Contains(x.Key) {
						report(errDisallowedReturned(x.Key))
						return
					}
				}
				searches.Add(1)
			}
		}()
	}
	// Let the writers finish, then stop the rest.
	go func() {
		for g.Len() < f.n()-len(deletedForGoodSnapshot(&deletedMu, deletedForGood)) || searches.Load() < 300 {
			if len(errs) > 0 {
				break
			}
			runtimeGosched()
		}
		stop.Store(true)
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	g.Compact()
	checkInvariants(t, g)
	require.Equal(t, f.n()-len(deletedForGood), g.Len())
	r := recall(t, g, f, 10, 64, nil, func(k uint32) bool { return !deletedForGood[k] })
	t.Logf("%d searches during the churn; final recall@10 %.4f", searches.Load(), r)
	require.GreaterOrEqual(t, r, 0.95)
}
