package server

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	ragv1 "github.com/ragd/ragd/api/ragv1"
)

// TestSearchBatch: one search:batch request mixing modes, filters and k
// gives, search by search, what the single searches give, over REST and
// gRPC; query texts are embedded by the collection's embedder.
func TestSearchBatch(t *testing.T) {
	ts := startServer(t, nil)
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "docs", "shards": 2})
	ts.ok(t, "POST", "/v1/collections/docs/documents", map[string]any{"documents": []map[string]any{
		{"id": "go", "text": "Go is a programming language designed at Google", "metadata": map[string]any{"lang": "en"}},
		{"id": "rust", "text": "Rust is a systems programming language focused on safety", "metadata": map[string]any{"lang": "en"}},
		{"id": "bread", "text": "Sourdough bread needs a starter and a long fermentation", "metadata": map[string]any{"lang": "en"}},
		{"id": "brot", "text": "Sauerteigbrot braucht Zeit und einen Sauerteig", "metadata": map[string]any{"lang": "de"}},
		{"id": "cake", "text": "A cake needs flour, eggs and sugar", "metadata": map[string]any{"lang": "en"}},
	}})
	searches := []map[string]any{
		{"query": "programming language", "k": 2},
		{"query": "bread starter", "mode": "text"},
		{"query": "bread", "mode": "vector", "k": 3, "filter": map[string]any{"must": []any{map[string]any{"key": "lang", "match": map[string]any{"value": "en"}}}}},
		{"query": "Zeit", "filter": map[string]any{"must": []any{map[string]any{"key": "lang", "match": map[string]any{"value": "de"}}}}},
		{"query": "safety", "fusion": "rrf"},
	}
	m := ts.ok(t, "POST", "/v1/collections/docs/search:batch", map[string]any{"searches": searches})
	results := m["results"].([]any)
	require.Len(t, results, len(searches))
	require.Contains(t, m, "took_ms")
	for i, s := range searches {
		want := ts.ok(t, "POST", "/v1/collections/docs/search", s)
		got := results[i].(map[string]any)
		require.Equal(t, ids(t, want), ids(t, got), "search %d", i)
		require.NotEmpty(t, ids(t, got), "search %d", i)
	}
	require.Equal(t, []string{"brot"}, ids(t, results[3].(map[string]any)))

	// gRPC: the same batch.
	cl := ragv1.NewDocumentsClient(ts.conn)
	resp, err := cl.SearchBatch(context.Background(), &ragv1.SearchBatchRequest{Collection: "docs", Searches: []*ragv1.SearchRequest{
		{Query: "programming language", K: 2},
		{Query: "bread starter", Mode: "text"},
	}})
	require.NoError(t, err)
	require.Len(t, resp.GetResults(), 2)
	for i, r := range resp.GetResults() {
		var got []string
		for _, h := range r.GetResults() {
			got = append(got, h.GetId())
		}
		require.Equal(t, ids(t, results[i].(map[string]any)), got, "search %d", i)
	}
	_, err = cl.SearchBatch(context.Background(), &ragv1.SearchBatchRequest{Collection: "nope", Searches: []*ragv1.SearchRequest{{Query: "x"}}})
	require.Error(t, err)
	require.Contains(t, err.Error(), "nope")
}
