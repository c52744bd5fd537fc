package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"google.golang.org/grpc"
)

// tracing exports a span per request over OTLP/gRPC when an endpoint is
// configured; without one every method here is a no-op and nothing is
// installed in the request path.
type tracing struct {
	tp   *sdktrace.TracerProvider // nil when off
	prop propagation.TextMapPropagator
}

func newTracing(cfg Config) (*tracing, error) {
	t := &tracing{prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
	ep := cfg.OTLPEndpoint
	if ep == "" {
		return t, nil
	}
	opts := []otlptracegrpc.Option{}
	if strings.Contains(ep, "://") {
		opts = append(opts, otlptracegrpc.WithEndpointURL(ep))
	} else {
		opts = append(opts, otlptracegrpc.WithEndpoint(ep))
	}
	if cfg.OTLPInsecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: otlp endpoint %q: %v", ErrInvalidConfig, ep, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName("ragd")))
	if err != nil {
		res = resource.Default()
	}
	t.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return t, nil
}

func (t *tracing) serverOptions() []grpc.ServerOption {
	if t.tp == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(t.tp), otelgrpc.WithPropagators(t.prop)))}
}

func (t *tracing) httpHandler(h http.Handler) http.Handler {
	if t.tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "ragd.http", otelhttp.WithTracerProvider(t.tp), otelhttp.WithPropagators(t.prop))
}

// shutdown flushes the spans still buffered.
func (t *tracing) shutdown(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}
