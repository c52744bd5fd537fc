package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ragd/ragd/index/filter"
	"github.com/stretchr/testify/require"
)

// TestBackgroundCompaction: deletes and replacing upserts leave tombstones
// that the maintenance goroutine compacts away once they pass the policy's
// ratio, with searches exact before, during and after; a restart keeps
// none.
func TestBackgroundCompaction(t *testing.T) {
	dir := t.TempDir()
	ix := openTest(t, dir, Config{CompactMinTombstones: 20, CompactTombstoneRatio: 0.1, CompactStepSlots: 64})
	c := mustCreate(t, ix, CollectionConfig{Name: "gc", Dimension: 8, Metric: L2, Shards: 2})
	docs := corpus(21, 600, 8)
	_, err := c.Upsert(ctx, docs)
	require.NoError(t, err)

	// Replace 100 vectors, delete 150 documents (50 of them by filter).
	moved := corpus(22, 100, 8)
	for i := range moved {
		moved[i].ID = docs[i].ID
		docs[i].Vector = moved[i].Vector
	}
	_, err = c.Upsert(ctx, moved)
	require.NoError(t, err)
	var gone []string
	for _, d := range docs[100:200] {
		gone = append(gone, d.ID)
	}
	_, err = c.Delete(ctx, gone)
	require.NoError(t, err)
	f, err := filter.Parse([]byte(`{"must":[{"key":"bucket","range":{"gte":200,"lt":250}}]}`))
	require.NoError(t, err)
	n, err := c.DeleteByFilter(ctx, f)
	require.NoError(t, err)
	require.Equal(t, 50, n)
	live := slices.Concat(docs[:100], docs[250:])

	require.Eventually(t, func() bool {
		st, err := c.Stats(ctx)
		require.NoError(t, err)
		return st.Tombstones == 0 && st.Compacting == 0
	}, 20*time.Second, 10*time.Millisecond, "tombstones never compacted")
	st, err := c.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, len(live), st.Vectors)
	require.GreaterOrEqual(t, st.Compactions, uint64(2), "one cycle per shard at least")
	require.EqualValues(t, 250, st.Reclaimed)
	checkConsistent(t, c)
	for _, d := range live[:60] {
		res, err := c.Search(ctx, SearchRequest{Vector: d.Vector, K: 1, Ef: 100})
		require.NoError(t, err)
		require.Equal(t, d.ID, res.Hits[0].ID)
	}

	// The snapshot holds no tombstone.
	_, err = c.Upsert(ctx, docs[100:200])
	require.NoError(t, err)
	require.NoError(t, ix.Close())
	ix2 := openTest(t, dir, Config{CompactTombstoneRatio: -1})
	c2, err := ix2.Collection("gc")
	require.NoError(t, err)
	st, err = c2.Stats(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Tombstones)
	require.Equal(t, len(live)+100, st.Vectors)
	checkConsistent(t, c2)
}

// TestCompactionPolicy: below the ratio (or with background compaction
// off) the tombstones stay; Collection.Compact reclaims them anyway.
func TestCompactionPolicy(t *testing.T) {
	for _, ratio := range []float64{0.5, -1} {
		t.Run(fmt.Sprint(ratio), func(t *testing.T) {
			ix := openTest(t, "", Config{CompactMinTombstones: 1, CompactTombstoneRatio: ratio})
			c := mustCreate(t, ix, CollectionConfig{Name: "p", Dimension: 8, Metric: L2})
			docs := corpus(23, 300, 8)
			_, err := c.Upsert(ctx, docs)
			require.NoError(t, err)
			var ids []string
			for _, d := range docs[:60] { // 20 %
				ids = append(ids, d.ID)
			}
			_, err = c.Delete(ctx, ids)
			require.NoError(t, err)
			for c.maintain(nil) { // what the maintenance goroutine would do
			}
			st, err := c.Stats(ctx)
			require.NoError(t, err)
			require.Equal(t, 60, st.Tombstones)
			n, err := c.Compact(ctx)
			require.NoError(t, err)
			require.Equal(t, 60, n)
			st, err = c.Stats(ctx)
			require.NoError(t, err)
			require.Zero(t, st.Tombstones)
		})
	}
}

// TestApplyFailureRepaired: a committed batch that fails to apply to the
// graph or the text index is repaired from the store, at once (the write
// succeeds) or, when that fails too, in the background (the write reports
// the error); either way the documents become searchable without a
// restart, and a restart in between replays them.
func TestApplyFailureRepaired(t *testing.T) {
	for _, part := range []string{"graph", "text"} {
		for _, failures := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s fails %d times", part, failures), func(t *testing.T) {
				// The apply fails; with failures = 2 the repair at once too.
				var armed atomic.Bool
				var left atomic.Int32
				left.Store(int32(failures))
				cfg := Config{applyFault: func(_ int, p string) error {
					if armed.Load() && (p == part || p == "repair "+part) && left.Add(-1) >= 0 {
						return errors.New("injected fault")
					}
					return nil
				}}
				dir := t.TempDir()
				ix := openTest(t, dir, cfg)
				c := mustCreate(t, ix, CollectionConfig{Name: "f", Dimension: 8, Metric: L2})
				docs := corpus(24, 200, 8)
				_, err := c.Upsert(ctx, docs[:150])
				require.NoError(t, err)

				armed.Store(true)
				_, err = c.Upsert(ctx, docs[150:160])
				if failures == 1 {
					require.NoError(t, err, "repaired at once")
				} else {
					require.Error(t, err, "stored, not yet searchable")
				}
				// A later write goes through, and a snapshot is safe.
				_, err = c.Upsert(ctx, docs[160:])
				require.NoError(t, err)
				require.NoError(t, c.snapshot())

				require.Eventually(t, func() bool {
					st, err := c.Stats(ctx)
					require.NoError(t, err)
					return st.Unrepaired == 0
				}, 10*time.Second, 10*time.Millisecond)
				st, err := c.Stats(ctx)
				require.NoError(t, err)
				require.EqualValues(t, 1, st.ApplyFailures)
				require.EqualValues(t, 1, st.ApplyRepairs)
				checkConsistent(t, c)
				for _, d := range docs[150:160] {
					res, err := c.Search(ctx, SearchRequest{Vector: d.Vector, K: 1, Ef: 100})
					require.NoError(t, err)
					require.Equal(t, d.ID, res.Hits[0].ID, "%s not found by vector", d.ID)
					res, err = c.Search(ctx, SearchRequest{Text: d.Text[len(d.Text)-8:], K: 1})
					require.NoError(t, err)
					require.NotEmpty(t, res.Hits, "%s not found by text", d.ID)
					require.Equal(t, d.ID, res.Hits[0].ID)
				}
				// After a crash-like stop the store and the indexes agree.
				require.NoError(t, abandon(ix))
				ix2 := openTest(t, dir, Config{})
				c2, err := ix2.Collection("f")
				require.NoError(t, err)
				checkConsistent(t, c2)
			})
		}
	}
}

// TestRepairHoldsTextSequence: while a text failure awaits its repair, the
// text index records no sequence past it and no graph snapshot is taken,
// so a crash before the repair loses nothing: the restart replays it.
func TestRepairHoldsTextSequence(t *testing.T) {
	var failApply, failRepair atomic.Bool
	cfg := Config{CompactTombstoneRatio: -1, applyFault: func(_ int, p string) error {
		if (failApply.Load() && p == "text") || (failRepair.Load() && p == "repair text") {
			return errors.New("injected fault")
		}
		return nil
	}}
	dir := t.TempDir()
	ix := openTest(t, dir, cfg)
	c := mustCreate(t, ix, CollectionConfig{Name: "h", Dimension: 8, Metric: L2})
	docs := corpus(25, 100, 8)
	_, err := c.Upsert(ctx, docs[:50])
	require.NoError(t, err)
	sh := c.shards[0]
	seq := sh.text.Seq()
	failApply.Store(true)
	failRepair.Store(true) // and so every retry, until the "crash"
	_, err = c.Upsert(ctx, docs[50:60])
	require.Error(t, err)
	failApply.Store(false)
	_, err = c.Upsert(ctx, docs[60:])
	require.NoError(t, err)
	require.Equal(t, seq, sh.text.Seq(), "the text index passed an unrepaired change")
	require.NoError(t, c.snapshot())
	_, err = os.Stat(filepath.Join(sh.dir, graphFile))
	require.ErrorIs(t, err, os.ErrNotExist, "a graph snapshot was written over an unrepaired change")
	st, err := c.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, 10, st.Unrepaired)
	require.NoError(t, abandon(ix))

	ix2 := openTest(t, dir, Config{})
	c2, err := ix2.Collection("h")
	require.NoError(t, err)
	checkConsistent(t, c2)
	for _, d := range docs[50:60] {
		res, err := c2.Search(ctx, SearchRequest{Text: d.Text[len(d.Text)-8:], K: 1})
		require.NoError(t, err)
		require.NotEmpty(t, res.Hits)
		require.Equal(t, d.ID, res.Hits[0].ID)
	}
}

// TestDeleteByFilter: matches on the bitmaps, deletes in bounded batches
// (one store transaction each), and a document changed so as not to match
// between the match and its batch is kept.
func TestDeleteByFilter(t *testing.T) {
	ix := openTest(t, "", Config{DeleteBatch: 7})
	c := mustCreate(t, ix, CollectionConfig{Name: "d", Dimension: 8, Metric: L2, Shards: 2})
	docs := corpus(26, 300, 8)
	_, err := c.Upsert(ctx, docs)
	require.NoError(t, err)
	red, err := filter.Parse([]byte(`{"must":[{"key":"color","match":{"value":"red"}}]}`))
	require.NoError(t, err)

	commits := func() uint64 {
		var n uint64
		for _, sh := range c.shards {
			n += sh.store.Stats().Commits
		}
		return n
	}
	before := commits()
	n, err := c.DeleteByFilter(ctx, red)
	require.NoError(t, err)
	require.Equal(t, 100, n)
	require.GreaterOrEqual(t, commits()-before, uint64(100/7), "batches of at most 7")
	res, err := c.Search(ctx, SearchRequest{Vector: docs[0].Vector, K: 10, Filter: red})
	require.NoError(t, err)
	require.Empty(t, res.Hits)
	cnt, err := c.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 200, cnt)
	checkConsistent(t, c)

	// The re-check: green documents matched, then one turns blue before
	// its batch runs.
	green, err := filter.Parse([]byte(`{"must":[{"key":"color","match":{"value":"green"}}]}`))
	require.NoError(t, err)
	sh := c.shards[shardOf(docs[1].ID, 2)]
	cands, err := sh.allow(green)
	require.NoError(t, err)
	d, err := c.Get(ctx, docs[1].ID, true)
	require.NoError(t, err)
	num := numOf(t, sh, docs[1].ID)
	require.True(t, cands.Contains(num))
	d.Metadata["color"] = "blue"
	_, err = c.Upsert(ctx, []Document{d})
	require.NoError(t, err)
	k, err := sh.deleteMatching(ctx, green, cands)
	require.NoError(t, err)
	require.Equal(t, int(cands.GetCardinality())-1, k)
	_, err = c.Get(ctx, docs[1].ID, false)
	require.NoError(t, err, "a document that stopped matching was deleted")
	checkConsistent(t, c)
}

// TestDeleteByFilterConcurrentWrites: upserts to the same shards during a
// bulk delete neither deadlock nor lose writes.
func TestDeleteByFilterConcurrentWrites(t *testing.T) {
	ix := openTest(t, "", Config{DeleteBatch: 5})
	c := mustCreate(t, ix, CollectionConfig{Name: "w", Dimension: 8, Metric: L2, Shards: 2})
	docs := corpus(27, 400, 8)
	_, err := c.Upsert(ctx, docs[:300])
	require.NoError(t, err)
	all, err := filter.Parse([]byte(`{"must":[{"key":"bucket","range":{"lt":300}}]}`))
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 300; i < 400; i += 10 {
			_, err := c.Upsert(ctx, docs[i:i+10])
			require.NoError(t, err)
		}
	})
	n, err := c.DeleteByFilter(ctx, all)
	wg.Wait()
	require.NoError(t, err)
	require.Equal(t, 300, n)
	cnt, err := c.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 100, cnt)
	checkConsistent(t, c)
}

func numOf(t *testing.T, sh *shard, id string) uint32 {
	t.Helper()
	d, ok, err := sh.store.Get(id)
	require.NoError(t, err)
	require.True(t, ok)
	return d.Num
}
