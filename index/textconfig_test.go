package index

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTextZeroB: an explicit b = 0 (no length normalisation) is kept, is
// used by BM25, and survives a restart; catalogs written before it keep
// their meaning (0 was "the default").
func TestTextZeroB(t *testing.T) {
	dir := t.TempDir()
	ix := openTest(t, dir, Config{})
	zero := mustCreate(t, ix, CollectionConfig{Name: "b0", Text: TextConfig{B: new(0.0)}})
	def := mustCreate(t, ix, CollectionConfig{Name: "bdef"})
	docs := []Document{
		{ID: "short", Text: "zebra"},
		{ID: "long", Text: "zebra " + strings.Repeat("other words fill this document ", 20)},
	}
	scores := func(c *Collection) []float64 {
		t.Helper()
		res, err := c.Search(ctx, SearchRequest{Text: "zebra", K: 2})
		require.NoError(t, err)
		require.Len(t, res.Hits, 2)
		return []float64{res.Hits[0].Score, res.Hits[1].Score}
	}
	for _, c := range []*Collection{zero, def} {
		_, err := c.Upsert(ctx, docs)
		require.NoError(t, err)
	}
	s := scores(zero)
	require.InDelta(t, s[0], s[1], 1e-12, "b = 0: length must not matter")
	s = scores(def)
	require.Greater(t, s[0], s[1]+1e-6, "b = 0.75: the short document wins")

	// Config hands out a copy.
	cfg := zero.Config()
	*cfg.Text.B = 0.5
	require.Equal(t, 0.0, *zero.Config().Text.B)

	// A catalog entry of before version 2 (no catalog_version) in which 0
	// meant the default.
	legacy := `{"name":"legacy","dimension":0,"metric":"cosine","shards":1,"hnsw":{"m":16,"ef_construction":200,"ef_search":64},"text":{"analyzer":"en","k1":0,"b":0},"embedder":{},"created_at":"2026-01-02T03:04:05Z"}`
	require.NoError(t, ix.catalog.Put("legacy", []byte(legacy)))
	require.NoError(t, ix.Close())

	ix2 := openTest(t, dir, Config{})
	for name, want := range map[string][2]float64{"b0": {1.2, 0}, "bdef": {1.2, 0.75}, "legacy": {1.2, 0.75}} {
		c, err := ix2.Collection(name)
		require.NoError(t, err, name)
		require.Equal(t, want[0], *c.Config().Text.K1, name)
		require.Equal(t, want[1], *c.Config().Text.B, name)
	}
	c, err := ix2.Collection("b0")
	require.NoError(t, err)
	s = scores(c)
	require.InDelta(t, s[0], s[1], 1e-12, "b = 0 after a restart")
}

func TestCatalogNewerVersion(t *testing.T) {
	dir := t.TempDir()
	ix := openTest(t, dir, Config{})
	require.NoError(t, ix.catalog.Put("future", []byte(`{"name":"future","shards":1,"catalog_version":3}`)))
	require.NoError(t, ix.Close())
	_, err := Open(dir, Config{NoSync: true})
	require.ErrorIs(t, err, ErrCorrupt)
}
