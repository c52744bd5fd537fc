package server

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/structpb"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/embed/openaitest"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/index/filter"
)

// TestAuthBeforeBody: with keys configured, a request without a valid key
// is refused before its body is looked at (401, not 400 for a malformed
// one), with WWW-Authenticate.
func TestAuthBeforeBody(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Auth.Keys = []APIKey{{Name: "k", Role: RoleAdmin, Key: "key-0123456789abcdef"}} })
	for _, path := range []string{"/v1/collections", "/v1/embeddings"} {
		req, err := http.NewRequest("POST", ts.url+path, strings.NewReader(`{bad`))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
		require.Equal(t, `Bearer realm="ragd"`, resp.Header.Get("WWW-Authenticate"), path)
	}
	code, _ := ts.do(t, "POST", "/v1/collections", []byte(`{bad`), "Authorization: Bearer key-0123456789abcdef")
	require.Equal(t, http.StatusBadRequest, code, "with the key, the body is read and found malformed")
}

// TestCrossOrigin: a browser page of another origin cannot make changes,
// and a server without keys answers to loopback names only (DNS
// rebinding).
func TestCrossOrigin(t *testing.T) {
	ts := startServer(t, nil)
	body := []byte(`{"name":"pwned"}`)
	code, b := ts.do(t, "POST", "/v1/collections", body, "Origin: https://evil.example", "Content-Type: text/plain")
	require.Equal(t, http.StatusForbidden, code, "%s", b)
	require.Contains(t, string(b), "cross-origin")
	code, _ = ts.do(t, "POST", "/v1/collections", body, "Sec-Fetch-Site: cross-site")
	require.Equal(t, http.StatusForbidden, code)

	req, err := http.NewRequest("GET", ts.url+"/v1/collections", nil)
	require.NoError(t, err)
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	for _, host := range []string{"localhost:8080", "127.0.0.1", "[::1]:80"} {
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, host)
	}
	m := ts.ok(t, "GET", "/v1/collections", nil) // tools without Origin (curl) are fine
	require.Empty(t, m["collections"], "nothing was created")
}

// TestIdleStreamHoldsNoSlot: an UpsertStream that sends nothing does not
// occupy the in-flight limit; its messages do while they are stored.
func TestIdleStreamHoldsNoSlot(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.MaxInFlight = 1 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	docs := ragv1.NewDocumentsClient(ts.conn)
	st, err := docs.UpsertStream(ctx)
	require.NoError(t, err)
	_, err = ragv1.NewCollectionsClient(ts.conn).Create(context.Background(), &ragv1.CreateCollectionRequest{Name: "s"})
	require.NoError(t, err, "the idle stream holds no slot")
	require.NoError(t, st.Send(&ragv1.UpsertDocumentsRequest{Collection: "s", Documents: []*ragv1.Document{{Id: "1", Text: "one"}}}))
	res, err := st.CloseAndRecv()
	require.NoError(t, err)
	require.EqualValues(t, 1, res.GetUpserted())
}

// TestStreamErrorDetails: an UpsertStream error keeps the field detail.
func TestStreamErrorDetails(t *testing.T) {
	ts := startServer(t, nil)
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "d", "dimension": 2, "embedder": map[string]any{"provider": "none"}})
	st, err := ragv1.NewDocumentsClient(ts.conn).UpsertStream(context.Background())
	require.NoError(t, err)
	_ = st.Send(&ragv1.UpsertDocumentsRequest{Collection: "d", Documents: []*ragv1.Document{{Id: "x", Vector: []float32{float32(math.NaN()), 1}}}})
	_, err = st.CloseAndRecv()
	s := status.Convert(err)
	require.Equal(t, codes.InvalidArgument, s.Code())
	require.Contains(t, s.Message(), "message[0].documents[0].vector[0]")
	require.Contains(t, s.Message(), "0 documents of earlier messages are stored")
	require.Len(t, s.Details(), 2)
	require.IsType(t, &errdetails.BadRequest{}, s.Details()[0])
	info, ok := s.Details()[1].(*errdetails.ErrorInfo)
	require.True(t, ok, "%T", s.Details()[1])
	require.Equal(t, ragv1.UpsertStreamFailed, info.GetReason())
	require.Equal(t, map[string]string{"message": "0", "stored": "0"}, info.GetMetadata())

	// A later message: the info names it and what came before is stored.
	st, err = ragv1.NewDocumentsClient(ts.conn).UpsertStream(context.Background())
	require.NoError(t, err)
	require.NoError(t, st.Send(&ragv1.UpsertDocumentsRequest{Collection: "d", Documents: []*ragv1.Document{{Id: "a", Vector: []float32{1, 0}}, {Id: "b", Vector: []float32{0, 1}}}}))
	_ = st.Send(&ragv1.UpsertDocumentsRequest{Documents: []*ragv1.Document{{Id: "c", Vector: []float32{1}}}})
	_, err = st.CloseAndRecv()
	s = status.Convert(err)
	require.Equal(t, codes.InvalidArgument, s.Code())
	require.Contains(t, s.Message(), "message[1].documents[0]")
	info, ok = s.Details()[len(s.Details())-1].(*errdetails.ErrorInfo)
	require.True(t, ok)
	require.Equal(t, map[string]string{"message": "1", "stored": "2"}, info.GetMetadata())
}

// TestEmbedderConfigErrors: a malformed base URL is a 400; a probe that
// fails leaves nothing behind.
func TestEmbedderConfigErrors(t *testing.T) {
	bad := openaitest.New(openaitest.Config{Fault: func(int) openaitest.Fault { return openaitest.Fault{Status: 404, Message: "no such model"} }})
	defer bad.Close()
	ts := startServer(t, func(c *Config) { c.Embed.OpenAI.MaxAttempts = 1 })
	for _, u := range []string{"http://[::1", "http://exa mple.com/v1", "ftp://x/v1", "http:///v1"} {
		code, m := ts.doJSON(t, "POST", "/v1/collections", map[string]any{"name": "m", "embedder": map[string]any{"provider": "openai", "base_url": u}})
		require.Equal(t, http.StatusBadRequest, code, "%s: %v", u, m)
		require.Contains(t, m["message"], "embedder.base_url")
	}
	code, m := ts.doJSON(t, "POST", "/v1/collections", map[string]any{"name": "m", "embedder": map[string]any{"provider": "openai", "base_url": bad.BaseURL()}})
	require.Equal(t, http.StatusServiceUnavailable, code, "%v", m)
	ts.emb.mu.Lock()
	n := len(ts.emb.mu.byKey)
	ts.emb.mu.Unlock()
	require.Zero(t, n, "the failed embedder was dropped")
}

// TestLifecycle: Start and Shutdown in any order and at once neither race
// nor hang; Start after Shutdown is an error.
func TestLifecycle(t *testing.T) {
	for range 5 {
		s, err := New(Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
			Index: index.Config{NoSync: true}, Embed: EmbedConfig{Default: ProviderHash}})
		require.NoError(t, err)
		var wg sync.WaitGroup
		wg.Go(func() { _ = s.Start() })
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(context.Background()) }()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("Shutdown hung")
		}
		wg.Wait()
		require.Error(t, s.Start(), "start after shutdown")
	}
}

// TestKeyValidation: keys with white space are refused at start.
func TestKeyValidation(t *testing.T) {
	err := Config{Auth: AuthConfig{Keys: []APIKey{{Name: "nl", Role: RoleRead, Key: "abcdefghijklmnopq\n"}}}}.Validate()
	require.ErrorContains(t, err, "white space")
}

// TestDenyByDefault: a method missing from the role table needs admin.
func TestDenyByDefault(t *testing.T) {
	a := newAuthenticator([]APIKey{{Name: "r", Role: RoleRead, Key: "read-0123456789abcdef"}})
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer read-0123456789abcdef"))
	_, err := a.check(ctx, "/ragd.v1.Documents/SomethingNew")
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	_, err = a.check(context.Background(), "/grpc.health.v1.Health/Check")
	require.NoError(t, err)
}

func TestTrivialFilter(t *testing.T) {
	for _, c := range []struct {
		json string
		want bool
	}{
		{`{}`, true},
		{`{"must": [{"must": []}]}`, true},
		{`{"should": [{"must": []}, {"key": "a", "exists": true}]}`, true},
		{`{"must": [{"key": "a", "exists": true}]}`, false},
		{`{"should": [{"key": "a", "exists": true}]}`, false},
		{`{"must_not": [{"must": []}]}`, false},
	} {
		f, err := filter.Parse([]byte(c.json))
		require.NoError(t, err)
		require.Equal(t, c.want, trivial(f), c.json)
	}
}

// TestMetadataNotFinite: a gRPC Struct can hold NaN, which JSON cannot; it
// is refused naming the metadata.
func TestMetadataNotFinite(t *testing.T) {
	s, err := structpb.NewStruct(map[string]any{"ok": 1})
	require.NoError(t, err)
	s.Fields["bad"] = structpb.NewNumberValue(math.NaN())
	_, err = DefaultLimits().metadata("documents[0].metadata", s)
	var fe *fieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "documents[0].metadata.bad", fe.field)
	require.Contains(t, fe.msg, "NaN")
	s.Fields["bad"] = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(math.Inf(1))}})
	_, err = DefaultLimits().metadata("m", s)
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "m.bad", fe.field)
}

// TestBufferedBody: the decoder reads what limitBody buffered, and only
// once.
func TestBufferedBody(t *testing.T) {
	b := []byte(`{"query":"x","k":3}`)
	bb := &bufferedBody{Reader: bytes.NewReader(b), b: b}
	var req ragv1.SearchRequest
	require.NoError(t, jsonMarshaler.NewDecoder(bb).Decode(&req))
	require.Equal(t, "x", req.GetQuery())
	require.EqualValues(t, 3, req.GetK())
	require.Empty(t, bb.take(), "consumed")
}

// TestTapAdmission: a gRPC call is authenticated and admitted before its
// message is read, and its in-flight slot is given back however it ends.
func TestTapAdmission(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Auth.Keys = []APIKey{{Name: "r", Role: RoleRead, Key: "read-key-0123456789"}, {Name: "w", Role: RoleAdmin, Key: "admin-key-0123456789"}}
		c.Limits.MaxInFlight = 1
	})
	md := func(key string) metadata.MD {
		if key == "" {
			return metadata.MD{}
		}
		return metadata.Pairs("authorization", "Bearer "+key)
	}
	upsert := "/ragd.v1.Documents/Upsert"
	for _, c := range []struct {
		key  string
		want codes.Code
	}{{"", codes.Unauthenticated}, {"wrong-key-0123456789", codes.Unauthenticated}, {"read-key-0123456789", codes.PermissionDenied}} {
		_, err := ts.tapHandle(context.Background(), &tap.Info{FullMethodName: upsert, Header: md(c.key)})
		require.Equal(t, c.want, status.Code(err), c.key)
	}
	ctx, err := ts.tapHandle(context.Background(), &tap.Info{FullMethodName: upsert, Header: md("admin-key-0123456789")})
	require.NoError(t, err)
	a := ctx.Value(admissionKey{}).(*admission)
	require.Equal(t, "w", a.key.Name)
	_, err = ts.tapHandle(context.Background(), &tap.Info{FullMethodName: upsert, Header: md("admin-key-0123456789")})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "the only slot is taken")
	admissionStats{}.HandleRPC(ctx, &stats.End{})
	admissionStats{}.HandleRPC(ctx, &stats.End{}) // given back once
	ctx2, err := ts.tapHandle(context.Background(), &tap.Info{FullMethodName: upsert, Header: md("admin-key-0123456789")})
	require.NoError(t, err)
	admissionStats{}.HandleRPC(ctx2, &stats.End{})
	ctx2, err = ts.tapHandle(context.Background(), &tap.Info{FullMethodName: "/unknown.Service/Method", Header: md("")})
	require.NoError(t, err, "left to grpc-go")
	require.Nil(t, ctx2.Value(admissionKey{}))

	// Over the network, with one slot: calls that fail in their handler
	// or in the tap give their slot back.
	auth := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer admin-key-0123456789")
	cl := ragv1.NewDocumentsClient(ts.conn)
	for range 5 {
		_, err := cl.Upsert(auth, &ragv1.UpsertDocumentsRequest{Collection: "missing", Documents: []*ragv1.Document{{Text: "x"}}})
		require.Equal(t, codes.NotFound, status.Code(err))
		_, err = cl.Upsert(context.Background(), &ragv1.UpsertDocumentsRequest{Collection: "missing"})
		require.Equal(t, codes.Unauthenticated, status.Code(err))
	}
	_, err = ragv1.NewCollectionsClient(ts.conn).List(auth, &ragv1.ListCollectionsRequest{})
	require.NoError(t, err)
}

// TestChunkedBodiesBudgetWhatTheySend: slow chunked uploads hold the
// buffered-bytes budget for what they have sent, not for the whole body
// limit each, so they do not starve other requests; one that outgrows
// what is left gets 429.
func TestChunkedBodiesBudgetWhatTheySend(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Limits.MaxBodyBytes = 1 << 20
		c.Limits.MaxBufferedBytes = 2 << 20
	})
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "c"})
	type upload struct {
		w    *io.PipeWriter
		done chan int
	}
	var ups []upload
	for range 8 {
		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", ts.url+"/v1/collections/c/documents", pr)
		require.NoError(t, err)
		req.ContentLength = -1 // chunked
		u := upload{w: pw, done: make(chan int, 1)}
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				u.done <- -1
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			u.done <- resp.StatusCode
		}()
		_, err = pw.Write([]byte(`{"documents": [{"text": "` + strings.Repeat("a", 10<<10)))
		require.NoError(t, err)
		ups = append(ups, u)
	}
	// Eight slow uploads of 1 MiB bodies would take 8 MiB of a 2 MiB
	// budget if each held its limit; they hold what they sent.
	m := ts.ok(t, "POST", "/v1/collections/c/documents", map[string]any{"documents": []map[string]any{{"id": "x", "text": strings.Repeat("b ", 100<<10)}}})
	require.EqualValues(t, 1, m["upserted"])
	for _, u := range ups {
		_, err := u.w.Write([]byte(`"}]}`))
		require.NoError(t, err)
		require.NoError(t, u.w.Close())
		require.Equal(t, http.StatusOK, <-u.done)
	}
	// A chunked body over the limit is refused as one of known length is.
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", ts.url+"/v1/collections/c/documents", pr)
	require.NoError(t, err)
	req.ContentLength = -1
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	go func() {
		_, _ = pw.Write([]byte(`{"documents": [{"text": "` + strings.Repeat("c", 1500<<10)))
		_ = pw.Close()
	}()
	require.Equal(t, http.StatusRequestEntityTooLarge, <-done)
}

// TestEmbedCacheOpenFailureLeaksNothing: when the embedding cache cannot
// be opened, the OpenAI-compatible embedder made for it is closed (its
// pool's goroutines stop; goleak checks at the end of the package's tests)
// and the request fails with the reason.
func TestEmbedCacheOpenFailureLeaksNothing(t *testing.T) {
	llm := openaitest.New(openaitest.Config{})
	defer llm.Close()
	ts := startServer(t, func(c *Config) {
		c.Embed.OpenAI.BaseURL = llm.URL + "/v1"
		c.Embed.OpenAI.APIKey = "sk-test"
	})
	// A directory where the cache file should be: bbolt cannot open it.
	require.NoError(t, os.MkdirAll(filepath.Join(ts.dir, "embed-cache.db"), 0o755))
	code, m := ts.doJSON(t, "POST", "/v1/collections", map[string]any{"name": "o", "embedder": map[string]any{"provider": "openai", "model": "m"}})
	require.Equal(t, http.StatusInternalServerError, code, "%v", m)
	for range 3 { // each attempt builds and closes its embedder
		code, _ = ts.doJSON(t, "POST", "/v1/embeddings", map[string]any{"input": "x", "model": "m"})
		require.Equal(t, http.StatusInternalServerError, code)
	}
}

// TestReadKeyEmbeddingLimits: through /v1/embeddings a read key may use
// only the server's OpenAI-compatible model, at a bounded rate; a write
// key is not limited.
func TestReadKeyEmbeddingLimits(t *testing.T) {
	up := openaitest.New(openaitest.Config{})
	defer up.Close()
	ts := startServer(t, func(c *Config) {
		c.Auth.Keys = []APIKey{{Name: "r", Role: RoleRead, Key: "read-key-0123456789"}, {Name: "w", Role: RoleWrite, Key: "write-key-0123456789"}}
		c.Embed.OpenAI.BaseURL, c.Embed.OpenAI.APIKey, c.Embed.OpenAI.Model = up.URL+"/v1", "sk-test", "text-embedding-3-small"
		c.Limits.ReadEmbedRate, c.Limits.MaxEmbedInputs = 5, 5
	})
	read, write := "Authorization: Bearer read-key-0123456789", "Authorization: Bearer write-key-0123456789"
	code, m := ts.doJSON(t, "POST", "/v1/embeddings", map[string]any{"input": "x", "model": "some-other-model"}, read)
	require.Equal(t, http.StatusForbidden, code, "%v", m)
	require.Contains(t, m["error"].(map[string]any)["message"], "need a write key")
	code, m = ts.doJSON(t, "POST", "/v1/embeddings", map[string]any{"input": "x", "model": "some-other-model"}, write)
	require.Equal(t, http.StatusOK, code, "%v", m)

	// Five texts a second: the burst passes, the next is 429 with a wait.
	five := []string{"alpha", "beta", "gamma", "delta", "epsilon"}
	code, m = ts.doJSON(t, "POST", "/v1/embeddings", map[string]any{"input": five, "model": "text-embedding-3-small"}, read)
	require.Equal(t, http.StatusOK, code, "%v", m)
	req, err := http.NewRequest("POST", ts.url+"/v1/embeddings", strings.NewReader(`{"input": ["zeta", "eta", "theta"], "model": "text-embedding-3-small"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer read-key-0123456789")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	// The local and hash models cost no quota: not limited.
	for range 3 {
		code, m = ts.doJSON(t, "POST", "/v1/embeddings", map[string]any{"input": five, "model": "hash-16"}, read)
		require.Equal(t, http.StatusOK, code, "%v", m)
	}
	// The write key is not limited.
	for range 3 {
		code, _ = ts.doJSON(t, "POST", "/v1/embeddings", map[string]any{"input": five, "model": "text-embedding-3-small"}, write)
		require.Equal(t, http.StatusOK, code)
	}
}
