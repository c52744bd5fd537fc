package server

import (
	"context"
	"fmt"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	ragv1 "github.com/ragd/ragd/api/ragv1"
)

// The REST side calls the service methods in process: grpc-gateway's
// Register…HandlerServer hands each decoded request to these wrappers,
// which run it through the same interceptors as a gRPC call (metrics
// labelled api="rest", request id, log line, panic recovery, auth, the
// in-flight limit) with the gateway's incoming metadata (the forwarded
// headers). An earlier version dialled the gRPC services over an
// in-process connection instead; that cost a protobuf encode and decode
// each way and HTTP/2 framing, ~230 µs a call (bench/results/server.md).

// restChain runs a REST call through the interceptors.
type restChain struct {
	metrics grpc.UnaryServerInterceptor
	observe grpc.UnaryServerInterceptor
	tracer  trace.Tracer // nil when tracing is off
}

func (s *Server) newRESTChain() (*restChain, error) {
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets)))
	if err := prometheus.WrapRegistererWith(prometheus.Labels{"api": "rest"}, s.reg).Register(m); err != nil {
		return nil, fmt.Errorf("register rest metrics: %w", err)
	}
	c := &restChain{metrics: m.UnaryServerInterceptor(), observe: s.unaryInterceptor("rest")}
	if s.tracer.tp != nil {
		c.tracer = s.tracer.tp.Tracer("github.com/ragd/ragd/server")
	}
	return c, nil
}

// call runs method's handler h on req through the chain.
func call[Req, Resp any](c *restChain, ctx context.Context, method string, req Req, h func(context.Context, Req) (Resp, error)) (Resp, error) {
	if c.tracer != nil {
		var span trace.Span
		ctx, span = c.tracer.Start(ctx, method[1:], trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
	}
	info := &grpc.UnaryServerInfo{FullMethod: method}
	resp, err := c.metrics(ctx, req, info, func(ctx context.Context, req any) (any, error) {
		return c.observe(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return h(ctx, req.(Req))
		})
	})
	if err != nil {
		var zero Resp
		return zero, err
	}
	return resp.(Resp), nil
}

type restCollections struct {
	ragv1.UnimplementedCollectionsServer
	c  *restChain
	sv *service
}

func (r *restCollections) Create(ctx context.Context, req *ragv1.CreateCollectionRequest) (*ragv1.Collection, error) {
	return call(r.c, ctx, "/ragd.v1.Collections/Create", req, r.sv.Create)
}

func (r *restCollections) List(ctx context.Context, req *ragv1.ListCollectionsRequest) (*ragv1.ListCollectionsResponse, error) {
	return call(r.c, ctx, "/ragd.v1.Collections/List", req, r.sv.List)
}

func (r *restCollections) Get(ctx context.Context, req *ragv1.GetCollectionRequest) (*ragv1.Collection, error) {
	return call(r.c, ctx, "/ragd.v1.Collections/Get", req, r.sv.Get)
}

func (r *restCollections) Calibrate(ctx context.Context, req *ragv1.CalibrateCollectionRequest) (*ragv1.Collection, error) {
	return call(r.c, ctx, "/ragd.v1.Collections/Calibrate", req, r.sv.Calibrate)
}

func (r *restCollections) Delete(ctx context.Context, req *ragv1.DeleteCollectionRequest) (*ragv1.DeleteCollectionResponse, error) {
	return call(r.c, ctx, "/ragd.v1.Collections/Delete", req, r.sv.Delete)
}

type restDocuments struct {
	ragv1.UnimplementedDocumentsServer
	c *restChain
	d *documents
}

func (r *restDocuments) Upsert(ctx context.Context, req *ragv1.UpsertDocumentsRequest) (*ragv1.UpsertDocumentsResponse, error) {
	return call(r.c, ctx, "/ragd.v1.Documents/Upsert", req, r.d.Upsert)
}

func (r *restDocuments) Get(ctx context.Context, req *ragv1.GetDocumentRequest) (*ragv1.Document, error) {
	return call(r.c, ctx, "/ragd.v1.Documents/Get", req, r.d.Get)
}

func (r *restDocuments) Scan(ctx context.Context, req *ragv1.ScanDocumentsRequest) (*ragv1.ScanDocumentsResponse, error) {
	return call(r.c, ctx, "/ragd.v1.Documents/Scan", req, r.d.Scan)
}

func (r *restDocuments) Delete(ctx context.Context, req *ragv1.DeleteDocumentRequest) (*ragv1.DeleteDocumentsResponse, error) {
	return call(r.c, ctx, "/ragd.v1.Documents/Delete", req, r.d.Delete)
}

func (r *restDocuments) DeleteMany(ctx context.Context, req *ragv1.DeleteDocumentsRequest) (*ragv1.DeleteDocumentsResponse, error) {
	return call(r.c, ctx, "/ragd.v1.Documents/DeleteMany", req, r.d.DeleteMany)
}

func (r *restDocuments) Search(ctx context.Context, req *ragv1.SearchRequest) (*ragv1.SearchResponse, error) {
	return call(r.c, ctx, "/ragd.v1.Documents/Search", req, r.d.Search)
}

func (r *restDocuments) SearchBatch(ctx context.Context, req *ragv1.SearchBatchRequest) (*ragv1.SearchBatchResponse, error) {
	return call(r.c, ctx, "/ragd.v1.Documents/SearchBatch", req, r.d.SearchBatch)
}

type restEmbeddings struct {
	c *restChain
	e *embeddings
}

func (r *restEmbeddings) Create(ctx context.Context, req *ragv1.CreateEmbeddingRequest) (*ragv1.CreateEmbeddingResponse, error) {
	return call(r.c, ctx, "/ragd.v1.Embeddings/Create", req, r.e.Create)
}
