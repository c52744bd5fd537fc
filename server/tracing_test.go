package server

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// collector is an OTLP/gRPC trace collector that keeps span names.
type collector struct {
	coltrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string
}

func (c *collector) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, s.GetName())
			}
		}
	}
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func (c *collector) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.spans...)
}

// TestTracing: with an OTLP endpoint configured, a REST search leaves spans
// of the HTTP request and of the gRPC method at the collector.
func TestTracing(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	col := &collector{}
	g := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(g, col)
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()

	ts := startServer(t, func(c *Config) {
		c.OTLPEndpoint = lis.Addr().String()
		c.OTLPInsecure = true
	})
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "t"})
	ts.ok(t, "POST", "/v1/collections/t/search", map[string]any{"query": "traced"})
	require.NoError(t, ts.Shutdown(context.Background())) // flushes the spans
	require.Eventually(t, func() bool {
		n := col.names()
		return contains(n, "ragd.v1.Documents/Search") && contains(n, "POST /v1/")
	}, 5*time.Second, 20*time.Millisecond, "spans: %v", col.names())
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
