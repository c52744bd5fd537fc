package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"golang.org/x/sync/errgroup"
)

// API types of OpenAIConfig.APIType.
const (
	// APITypeOpenAI is OpenAI's API and every server that copies it:
	// Ollama (BaseURL http://localhost:11434/v1), vLLM, Hugging Face TEI,
	// LocalAI, LM Studio. The key goes in "Authorization: Bearer".
	APITypeOpenAI = "openai"
	// APITypeAzure is Azure OpenAI with a resource key: BaseURL is the
	// resource endpoint (https://NAME.openai.azure.com), Model the
	// deployment name, the key goes in the "api-key" header.
	APITypeAzure = "azure"
	// APITypeAzureAD is Azure OpenAI with an Entra ID (Azure AD) token as
	// the key, sent as a bearer token.
	APITypeAzureAD = "azure_ad"
)

// Defaults of OpenAIConfig.
const (
	DefaultOpenAIBaseURL   = "https://api.openai.com/v1"
	DefaultOpenAIModel     = "text-embedding-3-small"
	DefaultOpenAIKeyEnv    = "OPENAI_API_KEY"
	DefaultAzureAPIVersion = "2024-10-21"

	defaultOpenAITimeout        = 60 * time.Second
	defaultOpenAIMaxBatch       = 32
	defaultOpenAIMaxBatchTokens = 100_000
	defaultOpenAIConcurrency    = 4
	defaultOpenAIMaxAttempts    = 5
	defaultBackoffBase          = 500 * time.Millisecond
	defaultBackoffMax           = 20 * time.Second
	defaultMaxRetryAfter        = time.Minute

	maxOpenAIMaxBatch    = 1 << 16
	maxOpenAIConcurrency = 1024
	maxOpenAIAttempts    = 100
	maxBackoff           = 24 * time.Hour
	// maxResponseBytes bounds the body read from the provider: 2,048
	// vectors of 3,072 floats in JSON take about 130 MB.
	maxResponseBytes = 512 << 20
)

// Secret is a string that does not print: String, GoString, LogValue and
// MarshalText give "[redacted]" (or "" when it is empty, so that a missing
// key shows), whatever the verb or the logger. Reveal gives the value.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString serves %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps the secret out of JSON, YAML and text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// OpenAIConfig configures NewOpenAI. The zero value is valid and targets
// OpenAI's text-embedding-3-small with the key of $OPENAI_API_KEY.
type OpenAIConfig struct {
	// BaseURL is the API root, the part before "/embeddings". Default
	// https://api.openai.com/v1. Ollama: http://localhost:11434/v1; vLLM
	// and LocalAI: http://HOST:PORT/v1; TEI: http://HOST:PORT/v1 (its
	// OpenAI route); Azure: https://NAME.openai.azure.com with APIType
	// "azure".
	BaseURL string
	// APIType is "openai" (default), "azure" or "azure_ad"; see
	// APITypeOpenAI and the others.
	APIType string
	// APIVersion is the api-version query parameter of Azure OpenAI.
	// Default 2024-10-21 for the Azure types (the first GA version with the
	// `dimensions` field is 2024-02-01); ignored by the "openai" type.
	APIVersion string
	// Model is the model name, or the deployment name on Azure. Default
	// text-embedding-3-small. It is sent with each request and is what
	// Model() returns.
	Model string
	// APIKey is the key itself. Prefer APIKeyFile or the environment: a
	// key in a config file ends up in backups. Never printed or logged.
	APIKey Secret
	// APIKeyFile is a file holding the key (a Kubernetes Secret mounted as a
	// file); surrounding white space is trimmed. Read once by NewOpenAI.
	APIKeyFile string
	// APIKeyEnv names the environment variable read when neither APIKey nor
	// APIKeyFile is set. Default OPENAI_API_KEY. A key is optional: local
	// servers (Ollama, vLLM, TEI) take none, and an empty one sends no
	// Authorization header.
	APIKeyEnv string
	// Dimensions, when set, is sent as the request's `dimensions` field
	// (text-embedding-3 models shorten their vectors to it) and every
	// vector must have that length. Zero (default) sends no field, for
	// servers and models that refuse it; Dimension() then learns the length
	// from the first response (or from Probe), and every later vector must
	// match it.
	Dimensions int
	// EncodingFormat is the wire format of the vectors: "float" (JSON
	// numbers) or "base64" (little-endian float32: half the bytes, and
	// several times cheaper to decode — at 384 dimensions, float JSON costs
	// the client about 5× the CPU). Default "": base64, as OpenAI's own
	// Python client does, falling back to float for good, at once and
	// without counting an attempt, on the first response that shows the
	// server does not do base64 (vectors as JSON arrays, or a 400/422 that
	// names encoding_format or base64).
	EncodingFormat string
	// Timeout bounds one HTTP request, the response body included. A
	// request that times out is retried like a network error. Default 60 s:
	// a CPU-bound local server can take seconds for a batch, OpenAI far
	// less.
	Timeout time.Duration
	// MaxBatch is the most texts sent in one request. Default 32, the
	// default limit of Hugging Face TEI (--max-client-batch-size); OpenAI
	// takes up to 2,048, and Ollama, vLLM and LocalAI have no limit.
	MaxBatch int
	// MaxBatchTokens is the most tokens sent in one request, estimated
	// without a tokenizer: one token per four bytes of ASCII (OpenAI's rule
	// of thumb for English) plus one per non-ASCII character (CJK
	// characters are about one token each, accented letters less), at
	// least one per text. A text larger than the budget goes alone in its
	// request: texts are never split. Default 100,000, a third of OpenAI's
	// 300,000 per request, to absorb the estimate's error.
	MaxBatchTokens int
	// Concurrency is the most requests in flight at once, over all Embed
	// calls of this embedder. Default 4. Raise it for throughput against a
	// remote API within its rate limit; keep it near the number of
	// replicas or GPUs of a self-hosted server.
	Concurrency int
	// MaxAttempts is the most requests made for one batch: the first and
	// its retries. Retried: 429, 408, 409, 5xx, network errors and timeouts;
	// everything else fails at once. Default 5. 1 disables retries.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the wait before a retry: "full
	// jitter", a uniform random wait in [0, min(BackoffMax, BackoffBase ×
	// 2^(retry-1))], which spreads the retries of many clients. A
	// Retry-After (or retry-after-ms) in the response replaces it. Defaults
	// 500 ms and 20 s.
	BackoffBase, BackoffMax time.Duration
	// MaxRetryAfter is the longest Retry-After honoured: a provider asking
	// for a longer wait fails the batch at once with ErrRateLimited (or
	// ErrUnavailable for a 503) naming the wait, instead of blocking an
	// ingestion for an hour. Default 1 minute.
	MaxRetryAfter time.Duration
	// HTTPClient sends the requests. Default: a client of its own whose
	// transport keeps Concurrency idle connections to the host (Go's
	// default keeps 2, which with more requests in flight reconnects all
	// the time); Close releases them. Timeouts come from Timeout, not from
	// the client.
	HTTPClient *http.Client
	// Logger receives one Debug record per request and per retry. Default:
	// discard. Neither the key nor texts nor vectors are logged.
	Logger *slog.Logger
	// Metrics, if set, counts requests, texts, tokens, errors, retries and
	// latency.
	Metrics *Metrics
	// Now is the clock for Retry-After dates. Default time.Now.
	Now func() time.Time
}

// DefaultOpenAIConfig returns the defaults.
func DefaultOpenAIConfig() OpenAIConfig { return OpenAIConfig{}.withDefaults() }

func (c OpenAIConfig) withDefaults() OpenAIConfig {
	if c.BaseURL == "" {
		c.BaseURL = DefaultOpenAIBaseURL
	}
	if c.APIType == "" {
		c.APIType = APITypeOpenAI
	}
	if c.APIVersion == "" && c.APIType != APITypeOpenAI {
		c.APIVersion = DefaultAzureAPIVersion
	}
	if c.Model == "" {
		c.Model = DefaultOpenAIModel
	}
	if c.APIKeyEnv == "" {
		c.APIKeyEnv = DefaultOpenAIKeyEnv
	}
	if c.Timeout == 0 {
		c.Timeout = defaultOpenAITimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = defaultOpenAIMaxBatch
	}
	if c.MaxBatchTokens == 0 {
		c.MaxBatchTokens = defaultOpenAIMaxBatchTokens
	}
	if c.Concurrency == 0 {
		c.Concurrency = defaultOpenAIConcurrency
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = defaultOpenAIMaxAttempts
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = defaultBackoffBase
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(defaultBackoffMax, c.BackoffBase)
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = defaultMaxRetryAfter
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// zero ones. It reads no file and no environment.
func (c OpenAIConfig) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: openai: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return bad("base URL %q is not an http(s) URL", redactURL(c.BaseURL))
	case u.RawQuery != "" || u.Fragment != "":
		return bad("base URL %q has a query or fragment", redactURL(c.BaseURL))
	case c.APIType != APITypeOpenAI && c.APIType != APITypeAzure && c.APIType != APITypeAzureAD:
		return bad("API type %q is not %q, %q or %q", c.APIType, APITypeOpenAI, APITypeAzure, APITypeAzureAD)
	case c.APIKey != "" && c.APIKeyFile != "":
		return bad("both an API key and an API key file are set")
	case c.Dimensions < 0 || c.Dimensions > MaxHashDimension:
		return bad("dimensions %d out of range [0, %d]", c.Dimensions, MaxHashDimension)
	case c.EncodingFormat != "" && c.EncodingFormat != "float" && c.EncodingFormat != "base64":
		return bad("encoding format %q is not float or base64", c.EncodingFormat)
	case c.Timeout < 0:
		return bad("timeout %v is negative", c.Timeout)
	case c.MaxBatch < 1 || c.MaxBatch > maxOpenAIMaxBatch:
		return bad("max batch %d out of range [1, %d]", c.MaxBatch, maxOpenAIMaxBatch)
	case c.MaxBatchTokens < 1:
		return bad("max batch tokens %d is not positive", c.MaxBatchTokens)
	case c.Concurrency < 1 || c.Concurrency > maxOpenAIConcurrency:
		return bad("concurrency %d out of range [1, %d]", c.Concurrency, maxOpenAIConcurrency)
	case c.MaxAttempts < 1 || c.MaxAttempts > maxOpenAIAttempts:
		return bad("max attempts %d out of range [1, %d]", c.MaxAttempts, maxOpenAIAttempts)
	case c.BackoffBase < 0 || c.BackoffMax < c.BackoffBase || c.BackoffMax > maxBackoff:
		return bad("backoff base %v and max %v: want 0 < base <= max <= %v", c.BackoffBase, c.BackoffMax, maxBackoff)
	case c.MaxRetryAfter < 0:
		return bad("max retry-after %v is negative", c.MaxRetryAfter)
	}
	return nil
}

// LogValue implements slog.LogValuer: the settings worth logging, with the
// key redacted and only the name of its file or variable.
func (c OpenAIConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", redactURL(c.BaseURL)),
		slog.String("api_type", c.APIType),
		slog.String("model", c.Model),
		slog.Any("api_key", c.APIKey),
		slog.String("api_key_file", c.APIKeyFile),
		slog.String("api_key_env", c.APIKeyEnv),
		slog.Int("dimensions", c.Dimensions),
		slog.Duration("timeout", c.Timeout),
		slog.Int("max_batch", c.MaxBatch),
		slog.Int("max_batch_tokens", c.MaxBatchTokens),
		slog.Int("concurrency", c.Concurrency),
		slog.Int("max_attempts", c.MaxAttempts),
	)
}

// String summarises the config for people: the fields of LogValue, with
// the key redacted and no credentials in the base URL.
func (c OpenAIConfig) String() string {
	var b strings.Builder
	b.WriteString("OpenAIConfig{")
	for i, a := range c.LogValue().Group() {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%v", a.Key, a.Value)
	}
	b.WriteString("}")
	return b.String()
}

// GoString serves %#v like String.
func (c OpenAIConfig) GoString() string { return c.String() }

// resolveKey returns the key from APIKey, APIKeyFile or APIKeyEnv, in that
// order.
func (c OpenAIConfig) resolveKey() (string, error) {
	switch {
	case c.APIKey != "":
		return string(c.APIKey), nil
	case c.APIKeyFile != "":
		b, err := os.ReadFile(c.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("embed: openai: API key file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	default:
		return strings.TrimSpace(os.Getenv(c.APIKeyEnv)), nil
	}
}

// OpenAI embeds through an OpenAI-compatible /embeddings endpoint (with
// github.com/sashabaranov/go-openai). An Embed call
//
//  1. rejects a blank text (empty or white space only) with a TextError
//     wrapping ErrEmptyText, before any request: servers refuse "" and a
//     blank text has nothing to embed;
//  2. cuts the texts, in order, into requests of at most MaxBatch texts and
//     MaxBatchTokens estimated tokens;
//  3. sends them with at most Concurrency requests in flight (shared by all
//     calls; a request of a PriorityQuery call, see WithPriority, takes the
//     next free slot before the waiting bulk ones), each bounded by
//     Timeout, retrying 429, 408, 409, 5xx, network errors and timeouts up
//     to MaxAttempts with jittered exponential backoff or the provider's
//     Retry-After;
//  4. checks every response — one vector per text, each index once, the
//     same dimension throughout, finite values — and places each vector by
//     its `index` field, not by its position in the response;
//  5. fails as a whole with the first error (a *ProviderError), cancelling
//     the other requests; nothing is returned from a failed call.
//
// Cancelling ctx aborts the requests in flight and the backoff waits at
// once. Dimension is Dimensions when configured, else learned from the
// first successful response: 0 until then (Probe makes one request to learn
// it).
//
// OpenAI is safe for concurrent use. Close releases its idle connections.
type OpenAI struct {
	cfg      OpenAIConfig
	key      string // resolved API key; never logged, removed from error messages
	client   *openai.Client
	own      *http.Transport // the default client's transport, nil if HTTPClient was given
	dim      atomic.Int64    // the vector length, 0 until known
	provider string          // for cache keys: API type and base URL
	logger   *slog.Logger
	metrics  *Metrics
	auto     bool        // EncodingFormat "": base64 until the server shows it does not do it
	floats   atomic.Bool // request floats
}

var _ Embedder = (*OpenAI)(nil)

// NewOpenAI returns an OpenAI embedder. It reads the key (from APIKey,
// APIKeyFile or the environment) and makes no request.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	key, err := cfg.resolveKey()
	if err != nil {
		return nil, err
	}
	o := &OpenAI{
		cfg:      cfg,
		key:      key,
		provider: cfg.APIType + " " + redactURL(strings.TrimRight(cfg.BaseURL, "/")),
		logger:   cfg.Logger,
		metrics:  cfg.Metrics,
		auto:     cfg.EncodingFormat == "",
	}
	o.cfg.APIKey = "" // the key lives in o.key only
	o.floats.Store(cfg.EncodingFormat == "float")
	hc := cfg.HTTPClient
	if hc == nil {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			o.own = t.Clone()
		} else {
			o.own = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
		}
		o.own.MaxIdleConnsPerHost = cfg.Concurrency
		hc = &http.Client{Transport: o.own}
	}
	var cc openai.ClientConfig
	switch cfg.APIType {
	case APITypeOpenAI:
		cc = openai.DefaultConfig(key)
	default:
		cc = openai.DefaultAzureConfig(key, cfg.BaseURL)
		cc.APIVersion = cfg.APIVersion
		cc.AzureModelMapperFunc = func(model string) string { return model } // Model is the deployment
		if cfg.APIType == APITypeAzureAD {
			cc.APIType = openai.APITypeAzureAD
		}
	}
	cc.BaseURL = cfg.BaseURL
	cc.HTTPClient = &doer{client: hc, sem: newPrioritySem(cfg.Concurrency), timeout: cfg.Timeout,
		key: key, now: cfg.Now, metrics: cfg.Metrics}
	o.client = openai.NewClientWithConfig(cc)
	if cfg.Dimensions > 0 {
		o.dim.Store(int64(cfg.Dimensions))
	}
	return o, nil
}

// Model returns the configured model (the deployment on Azure).
func (o *OpenAI) Model() string { return o.cfg.Model }

// Dimension returns the vector length: Dimensions if configured, else the
// length seen in the first successful response, 0 before it.
func (o *OpenAI) Dimension() int { return int(o.dim.Load()) }

// Provider names the endpoint, "<api type> <base URL>" (without
// credentials), so that a cache does not mix two servers' vectors of
// models that share a name.
func (o *OpenAI) Provider() string { return o.provider }

// Probe returns the dimension, first embedding a short text to learn it
// when neither the config nor an earlier call gave it.
func (o *OpenAI) Probe(ctx context.Context) (int, error) {
	if d := o.Dimension(); d > 0 {
		return d, nil
	}
	if _, err := o.Embed(ctx, []string{"dimension probe"}); err != nil {
		return 0, err
	}
	return o.Dimension(), nil
}

// Close releases the idle connections of the default HTTP client. The
// embedder stays usable; a later request reconnects.
func (o *OpenAI) Close() error {
	if o.own != nil {
		o.own.CloseIdleConnections()
	}
	return nil
}

// span is one request's share of the texts: texts[lo:hi].
type span struct{ lo, hi, tokens int }

// estimateTokens approximates a text's token count without a tokenizer:
// one per four ASCII bytes plus one per non-ASCII character, at least 1
// (see OpenAIConfig.MaxBatchTokens).
func estimateTokens(s string) int {
	ascii, other := 0, 0
	for _, r := range s {
		if r < 0x80 {
			ascii++
		} else {
			other++
		}
	}
	return max(1, (ascii+3)/4+other)
}

// split cuts texts into requests, in order, by MaxBatch and MaxBatchTokens.
func (o *OpenAI) split(texts []string) []span {
	var spans []span
	cur := span{}
	for i, t := range texts {
		n := estimateTokens(t)
		if i > cur.lo && (i-cur.lo >= o.cfg.MaxBatch || cur.tokens+n > o.cfg.MaxBatchTokens) {
			cur.hi = i
			spans = append(spans, cur)
			cur = span{lo: i}
		}
		cur.tokens += n
	}
	cur.hi = len(texts)
	return append(spans, cur)
}

// Embed returns one vector per text, in order (see OpenAI).
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			return nil, &TextError{Index: i, Err: ErrEmptyText}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	spans := o.split(texts)
	if len(spans) == 1 {
		if err := o.embedBatch(ctx, texts, out, spans[0].tokens); err != nil {
			return nil, err
		}
		return out, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	// Twice as many batches under way as requests in flight: the others
	// are being encoded or decoded meanwhile.
	g.SetLimit(2 * o.cfg.Concurrency)
	for _, s := range spans {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return o.embedBatch(gctx, texts[s.lo:s.hi], out[s.lo:s.hi], s.tokens) })
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("embed: openai: %w", ctx.Err())
		}
		return nil, err
	}
	return out, nil
}

// embedBatch embeds texts in one request, retried, into out.
func (o *OpenAI) embedBatch(ctx context.Context, texts []string, out [][]float32, tokens int) error {
	for attempt := 1; ; attempt++ {
		vs, used, err := o.attempt(ctx, texts)
		if err == nil {
			copy(out, vs)
			if used <= 0 {
				used = tokens
			}
			o.metrics.embedded(len(texts), used)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("embed: openai: %w", ctx.Err())
		}
		var pe *ProviderError
		if !errors.As(err, &pe) {
			return err
		}
		retryable := pe.Kind == ErrRateLimited || pe.Kind == ErrUnavailable
		wait := pe.RetryAfter
		switch {
		case !retryable || attempt >= o.cfg.MaxAttempts:
		case wait > o.cfg.MaxRetryAfter:
			pe.Message += fmt.Sprintf(" (the provider asked to wait %v, more than MaxRetryAfter %v)", wait, o.cfg.MaxRetryAfter)
			retryable = false
		default:
			if wait == 0 {
				wait = o.backoff(attempt)
			}
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				pe.Message += fmt.Sprintf(" (the next attempt, in %v, would be past the deadline)", wait.Round(time.Millisecond))
				retryable = false
			}
		}
		retry := retryable && attempt < o.cfg.MaxAttempts
		o.metrics.failed(kindOf(pe), retry)
		if !retry {
			pe.Attempts = attempt
			return pe
		}
		o.logger.Debug("embed: openai: retrying", "err", pe, "attempt", attempt, "dur", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("embed: openai: %w", ctx.Err())
		}
	}
}

// backoff is the full-jitter wait before retry number `attempt`:
// uniform in [0, min(BackoffMax, BackoffBase × 2^(attempt-1))].
func (o *OpenAI) backoff(attempt int) time.Duration {
	ceil := o.cfg.BackoffBase
	for i := 1; i < attempt && ceil < o.cfg.BackoffMax; i++ {
		ceil *= 2 // no overflow: BackoffMax is at most maxBackoff
	}
	return rand.N(min(ceil, o.cfg.BackoffMax) + 1)
}

// attempt makes one request. It returns the vectors by index and the
// tokens the provider reports (0 if none), or a *ProviderError, or ctx's
// error.
func (o *OpenAI) attempt(ctx context.Context, texts []string) ([][]float32, int, error) {
	for {
		floats := o.floats.Load()
		format := openai.EmbeddingEncodingFormatBase64
		if floats {
			format = openai.EmbeddingEncodingFormatFloat
		}
		start := time.Now()
		res, err := o.client.CreateEmbeddings(ctx, openai.EmbeddingRequest{
			Input:          texts,
			Model:          openai.EmbeddingModel(o.cfg.Model),
			Dimensions:     o.cfg.Dimensions,
			EncodingFormat: format,
		})
		dur := time.Since(start)
		o.metrics.request(len(texts))
		if err != nil {
			if o.auto && !floats && refusesBase64(err) {
				if o.floats.CompareAndSwap(false, true) {
					o.logger.Info("embed: openai: the provider does not do base64 vectors; asking for floats", "err", err)
				}
				continue
			}
			err = o.classify(ctx, err)
			o.logger.Debug("embed: openai: request failed", "texts", len(texts), "dur", dur, "err", err)
			return nil, 0, err
		}
		o.logger.Debug("embed: openai: request", "texts", len(texts), "dur", dur)
		vs, err := o.check(res, len(texts))
		if err != nil {
			return nil, 0, err
		}
		return vs, res.Usage.PromptTokens, nil
	}
}

// refusesBase64 tells whether the error of a base64 request shows that the
// server does not do base64: vectors that came as JSON arrays, or a 400 or
// 422 whose message names the encoding.
func refusesBase64(err error) bool {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Value == "array" && strings.HasSuffix(te.Field, "embedding")
	}
	var se *statusError
	if errors.As(err, &se) && (se.code == http.StatusBadRequest || se.code == http.StatusUnprocessableEntity) {
		m := strings.ToLower(se.message)
		return strings.Contains(m, "encoding_format") || strings.Contains(m, "base64")
	}
	return false
}

// classify turns the error of one request into a *ProviderError (or the
// caller's ctx error).
func (o *OpenAI) classify(ctx context.Context, err error) error {
	var se *statusError
	var te *transportError
	var toe *timeoutError
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &toe):
		return &ProviderError{Kind: ErrUnavailable, Message: toe.Error(), label: kindTimeout}
	case errors.As(err, &se):
		return o.statusProviderError(se)
	case errors.As(err, &te):
		return &ProviderError{Kind: ErrUnavailable, Message: "network error: " + te.Error(), Err: te.err, label: kindNetwork}
	default:
		// The body was read whole by the doer: what fails now is decoding
		// it (JSON syntax, a value of the wrong type or out of float32's
		// range, bad base64).
		return &ProviderError{Kind: ErrBadResponse, StatusCode: http.StatusOK, Message: "malformed response: " + redactKey(err.Error(), o.key), Err: err}
	}
}

// statusProviderError describes an error status with what to check.
func (o *OpenAI) statusProviderError(se *statusError) *ProviderError {
	pe := &ProviderError{StatusCode: se.code, RetryAfter: se.retryAfter}
	hint := ""
	switch c := se.code; {
	case c == http.StatusUnauthorized:
		pe.Kind, hint = ErrUnauthorized, "check the API key"
	case c == http.StatusForbidden:
		pe.Kind, hint = ErrUnauthorized, "the API key has no access to this model or resource"
	case c == http.StatusNotFound:
		pe.Kind, hint = ErrModelNotFound, fmt.Sprintf("model %q unknown at %s (or a wrong base URL)", o.cfg.Model, redactURL(o.cfg.BaseURL))
	case c == http.StatusTooManyRequests:
		pe.Kind, hint = ErrRateLimited, "rate limited"
	case c == http.StatusRequestTimeout || c == http.StatusConflict || c >= 500:
		pe.Kind = ErrUnavailable
	case c == http.StatusRequestEntityTooLarge:
		pe.Kind, hint = ErrBadRequest, "request too large: lower MaxBatch or MaxBatchTokens"
	default:
		pe.Kind = ErrBadRequest
	}
	pe.Message = fmt.Sprintf("%d %s", se.code, strings.ToLower(http.StatusText(se.code)))
	if hint != "" {
		pe.Message += ": " + hint
	}
	if se.message != "" {
		pe.Message += ": " + se.message
	}
	return pe
}

// kindOf is the metrics label of a provider error.
func kindOf(pe *ProviderError) string {
	if pe.label != "" {
		return pe.label
	}
	switch pe.Kind {
	case ErrUnauthorized:
		return kindUnauthorized
	case ErrModelNotFound:
		return kindModelNotFound
	case ErrBadRequest:
		return kindBadRequest
	case ErrRateLimited:
		return kindRateLimited
	case ErrBadResponse:
		return kindBadResponse
	}
	return kindServerError
}

// check validates a response and orders its vectors by index.
func (o *OpenAI) check(res openai.EmbeddingResponse, n int) ([][]float32, error) {
	bad := func(format string, args ...any) error {
		return &ProviderError{Kind: ErrBadResponse, StatusCode: http.StatusOK, Message: fmt.Sprintf(format, args...)}
	}
	if len(res.Data) != n {
		return nil, bad("%d vectors for %d texts", len(res.Data), n)
	}
	want := int(o.dim.Load())
	source := "the configured dimensions"
	if o.cfg.Dimensions == 0 {
		source = "earlier responses"
	}
	out := make([][]float32, n)
	for _, d := range res.Data {
		v := d.Embedding
		switch {
		case d.Index < 0 || d.Index >= n:
			return nil, bad("vector index %d out of range [0, %d)", d.Index, n)
		case out[d.Index] != nil:
			return nil, bad("vector index %d appears twice", d.Index)
		case len(v) == 0:
			return nil, bad("vector %d is empty", d.Index)
		}
		if want == 0 {
			want, source = len(v), "the other vectors of the response"
		}
		if len(v) != want {
			return nil, bad("vector %d has dimension %d, want %d as in %s", d.Index, len(v), want, source)
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, bad("vector %d has a non-finite value (%v)", d.Index, x)
			}
		}
		out[d.Index] = v
	}
	if !o.dim.CompareAndSwap(0, int64(want)) {
		if got := int(o.dim.Load()); got != want {
			// Another response, concurrent with this one, set another one.
			return nil, bad("dimension %d, but an earlier response had %d", want, got)
		}
	}
	return out, nil
}

// redactURL drops the user information of a URL (a password there would
// be a credential).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

// redactKey removes every occurrence of key from s.
func redactKey(s, key string) string {
	if len(key) < 4 {
		return s
	}
	return strings.ReplaceAll(s, key, redacted)
}
