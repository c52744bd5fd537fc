package rag

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ragd/ragd/embed"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Config.
const (
	DefaultK                = 8
	DefaultMaxContextTokens = 4000
	DefaultMaxTokens        = 1024
	DefaultTimeout          = 2 * time.Minute
	DefaultFirstByteTimeout = 2 * time.Minute
	DefaultIdleTimeout      = 30 * time.Second
	DefaultMaxAttempts      = 3
	DefaultBackoffBase      = 500 * time.Millisecond
	DefaultBackoffMax       = 10 * time.Second
	DefaultMaxRetryAfter    = 10 * time.Second
)

// Limits on a Config and a Request.
const (
	// MaxQuestionBytes bounds Request.Question.
	MaxQuestionBytes = 32 << 10
	// MaxSystemPromptBytes bounds Config.SystemPrompt and
	// Request.SystemPrompt.
	MaxSystemPromptBytes = 32 << 10
	// MaxContextTokensLimit bounds Config.MaxContextTokens and
	// Request.MaxContextTokens (the largest context windows are 1M tokens).
	MaxContextTokensLimit = 1 << 20
	// MaxTokensLimit bounds Config.MaxTokens and Request.MaxTokens.
	MaxTokensLimit = 1 << 20
	// MaxKLimit bounds Config.K; the index bounds Request.Search.K by its
	// own MaxK.
	MaxKLimit = 1000

	maxAttemptsLimit = 100
	maxBackoff       = time.Hour
)

// Config configures New. The zero value is valid: no LLM is configured,
// and Ask returns the retrieved passages with a Note.
type Config struct {
	// BaseURL is the root of an OpenAI-compatible chat API, the part
	// before "/chat/completions": https://api.openai.com/v1, Ollama's
	// http://localhost:11434/v1, vLLM's or LocalAI's http://HOST:PORT/v1.
	// Empty (default): no LLM; Ask returns the passages and NoteNoLLM.
	BaseURL string
	// Model is the model asked when a Request names none. Required with
	// BaseURL: no default fits every server.
	Model string
	// Models lists the other models a Request may name; Model is always
	// allowed. Empty (default): only Model. A request naming another
	// model fails with ErrInvalidArgument listing the allowed ones, so
	// that clients cannot run up the bill on an expensive model.
	Models []string
	// APIKey is sent as "Authorization: Bearer KEY" to BaseURL and to
	// nothing else: redirects are not followed. Empty (default): no
	// header, for local servers. The server reads it from
	// RAGD_LLM_API_KEY; it is never logged and is removed from the
	// endpoint's error messages.
	APIKey embed.Secret
	// Tokenizer counts the prompt's tokens: TokenizerO200k,
	// TokenizerCL100k or TokenizerEstimate. Default "": chosen by the
	// model's name (see TokenizerO200k and the others); set it when a
	// deployment name hides the model (Azure, a proxy alias).
	Tokenizer string

	// K is the number of passages retrieved when Request.Search.K is 0.
	// Default 8: enough to cover a question that spans sections, few
	// enough that each still fits a 4,000-token context at 500 tokens.
	K int
	// MaxContextTokens is the default budget of the whole prompt —
	// instructions, passages and question — when Request.MaxContextTokens
	// is 0. Default 4,000: small enough for 8k-context local models with
	// room for the answer, and cheap on paid APIs; raise it for models
	// with large windows.
	MaxContextTokens int
	// MaxTokens bounds the answer when Request.MaxTokens is 0 (sent as
	// max_tokens, or max_completion_tokens to the o-series and gpt-5).
	// Default 1,024.
	MaxTokens int
	// SystemPrompt replaces the default instructions ("Answer the question
	// using only the numbered sources…") when Request.SystemPrompt is
	// empty. The rules on quoting and citing sources are always added.
	SystemPrompt string

	// Timeout bounds one non-streaming request, the answer included.
	// Default 2 minutes: a long answer of a local model on a CPU takes
	// that long.
	Timeout time.Duration
	// FirstByteTimeout bounds, when streaming, the wait from sending the
	// request to the first chunk of the answer; IdleTimeout the wait
	// between chunks. A stream is not bounded in total: a long answer that
	// keeps coming is fine, a stalled one is not. Defaults 2 minutes
	// (reasoning models think before their first token, Ollama loads a
	// model) and 30 seconds.
	FirstByteTimeout, IdleTimeout time.Duration
	// MaxAttempts is the most requests made for one answer: the first and
	// its retries. Retried: 429, 408, 409, 5xx, network errors and
	// timeouts, but never once answer text has been relayed to onDelta.
	// Default 3. 1 disables retries.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the wait before a retry: uniform in
	// [0, min(BackoffMax, BackoffBase × 2^(retry-1))] ("full jitter"). A
	// Retry-After or retry-after-ms in the answer replaces it. Defaults
	// 500 ms and 10 s.
	BackoffBase, BackoffMax time.Duration
	// MaxRetryAfter is the longest Retry-After waited for: an endpoint
	// asking for more fails the call at once with ErrRateLimited (or
	// ErrUpstream for a 503) carrying the wait, for the client to come
	// back later rather than hold a connection. Default 10 seconds, an
	// interactive request's patience.
	MaxRetryAfter time.Duration

	// HTTPClient sends the requests; its CheckRedirect is replaced so
	// that no redirect is followed. Default: a client of its own, whose
	// idle connections Close releases. Timeouts come from this Config:
	// leave the client's Timeout 0, or it cuts long streams.
	HTTPClient *http.Client
	// Logger receives Debug records per request (retries, dropped
	// citations). Default: discard. Neither the key nor passages nor
	// answers are logged.
	Logger *slog.Logger
	// Metrics, if set, counts asks, tokens, retries and upstream latency;
	// register it once with the server's registry.
	Metrics *Metrics
	// Tracer, if set, makes a span of each stage of an ask. Default nil:
	// no spans.
	Tracer trace.Tracer
	// Now is the clock for Retry-After dates. Default time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.K == 0 {
		c.K = DefaultK
	}
	if c.MaxContextTokens == 0 {
		c.MaxContextTokens = DefaultMaxContextTokens
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = DefaultMaxTokens
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.FirstByteTimeout == 0 {
		c.FirstByteTimeout = DefaultFirstByteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffBase)
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
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
// zero ones.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return bad("llm base URL %q is not an http(s) URL", redactURL(c.BaseURL))
		case u.RawQuery != "" || u.Fragment != "":
			return bad("llm base URL %q has a query or fragment", redactURL(c.BaseURL))
		case u.User != nil:
			return bad("llm base URL %q carries credentials: give the key as the API key", redactURL(c.BaseURL))
		case strings.TrimSpace(c.Model) == "":
			return bad("an llm model is required with the llm base URL")
		}
	}
	for i, m := range c.Models {
		if strings.TrimSpace(m) == "" {
			return bad("models[%d] is empty", i)
		}
	}
	if c.Tokenizer != "" && c.Tokenizer != TokenizerO200k && c.Tokenizer != TokenizerCL100k && c.Tokenizer != TokenizerEstimate {
		return bad("tokenizer %q (want %s, %s or %s)", c.Tokenizer, TokenizerO200k, TokenizerCL100k, TokenizerEstimate)
	}
	switch {
	case c.K < 1 || c.K > MaxKLimit:
		return bad("k %d out of range [1, %d]", c.K, MaxKLimit)
	case c.MaxContextTokens < 1 || c.MaxContextTokens > MaxContextTokensLimit:
		return bad("max context tokens %d out of range [1, %d]", c.MaxContextTokens, MaxContextTokensLimit)
	case c.MaxTokens < 1 || c.MaxTokens > MaxTokensLimit:
		return bad("max tokens %d out of range [1, %d]", c.MaxTokens, MaxTokensLimit)
	case len(c.SystemPrompt) > MaxSystemPromptBytes:
		return bad("system prompt of %d bytes exceeds %d", len(c.SystemPrompt), MaxSystemPromptBytes)
	case c.Timeout < 0 || c.FirstByteTimeout < 0 || c.IdleTimeout < 0:
		return bad("timeouts must not be negative (timeout %v, first byte %v, idle %v)", c.Timeout, c.FirstByteTimeout, c.IdleTimeout)
	case c.MaxAttempts < 1 || c.MaxAttempts > maxAttemptsLimit:
		return bad("max attempts %d out of range [1, %d]", c.MaxAttempts, maxAttemptsLimit)
	case c.BackoffBase < 0 || c.BackoffMax < c.BackoffBase || c.BackoffMax > maxBackoff:
		return bad("backoff base %v and max %v: want 0 <= base <= max <= %v", c.BackoffBase, c.BackoffMax, maxBackoff)
	case c.MaxRetryAfter < 0:
		return bad("max retry-after %v is negative", c.MaxRetryAfter)
	}
	return nil
}

// allowed returns the models a request may name: Model first, then the
// others of Models, without repeats.
func (c Config) allowed() []string {
	if c.Model == "" {
		return nil
	}
	out := []string{c.Model}
	for _, m := range c.Models {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// LogValue implements slog.LogValuer: the settings worth logging, with the
// key redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", redactURL(c.BaseURL)),
		slog.String("model", c.Model),
		slog.Any("models", c.Models),
		slog.Any("api_key", c.APIKey),
		slog.String("tokenizer", c.Tokenizer),
		slog.Int("k", c.K),
		slog.Int("max_context_tokens", c.MaxContextTokens),
		slog.Int("max_tokens", c.MaxTokens),
		slog.Duration("timeout", c.Timeout),
		slog.Duration("first_byte_timeout", c.FirstByteTimeout),
		slog.Duration("idle_timeout", c.IdleTimeout),
		slog.Int("max_attempts", c.MaxAttempts),
	)
}

// String summarises the config for people, the key redacted.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("rag.Config{")
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
func (c Config) GoString() string { return c.String() }

// redactURL drops the user information of a URL.
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
	return strings.ReplaceAll(s, key, "[redacted]")
}
