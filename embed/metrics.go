package embed

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Error kinds, the values of the "kind" label of ragd_embed_errors_total.
const (
	kindUnauthorized  = "unauthorized"
	kindBadRequest    = "bad_request"
	kindModelNotFound = "model_not_found"
	kindRateLimited   = "rate_limited"
	kindServerError   = "server_error"
	kindTimeout       = "timeout"
	kindNetwork       = "network"
	kindBadResponse   = "bad_response"
)

var errorKinds = []string{kindUnauthorized, kindBadRequest, kindModelNotFound, kindRateLimited,
	kindServerError, kindTimeout, kindNetwork, kindBadResponse}

// Metrics counts what the embedders do, for the server's /metrics. It is a
// prometheus.Collector: register it once (prometheus.WrapRegistererWith adds
// labels such as the collection), and hand the same *Metrics to the
// OpenAIConfig, PoolConfig and CacheConfig of one embedder chain. Each
// series is fed by one layer, so nothing is counted twice:
//
//	ragd_embed_requests_total              provider HTTP requests (attempts)
//	ragd_embed_texts_total                 texts embedded by the provider
//	ragd_embed_tokens_total                tokens sent: the provider's usage, or the estimate (see OpenAIConfig.MaxBatchTokens)
//	ragd_embed_errors_total{kind}          failed attempts by kind, retried or not
//	ragd_embed_retries_total               attempts that were retried
//	ragd_embed_request_duration_seconds    latency of each provider request
//	ragd_embed_request_texts               texts per provider request
//	ragd_embed_queue_depth                 texts waiting in Pool queues (or to enter a full one)
//	ragd_embed_cache_hits_total            texts found in the cache
//	ragd_embed_cache_misses_total          texts not found (or corrupt) in the cache
//	ragd_embed_cache_evictions_total       cache entries evicted by the size bound
//	ragd_embed_cache_bytes                 accounted size of the cache's entries (see CacheConfig.MaxBytes)
//	ragd_embed_cache_entries               entries in the cache
//
// A nil *Metrics is valid and records nothing, so every Config may leave it
// unset. Metrics is safe for concurrent use.
type Metrics struct {
	requests        prometheus.Counter
	texts           prometheus.Counter
	tokens          prometheus.Counter
	errors          *prometheus.CounterVec
	retries         prometheus.Counter
	requestDuration prometheus.Histogram
	batchTexts      prometheus.Histogram
	queueDepth      prometheus.Gauge
	cacheHits       prometheus.Counter
	cacheMisses     prometheus.Counter
	cacheEvictions  prometheus.Counter
	cacheBytes      prometheus.Gauge
	cacheEntries    prometheus.Gauge
}

var _ prometheus.Collector = (*Metrics)(nil)

// NewMetrics returns a Metrics with every series at zero (the error kinds
// included, so that dashboards see them before the first error).
func NewMetrics() *Metrics {
	const ns, sub = "ragd", "embed"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &Metrics{
		requests: counter("requests_total", "Embedding requests sent to the provider, each attempt counted."),
		texts:    counter("texts_total", "Texts embedded by the provider."),
		tokens:   counter("tokens_total", "Tokens sent to the provider: its reported usage, or an estimate of about four bytes per token."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "errors_total",
			Help: "Failed provider attempts by kind, whether retried or not."}, []string{"kind"}),
		retries: counter("retries_total", "Provider attempts that failed and were retried."),
		requestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
			Help: "Latency of one provider request.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		batchTexts: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "request_texts",
			Help: "Texts per provider request.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "queue_depth",
			Help: "Texts waiting in embedding pool queues, or blocked on a full one."}),
		cacheHits:      counter("cache_hits_total", "Texts whose vector came from the embedding cache."),
		cacheMisses:    counter("cache_misses_total", "Texts looked up in the embedding cache and not found, or found corrupt."),
		cacheEvictions: counter("cache_evictions_total", "Embedding cache entries evicted, least recently used first, to keep the cache under its size bound."),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "cache_bytes",
			Help: "Accounted size of the embedding cache's entries: vectors, keys and index; the file is larger by bbolt's free and partly filled pages."}),
		cacheEntries: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "cache_entries",
			Help: "Vectors in the embedding cache."}),
	}
	for _, k := range errorKinds {
		m.errors.WithLabelValues(k)
	}
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.texts, m.tokens, m.errors, m.retries, m.requestDuration,
		m.batchTexts, m.queueDepth, m.cacheHits, m.cacheMisses, m.cacheEvictions, m.cacheBytes, m.cacheEntries}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	if m == nil {
		return
	}
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	if m == nil {
		return
	}
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// request records one provider attempt of n texts.
func (m *Metrics) request(n int) {
	if m == nil {
		return
	}
	m.requests.Inc()
	m.batchTexts.Observe(float64(n))
}

// latency records the duration of one HTTP exchange with the provider.
func (m *Metrics) latency(d time.Duration) {
	if m == nil {
		return
	}
	m.requestDuration.Observe(d.Seconds())
}

// embedded records n texts and their tokens, after a successful attempt.
func (m *Metrics) embedded(n, tokens int) {
	if m == nil {
		return
	}
	m.texts.Add(float64(n))
	m.tokens.Add(float64(tokens))
}

func (m *Metrics) failed(kind string, retried bool) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(kind).Inc()
	if retried {
		m.retries.Inc()
	}
}

func (m *Metrics) queued(n int) {
	if m == nil {
		return
	}
	m.queueDepth.Add(float64(n))
}

func (m *Metrics) cache(hits, misses int) {
	if m == nil {
		return
	}
	m.cacheHits.Add(float64(hits))
	m.cacheMisses.Add(float64(misses))
}

func (m *Metrics) cacheEvicted(n uint64) {
	if m == nil || n == 0 {
		return
	}
	m.cacheEvictions.Add(float64(n))
}

func (m *Metrics) cacheSize(bytes, entries uint64) {
	if m == nil {
		return
	}
	m.cacheBytes.Set(float64(bytes))
	m.cacheEntries.Set(float64(entries))
}
