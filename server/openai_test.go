package server

import (
	"context"
	"errors"
	"net/http"
	"testing"

	openai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/ragd/ragd/embed/local"
)

// TestOpenAIClient drives /v1/embeddings with go-openai, the client many
// Go applications use: ragd's local model behind OpenAI's API.
func TestOpenAIClient(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Embed.Default = ProviderLocal
		c.Auth.Keys = []APIKey{{Name: "app", Role: RoleRead, Key: "sk-ragd-0123456789"}}
	})
	cfg := openai.DefaultConfig("sk-ragd-0123456789")
	cfg.BaseURL = ts.url + "/v1"
	client := openai.NewClientWithConfig(cfg)
	ctx := context.Background()

	texts := []string{"How do I bake bread?", "Sourdough needs a starter.", "Goroutines are cheap threads."}
	m, err := local.New(local.DefaultConfig())
	require.NoError(t, err)
	want, err := m.Embed(ctx, texts)
	require.NoError(t, err)

	for _, format := range []openai.EmbeddingEncodingFormat{"", openai.EmbeddingEncodingFormatFloat, openai.EmbeddingEncodingFormatBase64} {
		t.Run("format="+string(format), func(t *testing.T) {
			resp, err := client.CreateEmbeddings(ctx, openai.EmbeddingRequest{Input: texts, Model: local.ModelName, EncodingFormat: format})
			require.NoError(t, err)
			require.Equal(t, local.ModelName, string(resp.Model))
			require.Len(t, resp.Data, 3)
			for i, d := range resp.Data {
				require.Equal(t, i, d.Index)
				require.Equal(t, want[i], d.Embedding, "text %d: the same vector as the model in-process", i)
			}
			require.Positive(t, resp.Usage.PromptTokens)
			require.Equal(t, resp.Usage.PromptTokens, resp.Usage.TotalTokens)
		})
	}
	// A single string, the provider name as model, and the default model.
	resp, err := client.CreateEmbeddings(ctx, openai.EmbeddingRequest{Input: "one text", Model: "local"})
	require.NoError(t, err)
	require.Len(t, resp.Data, 1)
	require.Len(t, resp.Data[0].Embedding, local.Dimension)
	resp, err = client.CreateEmbeddings(ctx, openai.EmbeddingRequest{Input: []string{"x y z"}, Model: ""})
	require.NoError(t, err)
	require.Equal(t, local.ModelName, string(resp.Model))
	// The hash models too.
	resp, err = client.CreateEmbeddings(ctx, openai.EmbeddingRequest{Input: []string{"hashed"}, Model: "hash-64"})
	require.NoError(t, err)
	require.Len(t, resp.Data[0].Embedding, 64)

	// Errors arrive as OpenAI API errors the client understands.
	for _, c := range []struct {
		name   string
		req    openai.EmbeddingRequest
		status int
		param  string
	}{
		{"unknown model", openai.EmbeddingRequest{Input: []string{"a"}, Model: "text-embedding-3-large"}, 404, ""},
		{"wrong dimensions", openai.EmbeddingRequest{Input: []string{"a"}, Model: local.ModelName, Dimensions: 256}, 400, "dimensions"},
		{"empty text", openai.EmbeddingRequest{Input: []string{"a", ""}, Model: local.ModelName}, 400, "input[1]"},
		{"no text", openai.EmbeddingRequest{Input: []string{}, Model: local.ModelName}, 400, "input"},
		{"token arrays", openai.EmbeddingRequest{Input: [][]int{{1, 2, 3}}, Model: local.ModelName}, 400, "input"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := client.CreateEmbeddings(ctx, c.req)
			var apiErr *openai.APIError
			require.True(t, errors.As(err, &apiErr), "%v", err)
			require.Equal(t, c.status, apiErr.HTTPStatusCode, apiErr.Message)
			require.NotEmpty(t, apiErr.Message)
			if c.param != "" {
				require.NotNil(t, apiErr.Param)
				require.Equal(t, c.param, *apiErr.Param)
			}
		})
	}
	// A wrong key is a 401 the client reports as such.
	bad := openai.DefaultConfig("sk-wrong-0123456789")
	bad.BaseURL = ts.url + "/v1"
	_, err = openai.NewClientWithConfig(bad).CreateEmbeddings(ctx, openai.EmbeddingRequest{Input: []string{"a"}, Model: "local"})
	var apiErr *openai.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, http.StatusUnauthorized, apiErr.HTTPStatusCode)
	require.Equal(t, "authentication_error", apiErr.Type)
}

// TestZeroConfigLocal: a collection created with nothing but a name uses
// the local model (the server's default), 512 dimensions, and finds by
// meaning a text that shares no word with the query.
func TestZeroConfigLocal(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Embed = EmbedConfig{} })
	m := ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "kb"})
	require.EqualValues(t, local.Dimension, m["dimension"])
	require.Equal(t, map[string]any{"provider": "local", "model": local.ModelName, "base_url": "", "dimensions": float64(0)}, m["embedder"])
	ts.ok(t, "POST", "/v1/collections/kb/documents", map[string]any{"documents": []any{
		map[string]any{"id": "cat", "text": "The kitten is sleeping on the sofa."},
		map[string]any{"id": "stock", "text": "Shares fell sharply after the earnings report."},
		map[string]any{"id": "rain", "text": "Heavy rain is expected over the weekend."},
	}})
	m = ts.ok(t, "POST", "/v1/collections/kb/search", map[string]any{"query": "a young cat naps on the couch", "mode": "vector", "k": 1})
	require.Equal(t, []string{"cat"}, ids(t, m))
}
