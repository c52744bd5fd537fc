package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/ragd/ragd/index/filter"
	"github.com/ragd/ragd/internal/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m)
}

// openTest opens an index in a temporary directory (or dir), closed at the
// end of the test.
func openTest(t testing.TB, dir string, cfg Config) *Index {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg.NoSync = true
	ix, err := Open(dir, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ix.Close() })
	return ix
}

var ctx = context.Background()

func mustCreate(t testing.TB, ix *Index, cc CollectionConfig) *Collection {
	t.Helper()
	c, err := ix.CreateCollection(ctx, cc)
	require.NoError(t, err)
	return c
}

// corpus is a seeded set of documents with clustered vectors, texts drawn
// from a small vocabulary, and metadata for filters.
func corpus(seed uint64, n, dim int) []Document {
	rng := rand.New(rand.NewPCG(seed, 7))
	vecs := testutil.Clustered(rng, n, dim, 10)
	words := []string{"river", "mountain", "forest", "ocean", "desert", "city", "village", "bridge",
		"castle", "garden", "island", "valley", "harbor", "tower", "meadow", "canyon", "glacier", "lake"}
	docs := make([]Document, n)
	for i := range docs {
		var buf bytes.Buffer
		for range 6 + rng.IntN(20) {
			buf.WriteString(words[rng.IntN(len(words))])
			buf.WriteByte(' ')
		}
		fmt.Fprintf(&buf, "doc%d", i)
		docs[i] = Document{
			ID:     fmt.Sprintf("d%05d", i),
			Text:   buf.String(),
			Vector: vecs[i*dim : (i+1)*dim],
			Metadata: map[string]any{
				"bucket": i % 1000,
				"color":  []string{"red", "green", "blue"}[i%3],
				"tags":   []any{fmt.Sprintf("t%d", i%7), fmt.Sprintf("u%d", i%11)},
			},
			Source: "corpus.txt",
			Chunk:  i,
		}
	}
	return docs
}

func TestCollectionLifecycle(t *testing.T) {
	dir := t.TempDir()
	ix := openTest(t, dir, Config{})
	_, err := ix.CreateCollection(ctx, CollectionConfig{Name: "Bad Name", Dimension: 4})
	require.ErrorIs(t, err, ErrInvalidArgument)
	for _, bad := range []CollectionConfig{
		{Name: "", Dimension: 4},
		{Name: "../x", Dimension: 4},
		{Name: "a", Dimension: -1},
		{Name: "a", Dimension: 4, Metric: "hamming"},
		{Name: "a", Dimension: 4, Shards: 1000},
		{Name: "a", Dimension: 4, HNSW: HNSWConfig{M: 1}},
		{Name: "a", Dimension: 4, Text: TextConfig{Analyzer: "klingon"}},
	} {
		_, err := ix.CreateCollection(ctx, bad)
		require.ErrorIs(t, err, ErrInvalidArgument, "%+v", bad)
	}
	a := mustCreate(t, ix, CollectionConfig{Name: "alpha", Dimension: 4, Metric: L2, Shards: 2})
	mustCreate(t, ix, CollectionConfig{Name: "beta", Dimension: 0})
	_, err = ix.CreateCollection(ctx, CollectionConfig{Name: "alpha", Dimension: 8})
	require.ErrorIs(t, err, ErrExists)
	names := []string{}
	for _, c := range ix.Collections() {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"alpha", "beta"}, names)
	_, err = a.Upsert(ctx, []Document{{ID: "x", Text: "hello", Vector: []float32{1, 2, 3, 4}}})
	require.NoError(t, err)

	// Reopen: collections and documents persist.
	require.NoError(t, ix.Close())
	ix2 := openTest(t, dir, Config{})
	a2, err := ix2.Collection("alpha")
	require.NoError(t, err)
	require.Equal(t, 2, a2.Config().Shards)
	require.Equal(t, L2, a2.Config().Metric)
	d, err := a2.Get(ctx, "x", true)
	require.NoError(t, err)
	require.Equal(t, "hello", d.Text)
	require.Equal(t, []float32{1, 2, 3, 4}, d.Vector)

	// Drop removes every file; the handle stops working.
	require.NoError(t, ix2.DropCollection(ctx, "alpha"))
	_, err = os.Stat(filepath.Join(dir, "collections", "alpha"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = a2.Get(ctx, "x", false)
	require.ErrorIs(t, err, ErrClosed)
	_, err = ix2.Collection("alpha")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, ix2.DropCollection(ctx, "alpha"), ErrNotFound)
	// The name can be used again.
	mustCreate(t, ix2, CollectionConfig{Name: "alpha", Dimension: 2})
}

func TestUpsertGetDeleteScan(t *testing.T) {
	ix := openTest(t, "", Config{})
	c := mustCreate(t, ix, CollectionConfig{Name: "docs", Dimension: 3, Metric: Cosine, Shards: 3})
	ids, err := c.Upsert(ctx, []Document{
		{ID: "a", Text: "alpha", Vector: []float32{3, 0, 4}, Metadata: map[string]any{"n": 1}},
		{Text: "generated id", Vector: []float32{0, 1, 0}},
		{ID: "c", Text: "no vector"},
	})
	require.NoError(t, err)
	require.Len(t, ids, 3)
	require.Equal(t, "a", ids[0])
	require.Len(t, ids[1], 36)
	n, err := c.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)

	d, err := c.Get(ctx, "a", true)
	require.NoError(t, err)
	require.InDeltaSlice(t, []float32{0.6, 0, 0.8}, d.Vector, 1e-6, "cosine vectors are stored normalised")
	require.Equal(t, map[string]any{"n": 1.0}, d.Metadata)

	// Replace: the whole document changes.
	_, err = c.Upsert(ctx, []Document{{ID: "a", Text: "beta", Vector: []float32{0, 0, 1}}})
	require.NoError(t, err)
	d, err = c.Get(ctx, "a", false)
	require.NoError(t, err)
	require.Equal(t, "beta", d.Text)
	require.Nil(t, d.Metadata)
	require.Nil(t, d.Vector)
	n, _ = c.Count(ctx)
	require.Equal(t, 3, n)

	// Bad documents fail the whole call and change nothing.
	bad := [][]Document{
		{{ID: "ok", Vector: []float32{1, 1, 1}}, {ID: "x", Vector: []float32{1, 2}}},
		{{ID: "x", Vector: []float32{float32(nan()), 0, 0}}},
		{{ID: "x", Vector: []float32{0, 0, 0}}},
		{{ID: "x"}, {ID: "x"}},
		{{ID: string([]byte{0xff})}},
		{{ID: "x", Metadata: map[string]any{"nested": map[string]any{"a": 1}}}},
	}
	for _, b := range bad {
		_, err := c.Upsert(ctx, b)
		require.ErrorIs(t, err, ErrInvalidArgument)
	}
	_, err = c.Get(ctx, "ok", false)
	require.ErrorIs(t, err, ErrNotFound)
	n, _ = c.Count(ctx)
	require.Equal(t, 3, n)

	// Scan pages through everything in ID order.
	var all []string
	cursor := ""
	for {
		docs, next, err := c.Scan(ctx, cursor, 2, false)
		require.NoError(t, err)
		for _, d := range docs {
			all = append(all, d.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.ElementsMatch(t, []string{"a", ids[1], "c"}, all)
	require.True(t, isSorted(all))

	deleted, err := c.Delete(ctx, []string{"a", "missing"})
	require.NoError(t, err)
	require.Equal(t, 1, deleted)
	_, err = c.Get(ctx, "a", false)
	require.ErrorIs(t, err, ErrNotFound)
	res, err := c.Search(ctx, SearchRequest{Vector: []float32{0, 0, 1}, K: 5})
	require.NoError(t, err)
	for _, h := range res.Hits {
		require.NotEqual(t, "a", h.ID)
	}
}

func TestSearchModesAndExplanations(t *testing.T) {
	ix := openTest(t, "", Config{})
	c := mustCreate(t, ix, CollectionConfig{Name: "s", Dimension: 2, Metric: Cosine})
	_, err := c.Upsert(ctx, []Document{
		{ID: "east", Text: "the sun rises in the east", Vector: []float32{1, 0}},
		{ID: "north", Text: "the pole star points north", Vector: []float32{0, 1}},
		{ID: "northeast", Text: "between north and east", Vector: []float32{1, 1}},
	})
	require.NoError(t, err)

	res, err := c.Search(ctx, SearchRequest{Vector: []float32{1, 0.1}, K: 3})
	require.NoError(t, err)
	require.Equal(t, "east", res.Hits[0].ID)
	require.NotNil(t, res.Hits[0].Scores.Vector)
	require.Nil(t, res.Hits[0].Scores.Text)
	require.Equal(t, 1, res.Hits[0].Ranks.Vector)
	require.InDelta(t, 0.995, *res.Hits[0].Scores.Vector, 0.001)

	res, err = c.Search(ctx, SearchRequest{Text: "north", K: 3})
	require.NoError(t, err)
	require.Len(t, res.Hits, 2)
	require.Nil(t, res.Hits[0].Scores.Vector)
	require.NotNil(t, res.Hits[0].Scores.Text)

	for _, f := range []Fusion{FusionRRF, FusionRelative} {
		res, err = c.Search(ctx, SearchRequest{Vector: []float32{1, 0}, Text: "north", K: 3, Fusion: f})
		require.NoError(t, err)
		require.Len(t, res.Hits, 3)
		// northeast is second by vector and found by text: it wins fused.
		require.Equal(t, "northeast", res.Hits[0].ID, "fusion %s", f)
		h := res.Hits[0]
		require.NotNil(t, h.Scores.Vector)
		require.NotNil(t, h.Scores.Text)
		require.Equal(t, 2, h.Ranks.Vector)
		require.Greater(t, h.Ranks.Text, 0)
	}
	alpha := 1.0
	res, err = c.Search(ctx, SearchRequest{Vector: []float32{1, 0}, Text: "north", K: 1, Alpha: &alpha})
	require.NoError(t, err)
	require.Equal(t, "east", res.Hits[0].ID, "alpha 1 is the vector leg alone")

	for _, bad := range []SearchRequest{
		{},
		{Vector: []float32{1}},
		{Vector: []float32{1, 0}, K: -1},
		{Vector: []float32{1, 0}, K: 1 << 20},
		{Vector: []float32{1, 0}, Mode: "text"},
		{Text: "x", Mode: "fuzzy"},
		{Vector: []float32{1, 0}, Text: "x", Fusion: "max"},
		{Vector: []float32{1, 0}, Text: "x", Alpha: ptr(1.5)},
		{Vector: []float32{0, 0}},
		{Vector: []float32{float32(nan()), 0}},
	} {
		_, err := c.Search(ctx, bad)
		require.ErrorIs(t, err, ErrInvalidArgument, "%+v", bad)
	}
}

// TestShardedEqualsSingle: one shard and four shards holding the same
// documents return the same hits in every mode, with and without a filter.
func TestShardedEqualsSingle(t *testing.T) {
	ix := openTest(t, "", Config{})
	docs := corpus(1, 2000, 16)
	one := mustCreate(t, ix, CollectionConfig{Name: "one", Dimension: 16, Metric: L2, Shards: 1, HNSW: HNSWConfig{EfSearch: 400}})
	four := mustCreate(t, ix, CollectionConfig{Name: "four", Dimension: 16, Metric: L2, Shards: 4, HNSW: HNSWConfig{EfSearch: 400}})
	for _, c := range []*Collection{one, four} {
		_, err := c.Upsert(ctx, docs)
		require.NoError(t, err)
	}
	f, err := filter.Parse([]byte(`{"must":[{"key":"color","match":{"any":["red","blue"]}}]}`))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 3))
	for q := range 30 {
		src := docs[rng.IntN(len(docs))]
		vec := append([]float32(nil), src.Vector...)
		vec[0] += 0.3
		// A beam as wide as the collection makes each graph search exact,
		// so that any difference would be the merge's.
		for _, req := range []SearchRequest{
			{Vector: vec, K: 10, Ef: 2000},
			{Text: "river castle glacier", K: 10},
			{Vector: vec, Text: "ocean tower", K: 10, Ef: 2000, Fusion: FusionRRF},
			{Vector: vec, Text: "ocean tower", K: 10, Ef: 2000, Fusion: FusionRelative},
			{Vector: vec, Text: "meadow", K: 10, Ef: 2000, Filter: f},
		} {
			a, err := one.Search(ctx, req)
			require.NoError(t, err)
			b, err := four.Search(ctx, req)
			require.NoError(t, err)
			require.Equal(t, len(a.Hits), len(b.Hits))
			for i := range a.Hits {
				// Scores equal up to float rounding; IDs equal unless tied.
				require.InDelta(t, a.Hits[i].Score, b.Hits[i].Score, 1e-9, "query %d mode %s rank %d", q, req.Mode, i)
			}
			// Tied hits may come in another order (see TestTies); those
			// tied with the last hit may even differ where a shard cut a
			// tie group at its own depth.
			if len(a.Hits) > 0 {
				last := a.Hits[len(a.Hits)-1].Score
				require.ElementsMatch(t, above(a.Hits, last), above(b.Hits, last), "query %d %+v", q, req.Mode)
			}
		}
	}
}

// TestTies: hits with equal scores come in document-ID order across shards
// (however the documents are spread) and in insertion order within one.
func TestTies(t *testing.T) {
	ix := openTest(t, "", Config{})
	for _, shards := range []int{1, 4} {
		c := mustCreate(t, ix, CollectionConfig{Name: fmt.Sprintf("ties%d", shards), Shards: shards})
		var ids []string
		for i := 30; i > 0; i-- {
			ids = append(ids, fmt.Sprintf("doc-%02d", i))
			_, err := c.Upsert(ctx, []Document{{ID: ids[len(ids)-1], Text: "the same few words"}})
			require.NoError(t, err)
		}
		res, err := c.Search(ctx, SearchRequest{Text: "same words", K: 30})
		require.NoError(t, err)
		var got []string
		for _, h := range res.Hits {
			require.Equal(t, res.Hits[0].Score, h.Score)
			got = append(got, h.ID)
		}
		if shards == 1 {
			require.Equal(t, ids, got, "insertion order")
		} else {
			require.True(t, slices.IsSorted(got), "ID order: %v", got)
			require.Len(t, got, 30)
		}
	}
}

// TestFilteredRecall: vector search under filters admitting 0.1 %, 1 %,
// 10 % and 50 % of the documents against the exact answer.
func TestFilteredRecall(t *testing.T) {
	ix := openTest(t, "", Config{})
	const n, dim = 20000, 24
	docs := corpus(2, n, dim)
	c := mustCreate(t, ix, CollectionConfig{Name: "f", Dimension: dim, Metric: L2, Shards: 2})
	for i := 0; i < n; i += 1000 {
		_, err := c.Upsert(ctx, docs[i:i+1000])
		require.NoError(t, err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sel := range []int{1, 10, 100, 500} { // buckets out of 1,000
		f, err := filter.Parse(fmt.Appendf(nil, `{"must":[{"key":"bucket","range":{"lt":%d}}]}`, sel))
		require.NoError(t, err)
		var sum float64
		const queries = 50
		for range queries {
			q := docs[rng.IntN(n)].Vector
			res, err := c.Search(ctx, SearchRequest{Vector: q, K: 10, Filter: f})
			require.NoError(t, err)
			want := exactFiltered(docs, q, 10, func(d Document) bool { return d.Metadata["bucket"].(int) < sel })
			require.Len(t, res.Hits, len(want))
			got := map[string]bool{}
			for _, h := range res.Hits {
				require.Less(t, int(h.Metadata["bucket"].(float64)), sel, "filter not applied")
				got[h.ID] = true
			}
			hit := 0
			for _, w := range want {
				if got[w] {
					hit++
				}
			}
			sum += float64(hit) / float64(len(want))
		}
		r := sum / queries
		t.Logf("selectivity %.1f%%: recall@10 %.4f", float64(sel)/10, r)
		require.GreaterOrEqual(t, r, 0.95)
	}
}

func exactFiltered(docs []Document, q []float32, k int, keep func(Document) bool) []string {
	type scored struct {
		id string
		d  float64
	}
	var all []scored
	for _, d := range docs {
		if keep(d) {
			all = append(all, scored{d.ID, testutil.Distance("l2", q, d.Vector)})
		}
	}
	sortBy(all, func(a, b scored) bool { return a.d < b.d || a.d == b.d && a.id < b.id })
	var out []string
	for i := 0; i < k && i < len(all); i++ {
		out = append(out, all[i].id)
	}
	return out
}

// TestConcurrentUpsertSearch runs writers and searchers together (under
// -race this checks the shard's synchronisation) and checks that every
// acknowledged document is then searchable.
func TestConcurrentUpsertSearch(t *testing.T) {
	ix := openTest(t, "", Config{})
	c := mustCreate(t, ix, CollectionConfig{Name: "cc", Dimension: 8, Metric: Cosine, Shards: 2})
	docs := corpus(4, 1200, 8)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(docs); i += 4 * 10 {
				end := min(i+10, len(docs))
				if _, err := c.Upsert(ctx, docs[i:end]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if _, err := c.Search(ctx, SearchRequest{Vector: docs[i].Vector, Text: "river", K: 5}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n, err := c.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, countUpserted(len(docs)), n)
	checkConsistent(t, c)
}

func countUpserted(n int) int {
	seen := map[int]bool{}
	for w := range 4 {
		for i := w; i < n; i += 40 {
			for j := i; j < min(i+10, n); j++ {
				seen[j] = true
			}
		}
	}
	return len(seen)
}

// checkConsistent: store, graph, text index and live bitmap agree on the
// number of documents in every shard.
func checkConsistent(t testing.TB, c *Collection) {
	t.Helper()
	for _, sh := range c.shards {
		n, err := sh.store.Count()
		require.NoError(t, err)
		tn, err := sh.text.Count()
		require.NoError(t, err)
		require.EqualValues(t, n, tn, "shard %d: store and text index disagree", sh.id)
		require.EqualValues(t, n, sh.live.GetCardinality(), "shard %d: store and live bitmap disagree", sh.id)
		if sh.graph != nil {
			require.Equal(t, n, sh.graph.Len(), "shard %d: store and graph disagree", sh.id)
		}
	}
}

// TestRecovery: a deleted or corrupt graph snapshot and a corrupt text
// index are rebuilt from the store on open, and the log says so; after a
// clean close nothing is rebuilt.
func TestRecovery(t *testing.T) {
	docs := corpus(5, 600, 8)
	for _, damage := range []string{"none", "delete graph", "corrupt graph", "corrupt text", "stale graph"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			ix, err := Open(dir, Config{NoSync: true})
			require.NoError(t, err)
			c, err := ix.CreateCollection(ctx, CollectionConfig{Name: "r", Dimension: 8, Metric: L2})
			require.NoError(t, err)
			_, err = c.Upsert(ctx, docs[:300])
			require.NoError(t, err)
			shardDir := c.shards[0].dir
			if damage == "stale graph" {
				// A snapshot now, more writes after it, then a crash-like
				// stop (no snapshot on close): the log replays them.
				require.NoError(t, c.shards[0].snapshot())
				_, err = c.Upsert(ctx, docs[300:])
				require.NoError(t, err)
				_, err = c.Delete(ctx, []string{docs[0].ID})
				require.NoError(t, err)
				require.NoError(t, abandon(ix))
			} else {
				_, err = c.Upsert(ctx, docs[300:])
				require.NoError(t, err)
				_, err = c.Delete(ctx, []string{docs[0].ID})
				require.NoError(t, err)
				require.NoError(t, ix.Close())
			}
			switch damage {
			case "delete graph":
				require.NoError(t, os.Remove(filepath.Join(shardDir, graphFile)))
			case "corrupt graph":
				corruptFile(t, filepath.Join(shardDir, graphFile))
			case "corrupt text":
				corruptTree(t, filepath.Join(shardDir, textDir))
			}
			var logs bytes.Buffer
			ix2, err := Open(dir, Config{NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			require.NoError(t, err)
			defer ix2.Close()
			c2, err := ix2.Collection("r")
			require.NoError(t, err)
			switch damage {
			case "none":
				require.NotContains(t, logs.String(), "rebuil")
				require.NotContains(t, logs.String(), "replayed")
			case "stale graph":
				require.Contains(t, logs.String(), "graph replayed the change log")
			case "corrupt text":
				require.Contains(t, logs.String(), "text index unusable: rebuilding")
			default:
				require.Contains(t, logs.String(), "rebuilding from the store")
			}
			checkConsistent(t, c2)
			n, err := c2.Count(ctx)
			require.NoError(t, err)
			require.Equal(t, len(docs)-1, n)
			for _, d := range docs[1:20] {
				res, err := c2.Search(ctx, SearchRequest{Vector: d.Vector, K: 1, Ef: 100})
				require.NoError(t, err)
				require.Equal(t, d.ID, res.Hits[0].ID)
				res, err = c2.Search(ctx, SearchRequest{Text: d.Text[len(d.Text)-8:], K: 1})
				require.NoError(t, err)
				require.NotEmpty(t, res.Hits)
			}
			_, err = c2.Get(ctx, docs[0].ID, false)
			require.ErrorIs(t, err, ErrNotFound)
		})
	}
}

// abandon closes an index's files without the snapshots of Close, as a
// crash would leave them (the stores are still consistent: every write was
// committed).
func abandon(ix *Index) error {
	ix.mu.Lock()
	ix.mu.closed = true
	ix.mu.Unlock()
	close(ix.stop)
	ix.done.Wait()
	var errs []error
	for _, c := range ix.mu.collections {
		c.mu.Lock()
		c.closed = true
		for _, sh := range c.shards {
			errs = append(errs, sh.closeFiles())
		}
		c.mu.Unlock()
	}
	errs = append(errs, ix.catalog.Close())
	return errors.Join(errs...)
}

func corruptFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for i := 100; i < len(b); i += 97 {
		b[i] ^= 0x5a
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// corruptTree overwrites the start of every file under dir with garbage.
func corruptTree(t *testing.T, dir string) {
	t.Helper()
	n := 0
	require.NoError(t, filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		n++
		return os.WriteFile(path, bytes.Repeat([]byte("garbage!"), int(max(info.Size()/8, 1))), 0o644)
	}))
	require.Positive(t, n)
}

func ids(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

// above returns the IDs of the hits scoring more than score (by more than
// float rounding).
func above(hits []Hit, score float64) []string {
	var out []string
	for _, h := range hits {
		if h.Score > score+1e-9 {
			out = append(out, h.ID)
		}
	}
	return out
}

func TestStats(t *testing.T) {
	ix := openTest(t, "", Config{})
	c := mustCreate(t, ix, CollectionConfig{Name: "s", Dimension: 2, Shards: 2})
	_, err := c.Upsert(context.Background(), []Document{{ID: "a", Vector: []float32{1, 0}}, {ID: "b", Text: "text only"}, {ID: "c", Vector: []float32{0, 1}}})
	require.NoError(t, err)
	st, err := c.Stats(context.Background())
	require.NoError(t, err)
	require.Positive(t, st.GraphBytes)
	require.Positive(t, st.GraphUsedBytes)
	st.GraphBytes, st.GraphUsedBytes = 0, 0
	require.Equal(t, Stats{Documents: 3, Vectors: 2}, st)
	_, err = c.Delete(context.Background(), []string{"a"})
	require.NoError(t, err)
	st, err = c.Stats(context.Background())
	require.NoError(t, err)
	st.GraphBytes, st.GraphUsedBytes = 0, 0
	// Below the default policy's 1,000 tombstones: not compacted.
	require.Equal(t, Stats{Documents: 2, Vectors: 1, Tombstones: 1}, st)
	n, err := c.Compact(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	st, err = c.Stats(context.Background())
	require.NoError(t, err)
	st.GraphBytes, st.GraphUsedBytes = 0, 0
	require.Equal(t, Stats{Documents: 2, Vectors: 1, Compactions: 1, Reclaimed: 1}, st)
}
