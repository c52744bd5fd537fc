package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/index/store"
	"github.com/ragd/ragd/rag"
	"github.com/ragd/ragd/server"
)

// client is how ragctl reaches ragd: a server over gRPC or REST, or a data
// folder opened in process (--data), which serves the same gRPC services
// over an in-memory connection. Every method returns the server's errors
// as gRPC statuses (status.FromError), whatever the transport.
type client interface {
	CreateCollection(ctx context.Context, r *ragv1.CreateCollectionRequest) (*ragv1.Collection, error)
	ListCollections(ctx context.Context) (*ragv1.ListCollectionsResponse, error)
	GetCollection(ctx context.Context, name string) (*ragv1.Collection, error)
	CalibrateCollection(ctx context.Context, name string) (*ragv1.Collection, error)
	DropCollection(ctx context.Context, name string) error
	Upsert(ctx context.Context, r *ragv1.UpsertDocumentsRequest) (*ragv1.UpsertDocumentsResponse, error)
	// UpsertStream opens a stream of upsert batches (REST: one call per
	// batch).
	UpsertStream(ctx context.Context) (upsertStream, error)
	GetDocument(ctx context.Context, r *ragv1.GetDocumentRequest) (*ragv1.Document, error)
	Scan(ctx context.Context, r *ragv1.ScanDocumentsRequest) (*ragv1.ScanDocumentsResponse, error)
	DeleteDocument(ctx context.Context, r *ragv1.DeleteDocumentRequest) (*ragv1.DeleteDocumentsResponse, error)
	DeleteMany(ctx context.Context, r *ragv1.DeleteDocumentsRequest) (*ragv1.DeleteDocumentsResponse, error)
	Search(ctx context.Context, r *ragv1.SearchRequest) (*ragv1.SearchResponse, error)
	// Ask calls onEvent with each event of the answer, the done event
	// last.
	Ask(ctx context.Context, r *ragv1.AskRequest, onEvent func(*ragv1.AskEvent) error) error
	// Transport names how the client reaches ragd ("grpc host:port",
	// "rest URL", "in process DIR"), for messages.
	Transport() string
	Close() error
}

// upsertStream is a stream of upsert batches: each Send is a batch; the
// server stores them in order and CloseAndRecv returns the totals or the
// first failure.
type upsertStream interface {
	Send(*ragv1.UpsertDocumentsRequest) error
	CloseAndRecv() (*ragv1.UpsertStreamResponse, error)
}

// connOptions say where ragd is.
type connOptions struct {
	server   string // REST base URL
	grpcAddr string // gRPC host:port; default the server's host, port 9090
	data     string // data folder, in process
	timeout  time.Duration
	verbose  bool
	// transport is auto (gRPC, else REST), grpc or rest.
	transport string
	// llm configures answers in --data mode (a server has its own).
	llm rag.Config
}

// defaultServer is --server's default, ragd's default REST address.
const defaultServer = "http://127.0.0.1:8080"

// defaultGRPCPort is the gRPC port assumed on --server's host.
const defaultGRPCPort = "9090"

// apiKeyEnv holds the API key sent to a server.
const apiKeyEnv = "RAGD_API_KEY"

// dial connects to ragd as o says. In server mode it tries gRPC first and
// falls back to REST when the gRPC port does not answer (unless --grpc-addr
// named it).
func dial(ctx context.Context, o connOptions, stderr io.Writer) (client, error) {
	if o.data != "" {
		return openInProcess(o)
	}
	u, err := url.Parse(o.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--server %q: want an http:// or https:// URL such as %s", o.server, defaultServer)
	}
	key := strings.TrimSpace(os.Getenv(apiKeyEnv))
	switch o.transport {
	case "auto", "grpc", "rest":
	default:
		return nil, usageErrorf("--transport %q: want auto, grpc or rest", o.transport)
	}
	if o.transport != "rest" {
		target := o.grpcAddr
		if target == "" {
			target = net.JoinHostPort(u.Hostname(), defaultGRPCPort)
		}
		gc, gerr := dialGRPC(ctx, target, u.Scheme == "https", key)
		if gerr == nil {
			if o.verbose {
				fmt.Fprintf(stderr, "ragctl: %s\n", gc.Transport())
			}
			return gc, nil
		}
		if o.grpcAddr != "" || o.transport == "grpc" {
			return nil, ioErrorf("gRPC at %s: %v; is ragd running there? (ragd --grpc-addr)", target, gerr)
		}
		if o.verbose {
			fmt.Fprintf(stderr, "ragctl: gRPC at %s does not answer (%v); using REST at %s\n", target, gerr, o.server)
		}
	}
	rc := newRESTClient(u, key, o.timeout)
	if err := rc.ping(ctx); err != nil {
		return nil, ioErrorf("ragd at %s does not answer: %v; start it (go run ./cmd/ragd), point --server at it, or use --data DIR to open a data folder without a server", o.server, err)
	}
	return rc, nil
}

// bearer sends the API key with every call.
type bearer struct {
	key    string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}

func (b bearer) RequireTransportSecurity() bool { return false }

// dialGRPC connects to target and checks that it answers.
func dialGRPC(ctx context.Context, target string, useTLS bool, key string) (*grpcClient, error) {
	creds := insecure.NewCredentials()
	if useTLS {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
	}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{key: key, secure: useTLS}))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	// The health service needs no key; a ragd that is still loading
	// answers NOT_SERVING, which is an answer.
	if _, err := healthpb.NewHealthClient(conn).Check(pctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		_ = conn.Close()
		if s, ok := status.FromError(err); ok && s.Code() == codes.DeadlineExceeded {
			return nil, errors.New("no answer within 3 s")
		}
		return nil, err
	}
	return newGRPCClient(conn, "grpc "+target, nil), nil
}

// openInProcess opens a data folder through ragd's own server code, with no
// port: the same validation, embedding and answers as a server's.
func openInProcess(o connOptions) (client, error) {
	cfg := server.Config{DataDir: o.data, Logger: slog.New(slog.DiscardHandler), LLM: o.llm}
	s, err := server.New(cfg)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	conn, err := s.StartInProcess()
	if err != nil {
		err = errors.Join(err, s.Shutdown(context.Background()))
		if errors.Is(err, store.ErrLocked) {
			return nil, ioErrorf("data folder %s is in use by another process (is ragd serving it? then use --server): %v", o.data, err)
		}
		return nil, ioErrorf("open data folder %s: %v", o.data, err)
	}
	return newGRPCClient(conn, "in process "+o.data, func() error {
		return s.Shutdown(context.Background())
	}), nil
}

// llmKeyEnv holds the LLM's API key in --data mode, as for ragd.
const llmKeyEnv = "RAGD_LLM_API_KEY"

// grpcClient is the client over a gRPC connection.
type grpcClient struct {
	conn  *grpc.ClientConn
	name  string
	coll  ragv1.CollectionsClient
	docs  ragv1.DocumentsClient
	ans   ragv1.AnswersClient
	after func() error // run after the connection closes
}

func newGRPCClient(conn *grpc.ClientConn, name string, after func() error) *grpcClient {
	return &grpcClient{conn: conn, name: name, coll: ragv1.NewCollectionsClient(conn), docs: ragv1.NewDocumentsClient(conn), ans: ragv1.NewAnswersClient(conn), after: after}
}

func (c *grpcClient) Transport() string { return c.name }

func (c *grpcClient) Close() error {
	err := c.conn.Close()
	if c.after != nil {
		err = errors.Join(err, c.after())
	}
	return err
}

func (c *grpcClient) CreateCollection(ctx context.Context, r *ragv1.CreateCollectionRequest) (*ragv1.Collection, error) {
	return c.coll.Create(ctx, r)
}

func (c *grpcClient) ListCollections(ctx context.Context) (*ragv1.ListCollectionsResponse, error) {
	return c.coll.List(ctx, &ragv1.ListCollectionsRequest{})
}

func (c *grpcClient) GetCollection(ctx context.Context, name string) (*ragv1.Collection, error) {
	return c.coll.Get(ctx, &ragv1.GetCollectionRequest{Name: name})
}

func (c *grpcClient) CalibrateCollection(ctx context.Context, name string) (*ragv1.Collection, error) {
	return c.coll.Calibrate(ctx, &ragv1.CalibrateCollectionRequest{Name: name})
}

func (c *grpcClient) DropCollection(ctx context.Context, name string) error {
	_, err := c.coll.Delete(ctx, &ragv1.DeleteCollectionRequest{Name: name})
	return err
}

func (c *grpcClient) Upsert(ctx context.Context, r *ragv1.UpsertDocumentsRequest) (*ragv1.UpsertDocumentsResponse, error) {
	return c.docs.Upsert(ctx, r)
}

func (c *grpcClient) UpsertStream(ctx context.Context) (upsertStream, error) {
	return c.docs.UpsertStream(ctx)
}

func (c *grpcClient) GetDocument(ctx context.Context, r *ragv1.GetDocumentRequest) (*ragv1.Document, error) {
	return c.docs.Get(ctx, r)
}

func (c *grpcClient) Scan(ctx context.Context, r *ragv1.ScanDocumentsRequest) (*ragv1.ScanDocumentsResponse, error) {
	return c.docs.Scan(ctx, r)
}

func (c *grpcClient) DeleteDocument(ctx context.Context, r *ragv1.DeleteDocumentRequest) (*ragv1.DeleteDocumentsResponse, error) {
	return c.docs.Delete(ctx, r)
}

func (c *grpcClient) DeleteMany(ctx context.Context, r *ragv1.DeleteDocumentsRequest) (*ragv1.DeleteDocumentsResponse, error) {
	return c.docs.DeleteMany(ctx, r)
}

func (c *grpcClient) Search(ctx context.Context, r *ragv1.SearchRequest) (*ragv1.SearchResponse, error) {
	return c.docs.Search(ctx, r)
}

func (c *grpcClient) Ask(ctx context.Context, r *ragv1.AskRequest, onEvent func(*ragv1.AskEvent) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a failed onEvent ends the call
	st, err := c.ans.Ask(ctx, r)
	if err != nil {
		return err
	}
	for {
		ev, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := onEvent(ev); err != nil {
			return err
		}
	}
}
