package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/rag"
)

// Server is ragd's server: the gRPC services on one port, REST (through
// grpc-gateway), /metrics, /healthz, /readyz and /openapi.json on another,
// over one index. Start listens at once and opens the index in the
// background (readyz says when it is loaded; API calls get 503 until
// then); Shutdown drains and closes everything.
//
// REST requests reach the same service methods in process, through the
// same interceptors (request ids, logs, auth, limits; rest.go), so both
// APIs share one implementation and one error mapping. The metrics tell
// them apart by the label api="grpc" or api="rest".
//
// A Server is safe for concurrent use.
type Server struct {
	cfg    Config
	logger *slog.Logger
	reg    *prometheus.Registry
	emb    *embedders
	auth   *authenticator
	limit  limiter
	bodies *semaphore.Weighted // REST body bytes held at once
	health *health.Server
	tracer *tracing

	ix      atomic.Pointer[index.Index]
	loaded  chan struct{} // closed when the index is open or failed to open
	loadErr error         // set before loaded is closed

	grpcServer *grpc.Server
	rest       *restChain
	// The service implementations, shared by gRPC and REST.
	collSv     *service
	docSv      *documents
	embSv      *embeddings
	ansSv      *answers
	rag        *rag.Engine
	restEm     *restEmbeddings // /v1/embeddings' way into embSv
	httpServer *http.Server
	grpcLis    net.Listener
	httpLis    net.Listener

	life struct {
		sync.Mutex
		started   bool // guarded by life
		inProcess bool // started by StartInProcess; guarded by life
		stopped   bool // guarded by life
	}
	bg           sync.WaitGroup // serving and loading goroutines
	serveErr     chan error     // a listener's Serve failed
	shutdownOnce sync.Once
	shutdownErr  error
	stopping     atomic.Bool
	stopCh       chan struct{} // closed when Shutdown begins
}

// New builds a server from cfg; it neither listens nor opens the index.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Index.Logger == nil {
		cfg.Index.Logger = cfg.Logger
	}
	s := &Server{
		stopCh:   make(chan struct{}),
		cfg:      cfg,
		logger:   cfg.Logger,
		reg:      cfg.Registry,
		auth:     newAuthenticator(cfg.Auth.Keys),
		limit:    make(limiter, cfg.Limits.MaxInFlight),
		bodies:   semaphore.NewWeighted(int64(cfg.Limits.MaxBufferedBytes)),
		health:   health.NewServer(),
		loaded:   make(chan struct{}),
		serveErr: make(chan error, 2),
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	em := embed.NewMetrics()
	if err := s.reg.Register(em); err != nil {
		return nil, fmt.Errorf("register embedder metrics: %w", err)
	}
	if err := s.reg.Register(&collectionMetrics{s: s}); err != nil {
		return nil, fmt.Errorf("register collection metrics: %w", err)
	}
	s.emb = newEmbedders(cfg.Embed, cfg.DataDir, em, cfg.Logger)
	rm := rag.NewMetrics()
	if err := s.reg.Register(rm); err != nil {
		return nil, fmt.Errorf("register ask metrics: %w", err)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)

	tr, err := newTracing(cfg)
	if err != nil {
		return nil, err
	}
	s.tracer = tr

	var creds []grpc.ServerOption
	if cfg.TLS.CertFile != "" {
		c, err := credentials.NewServerTLSFromFile(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls: %v", ErrInvalidConfig, err)
		}
		creds = append(creds, grpc.Creds(c))
	}
	llm := cfg.LLM
	llm.Logger, llm.Metrics = cfg.Logger, rm
	if s.tracer.tp != nil {
		llm.Tracer = s.tracer.tp.Tracer("github.com/ragd/ragd/rag")
	}
	if s.rag, err = rag.New(llm); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if cfg.LLM.BaseURL != "" {
		cfg.Logger.Info("answers from an LLM", "llm", cfg.LLM)
	}
	s.collSv = &service{s: s}
	s.docSv = &documents{sv: s.collSv}
	s.embSv = &embeddings{sv: s.collSv}
	s.ansSv = &answers{sv: s.collSv}
	if s.grpcServer, err = s.newGRPCServer("grpc", creds...); err != nil {
		return nil, err
	}
	if s.rest, err = s.newRESTChain(); err != nil {
		return nil, err
	}
	s.restEm = &restEmbeddings{c: s.rest, e: s.embSv}
	h, err := s.newHTTPHandler()
	if err != nil {
		return nil, err
	}
	s.httpServer = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// A body (up to MaxBodyBytes) must arrive within a minute: slow
		// uploads cannot hold connections and buffers for ever.
		ReadTimeout:    time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// latencyBuckets are the request latency histograms' buckets, in seconds.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// newGRPCServer makes the gRPC server with the services, the
// interceptors and metrics labelled api.
func (s *Server) newGRPCServer(api string, opts ...grpc.ServerOption) (*grpc.Server, error) {
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets)))
	if err := prometheus.WrapRegistererWith(prometheus.Labels{"api": api}, s.reg).Register(m); err != nil {
		return nil, fmt.Errorf("register %s metrics: %w", api, err)
	}
	opts = append(opts,
		grpc.InTapHandle(s.tapHandle),
		grpc.StatsHandler(admissionStats{}),
		grpc.ChainUnaryInterceptor(m.UnaryServerInterceptor(), s.unaryInterceptor(api)),
		grpc.ChainStreamInterceptor(m.StreamServerInterceptor(), s.streamInterceptor(api)),
		grpc.MaxRecvMsgSize(s.cfg.Limits.MaxBodyBytes),
		grpc.MaxSendMsgSize(s.cfg.Limits.MaxBodyBytes+1<<20),
		// Reuse handler goroutines, whose stacks have already grown to
		// what a search needs, instead of a new goroutine per call.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		// At most 1,024 streams per connection (or MaxInFlight, if larger:
		// a stream over the limit waits, it is not refused, so the limit
		// must not be what makes requests fail); connections idle for 15
		// minutes are closed, and clients may ping every 10 s (grpc-go's
		// defaults: unlimited streams, no pings without a stream).
		grpc.MaxConcurrentStreams(uint32(max(s.cfg.Limits.MaxInFlight, 1024))),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	opts = append(opts, s.tracer.serverOptions()...)
	g := grpc.NewServer(opts...)
	ragv1.RegisterCollectionsServer(g, s.collSv)
	ragv1.RegisterDocumentsServer(g, s.docSv)
	ragv1.RegisterEmbeddingsServer(g, s.embSv)
	ragv1.RegisterAnswersServer(g, s.ansSv)
	healthpb.RegisterHealthServer(g, s.health)
	reflection.Register(g)
	return g, nil
}

// Start listens on both addresses, serves, and opens the index in the
// background. It returns once listening; WaitReady waits for the index.
func (s *Server) Start() error {
	s.life.Lock()
	defer s.life.Unlock()
	switch {
	case s.life.stopped:
		return errors.New("server: start after shutdown")
	case s.life.started:
		return errors.New("server: started twice")
	}
	gl, err := net.Listen("tcp", s.cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen grpc: %w", err)
	}
	hl, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen http: %w", err), gl.Close())
	}
	if s.cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		if err != nil {
			return errors.Join(fmt.Errorf("%w: tls: %v", ErrInvalidConfig, err), gl.Close(), hl.Close())
		}
		hl = tls.NewListener(hl, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	}
	s.grpcLis, s.httpLis = gl, hl
	s.life.started = true
	serve := func(name string, f func() error) {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) && !s.stopping.Load() {
				s.serveErr <- fmt.Errorf("serve %s: %w", name, err)
			}
		}()
	}
	serve("grpc", func() error { return s.grpcServer.Serve(gl) })
	serve("http", func() error { return s.httpServer.Serve(hl) })
	s.logger.Info("listening", "http", hl.Addr().String(), "grpc", gl.Addr().String(), "tls", s.cfg.TLS.CertFile != "", "auth", len(s.cfg.Auth.Keys) > 0)

	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.load(true)
	}()
	return nil
}

// load opens the index, sets loadErr or the index, and closes loaded.
// preload also loads the local model when it is the default embedder (a
// server's first request should not wait for it).
func (s *Server) load(preload bool) {
	defer close(s.loaded)
	start := time.Now()
	ix, err := index.Open(s.cfg.DataDir, s.cfg.Index)
	if err != nil {
		s.loadErr = fmt.Errorf("open the index in %s: %w", s.cfg.DataDir, err)
		return
	}
	if s.stopping.Load() {
		s.loadErr = errors.Join(errors.New("server stopped while loading"), ix.Close())
		return
	}
	s.ix.Store(ix)
	if preload && s.cfg.Embed.Default == ProviderLocal {
		if _, _, err := s.emb.local(); err != nil {
			s.logger.Error("load the local embedding model", "err", err)
		}
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if s.cfg.CalibrateInterval > 0 {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.calibrateLoop(s.cfg.CalibrateInterval, s.stopCh)
		}()
	}
	s.logger.Info("ready", "collections", len(ix.Collections()), "dur", time.Since(start).Round(time.Millisecond))
}

// StartInProcess is Start for a program that uses the server as a library
// over its own data folder (ragctl --data): it opens the index before it
// returns and serves the gRPC services over an in-memory connection, the
// one it returns, with no port opened (Config's addresses, TLS and the
// HTTP side are unused). Calls go through the same services and
// interceptors as a network client's. Close the connection, then call
// Shutdown to snapshot and close the index.
func (s *Server) StartInProcess() (*grpc.ClientConn, error) {
	s.life.Lock()
	defer s.life.Unlock()
	switch {
	case s.life.stopped:
		return nil, errors.New("server: start after shutdown")
	case s.life.started:
		return nil, errors.New("server: started twice")
	}
	s.life.started, s.life.inProcess = true, true
	s.load(false)
	if s.loadErr != nil {
		return nil, s.loadErr
	}
	lis := bufconn.Listen(1 << 20)
	s.grpcLis = lis
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.grpcServer.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !s.stopping.Load() {
			s.logger.Error("serve in process", "err", err)
		}
	}()
	conn, err := grpc.NewClient("passthrough:///ragd-in-process",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.cfg.Limits.MaxBodyBytes+1<<20), grpc.MaxCallSendMsgSize(s.cfg.Limits.MaxBodyBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("server: connect in process: %w", err)
	}
	return conn, nil
}

// HTTPAddr returns the address REST listens on; valid after Start.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// GRPCAddr returns the address gRPC listens on (after Start).
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// WaitReady waits until the index is open; it returns the error that
// kept it from opening.
func (s *Server) WaitReady(ctx context.Context) error {
	select {
	case <-s.loaded:
		return s.loadErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ready reports whether the index is open and the server not stopping.
func (s *Server) Ready() bool { return s.ix.Load() != nil && !s.stopping.Load() }

// index returns the open index, or errLoading.
func (s *Server) index() (*index.Index, error) {
	ix := s.ix.Load()
	if ix == nil {
		select {
		case <-s.loaded:
			return nil, &internalError{st: toStatus(errLoading), cause: s.loadErr}
		default:
		}
		return nil, errLoading
	}
	return ix, nil
}

// Run starts the server and serves until ctx is cancelled (SIGTERM, say)
// or a listener fails, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	var err error
	loaded := s.loaded
	for err == nil {
		select {
		case <-ctx.Done():
			s.logger.Info("shutting down", "reason", context.Cause(ctx))
			return s.Shutdown(context.Background())
		case err = <-s.serveErr:
		case <-loaded:
			err = s.loadErr
			loaded = nil
		}
	}
	return errors.Join(err, s.Shutdown(context.Background()))
}

// Shutdown stops the server gracefully: readiness and health turn false,
// listeners close, requests in flight get up to Config.ShutdownTimeout (or
// ctx) to finish and are then cut off, and the index is snapshotted and
// closed. It is safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	start := time.Now()
	s.life.Lock()
	s.life.stopped = true
	started, inProcess := s.life.started, s.life.inProcess
	s.life.Unlock()
	s.stopping.Store(true)
	close(s.stopCh)
	s.health.Shutdown()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	// Both ports stop accepting at once and let requests in flight finish.
	stopGRPC := func(g *grpc.Server) {
		done := make(chan struct{})
		go func() { g.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			g.Stop()
			<-done
		}
	}
	var errs []error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); stopGRPC(s.grpcServer) }()
	if started && !inProcess {
		if err := s.httpServer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err), s.httpServer.Close())
		}
	}
	wg.Wait()
	if started {
		<-s.loaded
	}
	s.bg.Wait()
	if ix := s.ix.Load(); ix != nil {
		if err := ix.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close the index: %w", err))
		}
	}
	errs = append(errs, s.emb.close(), s.rag.Close(), s.tracer.shutdown(context.Background()))
	err := errors.Join(errs...)
	s.logger.Info("stopped", "dur", time.Since(start).Round(time.Millisecond), "err", err)
	return err
}

// collectionMetrics reports each collection's counts (documents, vectors,
// tombstones, graph memory, compaction and apply repairs) at
// scrape time.
type collectionMetrics struct{ s *Server }

var (
	collDocsDesc        = prometheus.NewDesc("ragd_collection_documents", "Documents stored in the collection.", []string{"collection"}, nil)
	collVecsDesc        = prometheus.NewDesc("ragd_collection_vectors", "Vectors in the collection's graphs.", []string{"collection"}, nil)
	collTombDesc        = prometheus.NewDesc("ragd_collection_tombstones", "Deleted or replaced vectors still in the collection's graphs, awaiting compaction.", []string{"collection"}, nil)
	collGraphDesc       = prometheus.NewDesc("ragd_collection_graph_bytes", "Memory the collection's graphs reserve (state=reserved) and the part their slots occupy (state=used).", []string{"collection", "state"}, nil)
	collCompactingDesc  = prometheus.NewDesc("ragd_collection_compacting_shards", "Shards of the collection with a compaction cycle in progress.", []string{"collection"}, nil)
	collCompactionsDesc = prometheus.NewDesc("ragd_collection_compactions_total", "Compaction cycles finished since the collection was opened.", []string{"collection"}, nil)
	collReclaimedDesc   = prometheus.NewDesc("ragd_collection_reclaimed_slots_total", "Graph slots freed by compaction since the collection was opened.", []string{"collection"}, nil)
	collApplyFailDesc   = prometheus.NewDesc("ragd_collection_apply_failures_total", "Committed write batches that failed to apply to a graph or text index.", []string{"collection"}, nil)
	collApplyRepairDesc = prometheus.NewDesc("ragd_collection_apply_repairs_total", "Repairs from the store that brought a graph or text index back in step after a failed apply.", []string{"collection"}, nil)
	collUnrepairedDesc  = prometheus.NewDesc("ragd_collection_unrepaired_documents", "Stored documents a graph or text index may not reflect yet (repair being retried).", []string{"collection"}, nil)
)

func (m *collectionMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{collDocsDesc, collVecsDesc, collTombDesc, collGraphDesc, collCompactingDesc,
		collCompactionsDesc, collReclaimedDesc, collApplyFailDesc, collApplyRepairDesc, collUnrepairedDesc} {
		ch <- d
	}
}

func (m *collectionMetrics) Collect(ch chan<- prometheus.Metric) {
	ix := m.s.ix.Load()
	if ix == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, cc := range ix.Collections() {
		c, err := ix.Collection(cc.Name)
		if err != nil {
			continue
		}
		st, err := c.Stats(ctx)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(collDocsDesc, prometheus.GaugeValue, float64(st.Documents), cc.Name)
		ch <- prometheus.MustNewConstMetric(collVecsDesc, prometheus.GaugeValue, float64(st.Vectors), cc.Name)
		ch <- prometheus.MustNewConstMetric(collTombDesc, prometheus.GaugeValue, float64(st.Tombstones), cc.Name)
		ch <- prometheus.MustNewConstMetric(collGraphDesc, prometheus.GaugeValue, float64(st.GraphBytes), cc.Name, "reserved")
		ch <- prometheus.MustNewConstMetric(collGraphDesc, prometheus.GaugeValue, float64(st.GraphUsedBytes), cc.Name, "used")
		ch <- prometheus.MustNewConstMetric(collCompactingDesc, prometheus.GaugeValue, float64(st.Compacting), cc.Name)
		ch <- prometheus.MustNewConstMetric(collCompactionsDesc, prometheus.CounterValue, float64(st.Compactions), cc.Name)
		ch <- prometheus.MustNewConstMetric(collReclaimedDesc, prometheus.CounterValue, float64(st.Reclaimed), cc.Name)
		ch <- prometheus.MustNewConstMetric(collApplyFailDesc, prometheus.CounterValue, float64(st.ApplyFailures), cc.Name)
		ch <- prometheus.MustNewConstMetric(collApplyRepairDesc, prometheus.CounterValue, float64(st.ApplyRepairs), cc.Name)
		ch <- prometheus.MustNewConstMetric(collUnrepairedDesc, prometheus.GaugeValue, float64(st.Unrepaired), cc.Name)
	}
}
