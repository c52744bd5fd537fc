package rag

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes, the values of the "outcome" label of ragd_ask_requests_total.
const (
	OutcomeOK              = "ok"
	OutcomeNoLLM           = "no_llm"
	OutcomeNoPassages      = "no_passages"
	OutcomeInvalidArgument = "invalid_argument"
	OutcomeSearchError     = "search_error"
	OutcomeUpstreamError   = "upstream_error"
	OutcomeUpstreamTimeout = "upstream_timeout"
	OutcomeRateLimited     = "rate_limited"
	OutcomeCanceled        = "canceled"
	OutcomeAborted         = "aborted"
)

var outcomes = []string{OutcomeOK, OutcomeNoLLM, OutcomeNoPassages, OutcomeInvalidArgument, OutcomeSearchError,
	OutcomeUpstreamError, OutcomeUpstreamTimeout, OutcomeRateLimited, OutcomeCanceled, OutcomeAborted}

// Error kinds of one upstream attempt, the values of the "kind" label of
// ragd_ask_upstream_errors_total.
const (
	kindStatus      = "status"       // 4xx other than 429
	kindRateLimited = "rate_limited" // 429
	kindServerError = "server_error" // 5xx, 408, 409
	kindTimeout     = "timeout"
	kindNetwork     = "network"
	kindBadResponse = "bad_response" // malformed body, error event mid-stream
)

var errorKinds = []string{kindStatus, kindRateLimited, kindServerError, kindTimeout, kindNetwork, kindBadResponse}

// Metrics counts what the engine does, for the server's /metrics:
//
//	ragd_ask_requests_total{outcome}          asks by outcome (see the Outcome constants)
//	ragd_ask_tokens_total{kind}               prompt and completion tokens: the endpoint's usage, or ragd's count when it sends none
//	ragd_ask_upstream_seconds                 duration of each request to the LLM endpoint, the whole stream included
//	ragd_ask_first_delta_seconds              time from sending a streaming request to its first answer text
//	ragd_ask_upstream_errors_total{kind}      failed upstream attempts by kind, retried or not
//	ragd_ask_retries_total                    upstream attempts that were retried
//	ragd_ask_passages                         passages given to the model per ask
//	ragd_ask_context_tokens                   prompt tokens per ask, as ragd counts them
//
// It is a prometheus.Collector: register it once (with
// prometheus.WrapRegistererWith for constant labels). A nil *Metrics is
// valid and records nothing. Metrics is safe for concurrent use.
type Metrics struct {
	requests       *prometheus.CounterVec
	tokens         *prometheus.CounterVec
	upstream       prometheus.Histogram
	firstDelta     prometheus.Histogram
	upstreamErrors *prometheus.CounterVec
	retries        prometheus.Counter
	passages       prometheus.Histogram
	contextTokens  prometheus.Histogram
}

var _ prometheus.Collector = (*Metrics)(nil)

// NewMetrics returns a Metrics with every series at zero (each outcome and
// kind included, so that dashboards see them before the first).
func NewMetrics() *Metrics {
	const ns, sub = "ragd", "ask"
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Asks by outcome."}, []string{"outcome"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "tokens_total",
			Help: "Tokens of prompts and completions: the LLM endpoint's usage, or ragd's count when it reports none."}, []string{"kind"}),
		upstream: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "upstream_seconds",
			Help: "Duration of one request to the LLM endpoint, the whole answer included.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
		firstDelta: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "first_delta_seconds",
			Help: "Time from sending a streaming request to the LLM endpoint to its first answer text.", Buckets: prometheus.ExponentialBuckets(0.025, 2, 12)}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "upstream_errors_total",
			Help: "Failed requests to the LLM endpoint by kind, whether retried or not."}, []string{"kind"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retries_total",
			Help: "Requests to the LLM endpoint that failed and were retried."}),
		passages: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "passages",
			Help: "Passages given to the model per ask.", Buckets: prometheus.LinearBuckets(0, 2, 11)}),
		contextTokens: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "context_tokens",
			Help: "Prompt tokens per ask, as ragd counts them.", Buckets: prometheus.ExponentialBuckets(256, 2, 10)}),
	}
	for _, o := range outcomes {
		m.requests.WithLabelValues(o)
	}
	m.tokens.WithLabelValues("prompt")
	m.tokens.WithLabelValues("completion")
	for _, k := range errorKinds {
		m.upstreamErrors.WithLabelValues(k)
	}
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.tokens, m.upstream, m.firstDelta, m.upstreamErrors, m.retries, m.passages, m.contextTokens}
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

func (m *Metrics) outcome(o string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(o).Inc()
}

func (m *Metrics) prompt(passages, tokens int) {
	if m == nil {
		return
	}
	m.passages.Observe(float64(passages))
	m.contextTokens.Observe(float64(tokens))
}

func (m *Metrics) usage(u Usage) {
	if m == nil {
		return
	}
	m.tokens.WithLabelValues("prompt").Add(float64(u.PromptTokens))
	m.tokens.WithLabelValues("completion").Add(float64(u.CompletionTokens))
}

func (m *Metrics) attempt(d time.Duration) {
	if m == nil {
		return
	}
	m.upstream.Observe(d.Seconds())
}

func (m *Metrics) firstText(d time.Duration) {
	if m == nil {
		return
	}
	m.firstDelta.Observe(d.Seconds())
}

func (m *Metrics) failed(kind string, retried bool) {
	if m == nil {
		return
	}
	m.upstreamErrors.WithLabelValues(kind).Inc()
	if retried {
		m.retries.Inc()
	}
}
