package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/openaitest"
)

// ids returns the "id" of every result of a REST search response.
func ids(t testing.TB, m map[string]any) []string {
	t.Helper()
	var out []string
	rs, ok := m["results"].([]any)
	require.True(t, ok, "no results in %v", m)
	for _, r := range rs {
		out = append(out, r.(map[string]any)["id"].(string))
	}
	return out
}

func TestRESTEndToEnd(t *testing.T) {
	ts := startServer(t, nil)

	// A collection with the server's default embedder (hash, 32 dimensions).
	m := ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "docs", "shards": 2})
	require.Equal(t, "hash", m["embedder"].(map[string]any)["provider"])
	require.EqualValues(t, 32, m["dimension"])
	// A collection that brings its own vectors, l2.
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "vecs", "dimension": 3, "metric": "l2", "embedder": map[string]any{"provider": "none"}})

	// Upsert: texts embedded by the collection's embedder, one document with
	// its own vector, one with a generated id.
	vec := make([]float64, 32)
	vec[0] = 1
	m = ts.ok(t, "POST", "/v1/collections/docs/documents", map[string]any{"documents": []map[string]any{
		{"id": "go", "text": "Go is a programming language designed at Google", "metadata": map[string]any{"lang": "en", "year": 2009, "tags": []any{"language", "google"}}},
		{"id": "rust", "text": "Rust is a systems programming language focused on safety", "metadata": map[string]any{"lang": "en", "year": 2015, "tags": []any{"language"}}},
		{"id": "bread", "text": "Sourdough bread needs a starter and a long fermentation", "metadata": map[string]any{"lang": "en", "year": 2020}},
		{"id": "brot", "text": "Sauerteigbrot braucht Zeit", "metadata": map[string]any{"lang": "de", "year": 2021}},
		{"id": "own", "text": "a document with its own vector", "vector": vec},
		{"text": "no id given: the server makes one"},
	}})
	require.EqualValues(t, 6, m["upserted"])
	got := m["ids"].([]any)
	require.Equal(t, []any{"go", "rust", "bread", "brot", "own"}, got[:5])
	genID := got[5].(string)
	require.Len(t, genID, 36)

	// Get, with and without the vector.
	m = ts.ok(t, "GET", "/v1/collections/docs/documents/own?include_vector=true", nil)
	require.Equal(t, "a document with its own vector", m["text"])
	require.Len(t, m["vector"], 32)
	require.EqualValues(t, 1, m["vector"].([]any)[0])
	m = ts.ok(t, "GET", "/v1/collections/docs/documents/go", nil)
	require.Empty(t, m["vector"])
	require.Equal(t, map[string]any{"lang": "en", "year": float64(2009), "tags": []any{"language", "google"}}, m["metadata"])

	// Collection counts.
	m = ts.ok(t, "GET", "/v1/collections/docs", nil)
	require.EqualValues(t, 6, m["documents"])
	require.EqualValues(t, 6, m["vectors"])

	// Search in every mode.
	for _, mode := range []string{"hybrid", "vector", "text"} {
		t.Run(mode, func(t *testing.T) {
			m := ts.ok(t, "POST", "/v1/collections/docs/search", map[string]any{"query": "programming language", "mode": mode, "k": 2})
			got := ids(t, m)
			require.Len(t, got, 2)
			require.ElementsMatch(t, []string{"go", "rust"}, got, "mode %s", mode)
			r := m["results"].([]any)[0].(map[string]any)
			scores, ranks := r["scores"].(map[string]any), r["ranks"].(map[string]any)
			if mode != "text" {
				require.Contains(t, scores, "vector")
				require.EqualValues(t, 1, ranks["vector"])
			}
			if mode != "vector" {
				require.Contains(t, scores, "text")
			}
			if mode == "vector" {
				require.NotContains(t, scores, "text")
			}
			require.Contains(t, m, "took_ms")
		})
	}
	// Filters apply to every mode.
	filter := map[string]any{"must": []any{map[string]any{"key": "year", "range": map[string]any{"gte": 2015}}},
		"must_not": []any{map[string]any{"key": "lang", "match": map[string]any{"value": "de"}}}}
	for _, mode := range []string{"hybrid", "vector", "text"} {
		m := ts.ok(t, "POST", "/v1/collections/docs/search", map[string]any{"query": "programming language bread", "mode": mode, "k": 10, "filter": filter})
		got := ids(t, m)
		sort.Strings(got)
		require.Equal(t, []string{"bread", "rust"}, got, "mode %s: only documents of 2015 or later, not German", mode)
	}
	// A query vector, fusion by RRF, vectors in the results.
	m = ts.ok(t, "POST", "/v1/collections/docs/search", map[string]any{"vector": vec, "query": "vector", "fusion": "rrf", "k": 1, "include_vectors": true})
	require.Equal(t, []string{"own"}, ids(t, m))
	require.Len(t, m["results"].([]any)[0].(map[string]any)["vector"], 32)

	// The vectors collection: l2, vector search only.
	ts.ok(t, "POST", "/v1/collections/vecs/documents", map[string]any{"documents": []map[string]any{
		{"id": "a", "vector": []float64{0, 0, 0}}, {"id": "b", "vector": []float64{1, 1, 1}}, {"id": "c", "vector": []float64{5, 5, 5}},
	}})
	m = ts.ok(t, "POST", "/v1/collections/vecs/search", map[string]any{"vector": []float64{0.9, 0.9, 0.9}, "k": 3})
	require.Equal(t, []string{"b", "a", "c"}, ids(t, m))

	// Scan pages in id order.
	m = ts.ok(t, "GET", "/v1/collections/docs/documents?limit=4", nil)
	require.Len(t, m["documents"], 4)
	next := m["next_cursor"].(string)
	require.NotEmpty(t, next)
	m = ts.ok(t, "GET", "/v1/collections/docs/documents?limit=4&cursor="+next, nil)
	require.Len(t, m["documents"], 2)
	require.Empty(t, m["next_cursor"])

	// Deletes: one by id (404 for a missing one), many by ids, by filter.
	m = ts.ok(t, "DELETE", "/v1/collections/docs/documents/"+genID, nil)
	require.EqualValues(t, 1, m["deleted"])
	code, _ := ts.doJSON(t, "DELETE", "/v1/collections/docs/documents/"+genID, nil)
	require.Equal(t, http.StatusNotFound, code)
	m = ts.ok(t, "POST", "/v1/collections/docs/documents:delete", map[string]any{"ids": []string{"own", "missing"}})
	require.EqualValues(t, 1, m["deleted"])
	m = ts.ok(t, "POST", "/v1/collections/docs/documents:delete", map[string]any{"filter": map[string]any{"must": []any{map[string]any{"key": "lang", "match": map[string]any{"value": "de"}}}}})
	require.EqualValues(t, 1, m["deleted"])
	code, _ = ts.doJSON(t, "GET", "/v1/collections/docs/documents/brot", nil)
	require.Equal(t, http.StatusNotFound, code)
	m = ts.ok(t, "POST", "/v1/collections/docs/search", map[string]any{"query": "bread", "mode": "text"})
	require.Equal(t, []string{"bread"}, ids(t, m))

	// List, drop, and the dropped collection is gone.
	m = ts.ok(t, "GET", "/v1/collections", nil)
	var names []string
	for _, c := range m["collections"].([]any) {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	require.Equal(t, []string{"docs", "vecs"}, names)
	ts.ok(t, "DELETE", "/v1/collections/vecs", nil)
	code, m = ts.doJSON(t, "GET", "/v1/collections/vecs", nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, m["message"], `collection "vecs" not found`)
	code, _ = ts.doJSON(t, "POST", "/v1/collections/vecs/search", map[string]any{"vector": []float64{1, 1, 1}})
	require.Equal(t, http.StatusNotFound, code)

	// Operational endpoints.
	c, b := ts.do(t, "GET", "/healthz", nil)
	require.Equal(t, 200, c, string(b))
	c, b = ts.do(t, "GET", "/readyz", nil)
	require.Equal(t, 200, c, string(b))
	c, b = ts.do(t, "GET", "/openapi.json", nil)
	require.Equal(t, 200, c)
	require.Contains(t, string(b), `"/v1/collections/{collection}/search"`)
}

func TestGRPCEndToEnd(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	colls := ragv1.NewCollectionsClient(ts.conn)
	docs := ragv1.NewDocumentsClient(ts.conn)

	c, err := colls.Create(ctx, &ragv1.CreateCollectionRequest{Name: "g", Shards: 3, Embedder: &ragv1.EmbedderConfig{Provider: "hash", Dimensions: 16}})
	require.NoError(t, err)
	require.EqualValues(t, 16, c.GetDimension())
	_, err = colls.Create(ctx, &ragv1.CreateCollectionRequest{Name: "g"})
	require.Equal(t, codes.AlreadyExists, status.Code(err))

	md, err := structpb.NewStruct(map[string]any{"n": 1, "kind": "odd"})
	require.NoError(t, err)
	up, err := docs.Upsert(ctx, &ragv1.UpsertDocumentsRequest{Collection: "g", Documents: []*ragv1.Document{
		{Id: "one", Text: "the first document about apples", Metadata: md},
	}})
	require.NoError(t, err)
	require.EqualValues(t, 1, up.GetUpserted())

	// A bulk load over the client stream: 10 messages of 50 documents.
	st, err := docs.UpsertStream(ctx)
	require.NoError(t, err)
	for i := range 10 {
		batch := &ragv1.UpsertDocumentsRequest{}
		if i == 0 {
			batch.Collection = "g"
		}
		for j := range 50 {
			n := i*50 + j
			kind := "even"
			if n%2 == 1 {
				kind = "odd"
			}
			md, err := structpb.NewStruct(map[string]any{"n": n, "kind": kind})
			require.NoError(t, err)
			batch.Documents = append(batch.Documents, &ragv1.Document{Id: fmt.Sprintf("doc-%03d", n), Text: fmt.Sprintf("document number %d about pears and plums", n), Metadata: md})
		}
		require.NoError(t, st.Send(batch))
	}
	res, err := st.CloseAndRecv()
	require.NoError(t, err)
	require.EqualValues(t, 500, res.GetUpserted())
	got, err := colls.Get(ctx, &ragv1.GetCollectionRequest{Name: "g"})
	require.NoError(t, err)
	require.EqualValues(t, 501, got.GetDocuments())

	// A stream whose third message is bad fails naming it; the first two
	// are stored.
	st, err = docs.UpsertStream(ctx)
	require.NoError(t, err)
	require.NoError(t, st.Send(&ragv1.UpsertDocumentsRequest{Collection: "g", Documents: []*ragv1.Document{{Id: "s1", Text: "stream one"}}}))
	require.NoError(t, st.Send(&ragv1.UpsertDocumentsRequest{Documents: []*ragv1.Document{{Id: "s2", Text: "stream two"}}}))
	_ = st.Send(&ragv1.UpsertDocumentsRequest{Documents: []*ragv1.Document{{Id: "s3", Vector: []float32{1}}}})
	_, err = st.CloseAndRecv()
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	require.Contains(t, status.Convert(err).Message(), "message[2].documents[0]")
	_, err = docs.Get(ctx, &ragv1.GetDocumentRequest{Collection: "g", Id: "s2"})
	require.NoError(t, err)

	// Search with a filter in every mode.
	f, err := structpb.NewStruct(map[string]any{"must": []any{
		map[string]any{"key": "kind", "match": map[string]any{"value": "odd"}},
		map[string]any{"key": "n", "range": map[string]any{"lt": 10}},
	}})
	require.NoError(t, err)
	for _, mode := range []string{"hybrid", "vector", "text"} {
		r, err := docs.Search(ctx, &ragv1.SearchRequest{Collection: "g", Query: "document number about pears", Mode: mode, K: 20, Filter: f})
		require.NoError(t, err, mode)
		var got []string
		for _, h := range r.GetResults() {
			got = append(got, h.GetId())
			require.Equal(t, "odd", h.GetMetadata().GetFields()["kind"].GetStringValue())
		}
		sort.Strings(got)
		require.Equal(t, []string{"doc-001", "doc-003", "doc-005", "doc-007", "doc-009", "one"}, got, mode)
	}

	// Get, delete, delete many, scan.
	d, err := docs.Get(ctx, &ragv1.GetDocumentRequest{Collection: "g", Id: "one", IncludeVector: true})
	require.NoError(t, err)
	require.Len(t, d.GetVector(), 16)
	_, err = docs.Delete(ctx, &ragv1.DeleteDocumentRequest{Collection: "g", Id: "one"})
	require.NoError(t, err)
	_, err = docs.Get(ctx, &ragv1.GetDocumentRequest{Collection: "g", Id: "one"})
	require.Equal(t, codes.NotFound, status.Code(err))
	f, err = structpb.NewStruct(map[string]any{"must": []any{map[string]any{"key": "kind", "match": map[string]any{"value": "even"}}}})
	require.NoError(t, err)
	del, err := docs.DeleteMany(ctx, &ragv1.DeleteDocumentsRequest{Collection: "g", Filter: f})
	require.NoError(t, err)
	require.EqualValues(t, 250, del.GetDeleted())
	page, err := docs.Scan(ctx, &ragv1.ScanDocumentsRequest{Collection: "g", Limit: 1000})
	require.NoError(t, err)
	require.Len(t, page.GetDocuments(), 252) // 250 odd + s1 + s2

	// Health and reflection are on.
	h, err := healthpb.NewHealthClient(ts.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, h.GetStatus())
	rc, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	rr, err := rc.Recv()
	require.NoError(t, err)
	var svcs []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		svcs = append(svcs, s.GetName())
	}
	require.Subset(t, svcs, []string{"ragd.v1.Collections", "ragd.v1.Documents", "ragd.v1.Embeddings", "grpc.health.v1.Health"})
	require.NoError(t, rc.CloseSend())

	// Drop.
	_, err = colls.Delete(ctx, &ragv1.DeleteCollectionRequest{Name: "g"})
	require.NoError(t, err)
	_, err = docs.Search(ctx, &ragv1.SearchRequest{Collection: "g", Query: "x"})
	require.Equal(t, codes.NotFound, status.Code(err))
}

func TestAuth(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Auth.Keys = []APIKey{
			{Name: "reader", Role: RoleRead, Key: "read-key-0123456789"},
			{Name: "writer", Role: RoleWrite, Key: "write-key-0123456789"},
			{Name: "admin", Role: RoleAdmin, Key: "admin-key-0123456789"},
		}
	})
	create := map[string]any{"name": "a"}
	doc := map[string]any{"documents": []any{map[string]any{"id": "x", "text": "hello world"}}}
	search := map[string]any{"query": "hello"}
	for _, c := range []struct {
		name, method, path string
		body               any
		header             string
		want               int
	}{
		{"no key", "GET", "/v1/collections", nil, "", 401},
		{"unknown key", "GET", "/v1/collections", nil, "Authorization: Bearer nope-nope-nope-nope", 401},
		{"basic auth", "GET", "/v1/collections", nil, "Authorization: Basic YTpi", 401},
		{"reader creates", "POST", "/v1/collections", create, "Authorization: Bearer read-key-0123456789", 403},
		{"writer creates", "POST", "/v1/collections", create, "api-key: write-key-0123456789", 403},
		{"admin creates", "POST", "/v1/collections", create, "Authorization: bearer admin-key-0123456789", 200},
		{"reader upserts", "POST", "/v1/collections/a/documents", doc, "api-key: read-key-0123456789", 403},
		{"writer upserts", "POST", "/v1/collections/a/documents", doc, "X-Api-Key: write-key-0123456789", 200},
		{"reader searches", "POST", "/v1/collections/a/search", search, "Authorization: Bearer read-key-0123456789", 200},
		{"reader embeds", "POST", "/v1/embeddings", map[string]any{"input": "hi", "model": "hash"}, "Authorization: Bearer read-key-0123456789", 200},
		{"nobody embeds", "POST", "/v1/embeddings", map[string]any{"input": "hi", "model": "hash"}, "", 401},
		{"writer drops", "DELETE", "/v1/collections/a", nil, "api-key: write-key-0123456789", 403},
		{"admin drops", "DELETE", "/v1/collections/a", nil, "api-key: admin-key-0123456789", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hs []string
			if c.header != "" {
				hs = append(hs, c.header)
			}
			code, m := ts.doJSON(t, c.method, c.path, c.body, hs...)
			require.Equal(t, c.want, code, "%v", m)
		})
	}
	// Operational endpoints need no key.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		code, _ := ts.do(t, "GET", p, nil)
		require.Equal(t, 200, code, p)
	}
	// gRPC: metadata, same rules; health needs no key.
	ctx := context.Background()
	colls := ragv1.NewCollectionsClient(ts.conn)
	_, err := colls.List(ctx, &ragv1.ListCollectionsRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	_, err = colls.Create(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer read-key-0123456789"), &ragv1.CreateCollectionRequest{Name: "b"})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), `"reader" has role read`)
	_, err = colls.List(metadata.AppendToOutgoingContext(ctx, "api-key", "read-key-0123456789"), &ragv1.ListCollectionsRequest{})
	require.NoError(t, err)
	_, err = healthpb.NewHealthClient(ts.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
}

func TestRequestID(t *testing.T) {
	ts := startServer(t, nil)
	req, err := http.NewRequest("GET", ts.url+"/v1/collections", nil)
	require.NoError(t, err)
	req.Header.Set("X-Request-Id", "from-the-proxy-42")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, "from-the-proxy-42", resp.Header.Get("X-Request-Id"))
	resp, err = http.Get(ts.url + "/v1/collections")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Len(t, resp.Header.Get("X-Request-Id"), 16)

	var hdr metadata.MD
	_, err = ragv1.NewCollectionsClient(ts.conn).List(metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "grpc-id-7"), &ragv1.ListCollectionsRequest{}, grpc.Header(&hdr))
	require.NoError(t, err)
	require.Equal(t, []string{"grpc-id-7"}, hdr.Get("x-request-id"))
}

// TestOpenAIProvider: collections embedding through an OpenAI-compatible
// endpoint get the server's key only when they use the server's base URL.
func TestOpenAIProvider(t *testing.T) {
	own := openaitest.New(openaitest.Config{Dimension: 24, APIKey: "sk-own"})
	defer own.Close()
	other := openaitest.New(openaitest.Config{Dimension: 24})
	defer other.Close()
	ts := startServer(t, func(c *Config) {
		c.Embed.OpenAI.BaseURL = own.BaseURL()
		c.Embed.OpenAI.APIKey = "sk-own"
		c.Embed.OpenAI.MaxAttempts = 1
	})
	// No dimension given: the server probes the endpoint for it.
	m := ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "oa", "embedder": map[string]any{"provider": "openai", "model": "text-embedding-3-small"}})
	require.EqualValues(t, 24, m["dimension"])
	ts.ok(t, "POST", "/v1/collections/oa/documents", map[string]any{"documents": []any{map[string]any{"id": "1", "text": "alpha beta"}}})
	m = ts.ok(t, "POST", "/v1/collections/oa/search", map[string]any{"query": "alpha beta", "mode": "vector", "k": 1})
	require.Equal(t, []string{"1"}, ids(t, m))

	m = ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "other", "dimension": 24, "embedder": map[string]any{"provider": "openai", "base_url": other.BaseURL(), "model": "m"}})
	require.Equal(t, other.BaseURL(), m["embedder"].(map[string]any)["base_url"])
	ts.ok(t, "POST", "/v1/collections/other/documents", map[string]any{"documents": []any{map[string]any{"id": "1", "text": "gamma"}}})
	require.NotEmpty(t, other.Log())
	for _, r := range other.Log() {
		require.Empty(t, r.Header.Get("Authorization"), "the server's key went to another endpoint")
	}
	for _, r := range own.Log() {
		require.Equal(t, "Bearer sk-own", r.Header.Get("Authorization"))
	}

	// The endpoint failing: 503 naming the embedder, nothing stored.
	bad := openaitest.New(openaitest.Config{Dimension: 24, Fault: func(int) openaitest.Fault { return openaitest.Fault{Status: 500, Message: "boom"} }})
	defer bad.Close()
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "bad", "dimension": 24, "embedder": map[string]any{"provider": "openai", "base_url": bad.BaseURL()}})
	code, m := ts.doJSON(t, "POST", "/v1/collections/bad/documents", map[string]any{"documents": []any{map[string]any{"id": "1", "text": "delta"}}})
	require.Equal(t, http.StatusServiceUnavailable, code, "%v", m)
	require.Contains(t, m["message"], "embedder")
	m = ts.ok(t, "GET", "/v1/collections/bad", nil)
	require.EqualValues(t, 0, m["documents"])
}

// TestLoading: before the index is open, API calls get 503 with
// Retry-After and readyz says loading.
func TestLoading(t *testing.T) {
	s, err := New(Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", Embed: EmbedConfig{Default: ProviderHash}})
	require.NoError(t, err)
	_, err = (&service{s: s}).List(context.Background(), &ragv1.ListCollectionsRequest{})
	st := status.Convert(err)
	require.Equal(t, codes.Unavailable, st.Code())
	require.Equal(t, time.Second, retryAfter(st))
	rec := &recorder{header: http.Header{}}
	s.readyz(rec, nil)
	require.Equal(t, http.StatusServiceUnavailable, rec.code)
	require.Contains(t, rec.body.String(), "loading")
	require.NoError(t, s.Shutdown(context.Background()))
}

// TestGracefulShutdown: a request in flight when Shutdown starts finishes
// with its answer; new connections are refused; the data is there after a
// restart.
func TestGracefulShutdown(t *testing.T) {
	slow := openaitest.New(openaitest.Config{Dimension: 8, Latency: 700 * time.Millisecond})
	defer slow.Close()
	dir := t.TempDir()
	cfg := func(c *Config) {
		c.DataDir = dir
		c.Embed.OpenAI = openaiCfg(slow.BaseURL())
	}
	s, err := New(Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", Embed: EmbedConfig{OpenAI: openaiCfg(slow.BaseURL())}})
	require.NoError(t, err)
	require.NoError(t, s.Start())
	require.NoError(t, s.WaitReady(context.Background()))
	ts := &testServer{Server: s, url: "http://" + s.HTTPAddr()}
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "slow", "dimension": 8, "embedder": map[string]any{"provider": "openai"}})

	var wg sync.WaitGroup
	var resp *http.Response
	var postErr error
	wg.Go(func() { // no require here: FailNow belongs to the test's goroutine
		resp, postErr = http.Post(ts.url+"/v1/collections/slow/documents", "application/json",
			strings.NewReader(`{"documents":[{"id":"late","text":"arrives during shutdown"}]}`))
	})
	require.Eventually(t, func() bool { return slow.Requests() > 0 }, 5*time.Second, 5*time.Millisecond)
	start := time.Now()
	require.NoError(t, s.Shutdown(context.Background()))
	require.Greater(t, time.Since(start), 300*time.Millisecond, "shutdown waited for the request")
	wg.Wait()
	require.NoError(t, postErr)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	_, err = http.Get(ts.url + "/healthz")
	require.Error(t, err, "the listener is closed")
	http.DefaultClient.CloseIdleConnections()

	ts2 := startServer(t, cfg)
	m := ts2.ok(t, "GET", "/v1/collections/slow/documents/late", nil)
	require.Equal(t, "arrives during shutdown", m["text"])
}

// TestMetrics: the request, collection and embedder series appear with
// their labels.
func TestMetrics(t *testing.T) {
	ts := startServer(t, nil)
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "m"})
	ts.ok(t, "POST", "/v1/collections/m/documents", map[string]any{"documents": []any{map[string]any{"id": "1", "text": "one"}, map[string]any{"id": "2", "text": "two"}}})
	ts.ok(t, "POST", "/v1/collections/m/search", map[string]any{"query": "one"})
	code, _ := ts.doJSON(t, "POST", "/v1/collections/m/search", map[string]any{"k": -1, "query": "x"})
	require.Equal(t, 400, code)
	_, err := ragv1.NewDocumentsClient(ts.conn).Search(context.Background(), &ragv1.SearchRequest{Collection: "m", Query: "two"})
	require.NoError(t, err)
	// A new version of a document leaves its old vector as a tombstone
	// (too few to start a compaction).
	ts.ok(t, "POST", "/v1/collections/m/documents", map[string]any{"documents": []any{map[string]any{"id": "1", "text": "one again"}}})
	coll := ts.ok(t, "GET", "/v1/collections/m", nil)
	require.EqualValues(t, 1, coll["tombstones"], "%v", coll)
	require.EqualValues(t, 2, coll["documents"], "%v", coll)
	code, b := ts.do(t, "GET", "/metrics", nil)
	require.Equal(t, 200, code)
	text := string(b)
	for _, want := range []string{
		`grpc_server_handled_total{api="rest",grpc_code="OK",grpc_method="Search",grpc_service="ragd.v1.Documents",grpc_type="unary"} 1`,
		`grpc_server_handled_total{api="rest",grpc_code="InvalidArgument",grpc_method="Search",grpc_service="ragd.v1.Documents",grpc_type="unary"} 1`,
		`grpc_server_handled_total{api="grpc",grpc_code="OK",grpc_method="Search",grpc_service="ragd.v1.Documents",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_bucket{api="rest",grpc_method="Search"`,
		`ragd_collection_documents{collection="m"} 2`,
		`ragd_collection_vectors{collection="m"} 2`,
		`ragd_collection_tombstones{collection="m"} 1`,
		`ragd_collection_graph_bytes{collection="m",state="used"}`,
		`ragd_collection_apply_failures_total{collection="m"} 0`,
		`ragd_collection_apply_repairs_total{collection="m"} 0`,
		`ragd_http_requests_total{code="400",handler="api",method="post"} 1`,
		`ragd_embed_errors_total`,
		`go_goroutines`,
	} {
		require.Contains(t, text, want)
	}
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(c int)           { r.code = c }

var _ io.Writer = (*recorder)(nil)

func openaiCfg(base string) embed.OpenAIConfig {
	return embed.OpenAIConfig{BaseURL: base, MaxAttempts: 1}
}

// TestGRPCLimits: a gRPC message over MaxBodyBytes is ResourceExhausted;
// too many requests in flight get ResourceExhausted with a retry delay.
func TestGRPCLimits(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.MaxBodyBytes = 64 << 10 })
	ctx := context.Background()
	_, err := ragv1.NewCollectionsClient(ts.conn).Create(ctx, &ragv1.CreateCollectionRequest{Name: "l"})
	require.NoError(t, err)
	_, err = ragv1.NewDocumentsClient(ts.conn).Upsert(ctx, &ragv1.UpsertDocumentsRequest{Collection: "l", Documents: []*ragv1.Document{{Text: strings.Repeat("x", 100<<10)}}})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	code, b := ts.do(t, "POST", "/v1/collections/l/documents", []byte(`{"documents":[{"text":"`+strings.Repeat("x", 100<<10)+`"}]}`))
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Contains(t, string(b), "65536 bytes")

	// The in-flight limit, exercised on the limiter itself: the server's
	// requests are too quick to hold it full from a test.
	l := make(limiter, 1)
	require.NoError(t, l.acquire("/ragd.v1.Documents/Search"))
	err = grpcError(l.acquire("/ragd.v1.Documents/Search"))
	st := status.Convert(err)
	require.Equal(t, codes.ResourceExhausted, st.Code())
	require.Equal(t, time.Second, retryAfter(st))
	require.NoError(t, l.acquire("/grpc.health.v1.Health/Check"), "health is never refused")
	l.release("/ragd.v1.Documents/Search")
	require.NoError(t, l.acquire("/ragd.v1.Documents/Search"))
}

// TestInFlightLimit: with one request allowed in flight, a second one gets
// 429 with Retry-After while the first (held by a slow embedder) runs.
func TestInFlightLimit(t *testing.T) {
	slow := openaitest.New(openaitest.Config{Dimension: 8, Latency: 500 * time.Millisecond})
	defer slow.Close()
	ts := startServer(t, func(c *Config) {
		c.Limits.MaxInFlight = 1
		c.Embed.OpenAI = openaiCfg(slow.BaseURL())
	})
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "slow", "dimension": 8, "embedder": map[string]any{"provider": "openai"}})
	done := make(chan int, 1)
	go func() { // no require here: FailNow belongs to the test's goroutine
		resp, err := http.Post(ts.url+"/v1/collections/slow/documents", "application/json", strings.NewReader(`{"documents":[{"text":"held"}]}`))
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return slow.Requests() > 0 }, 5*time.Second, 2*time.Millisecond)
	req, err := http.NewRequest("GET", ts.url+"/v1/collections", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", b)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Contains(t, string(b), "limit 1")
	require.Equal(t, 200, <-done)
	ts.ok(t, "GET", "/v1/collections", nil)
}

// TestSlashedIDs: ids with slashes and '#' (paths of ingested files) are
// reachable by REST path, with the slashes as they are or as %2F; unknown
// query parameters are refused.
func TestSlashedIDs(t *testing.T) {
	ts := startServer(t, nil)
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "files"})
	ts.ok(t, "POST", "/v1/collections/files/documents", map[string]any{"documents": []any{map[string]any{"id": "guides/intro.md#3", "text": "chunk three"}}})
	for _, p := range []string{"guides/intro.md%233", "guides%2Fintro.md%233"} {
		m := ts.ok(t, "GET", "/v1/collections/files/documents/"+p, nil)
		require.Equal(t, "guides/intro.md#3", m["id"])
	}
	m := ts.ok(t, "DELETE", "/v1/collections/files/documents/guides/intro.md%233", nil)
	require.EqualValues(t, 1, m["deleted"])
	code, m := ts.doJSON(t, "GET", "/v1/collections/files/documents?limt=5", nil)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, m["message"], `unknown query parameter "limt"`)
}
