package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ragd/ragd/index"
)

// testServer is a Server on loopback ports with a real HTTP client and a
// real gRPC connection.
type testServer struct {
	*Server
	url  string
	conn *grpc.ClientConn
	dir  string
}

// startServer starts a server on free loopback ports over a temporary
// data folder (or cfg.DataDir), with the hash embedder (32 dimensions) as
// the default unless mut changes it, and stops it at the end of the test.
func startServer(t testing.TB, mut func(*Config)) *testServer {
	t.Helper()
	cfg := Config{
		DataDir:  t.TempDir(),
		HTTPAddr: "127.0.0.1:0",
		GRPCAddr: "127.0.0.1:0",
		Index:    index.Config{NoSync: true, SnapshotInterval: -1},
		Embed:    EmbedConfig{Default: ProviderHash, HashDimension: 32},
	}
	if mut != nil {
		mut(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.WaitReady(ctx))
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())
	if cfg.TLS.CertFile != "" {
		creds = grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})) // the test's own certificate
	}
	conn, err := grpc.NewClient(s.GRPCAddr(), creds)
	require.NoError(t, err)
	ts := &testServer{Server: s, url: "http://" + s.HTTPAddr(), conn: conn, dir: cfg.DataDir}
	t.Cleanup(func() {
		_ = conn.Close()
		require.NoError(t, s.Shutdown(context.Background()))
		http.DefaultClient.CloseIdleConnections()
	})
	return ts
}

// do sends an HTTP request (body may be nil) with headers given as
// "Name: value" strings and returns the status and body.
func (ts *testServer) do(t testing.TB, method, path string, body []byte, headers ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.url+path, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// doJSON is do with a JSON body marshalled from v (a string is sent as is)
// and the response decoded into a map.
func (ts *testServer) doJSON(t testing.TB, method, path string, v any, headers ...string) (int, map[string]any) {
	t.Helper()
	var body []byte
	switch v := v.(type) {
	case nil:
	case string:
		body = []byte(v)
	default:
		var err error
		body, err = json.Marshal(v)
		require.NoError(t, err)
	}
	code, b := ts.do(t, method, path, body, headers...)
	var m map[string]any
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &m), "body %s", b)
	}
	return code, m
}

// mustOK fails the test unless code is 200.
func mustOK(t testing.TB, code int, m map[string]any) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, code, "body %v", m)
	return m
}

// ok is doJSON that fails the test unless the status is 200.
func (ts *testServer) ok(t testing.TB, method, path string, v any, headers ...string) map[string]any {
	t.Helper()
	code, m := ts.doJSON(t, method, path, v, headers...)
	require.Equal(t, http.StatusOK, code, "%s %s: %v", method, path, m)
	return m
}
