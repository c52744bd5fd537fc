package rag

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/ragd/ragd/embed"
)

const (
	// maxAnswerBytes bounds the body read from the endpoint, stream or not.
	maxAnswerBytes = 64 << 20
	// maxErrorBody bounds the body of an error answer read for its message.
	maxErrorBody = 64 << 10
	// emptyMessagesLimit is how many non-data lines (SSE comments, keep-
	// alives) go-openai takes between two chunks; its default of 300 is
	// reached by a server pinging through a long reasoning.
	emptyMessagesLimit = 100_000
)

// newClient returns the go-openai client of cfg and, when it made its own
// HTTP transport, that transport.
func newClient(cfg Config) (*openai.Client, *http.Transport) {
	var own *http.Transport
	hc := cfg.HTTPClient
	if hc == nil {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			own = t.Clone()
		} else {
			own = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
		}
		own.MaxIdleConnsPerHost = 16
		hc = &http.Client{Transport: own}
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base, _ := url.Parse(strings.TrimRight(cfg.BaseURL, "/")) // validated
	cc := openai.DefaultConfig("")                            // the doer sets the key
	cc.BaseURL = base.String()
	cc.EmptyMessagesLimit = emptyMessagesLimit
	cc.HTTPClient = &doer{client: &c, base: base, key: cfg.APIKey.Reveal(), now: cfg.Now}
	return openai.NewClientWithConfig(cc), own
}

// doer is the HTTP client handed to go-openai. It adds the key to requests
// for BaseURL (and to no other), follows no redirect, turns an error
// status into a *statusError carrying the endpoint's message (key removed)
// and its Retry-After, which go-openai would drop, wraps network failures
// in a *transportError, and bounds the body of an answer. go-openai returns
// its errors unchanged.
type doer struct {
	client *http.Client
	base   *url.URL
	key    string
	now    func() time.Time
}

// statusError is an answer with a status other than 2xx.
type statusError struct {
	code       int
	message    string // the endpoint's message, cleaned up and key-free
	retryAfter time.Duration
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %s", e.code, e.message) }

// transportError is a request that got no answer.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func (d *doer) Do(req *http.Request) (*http.Response, error) {
	req.Header.Del("Authorization")
	if d.key != "" && d.toBase(req.URL) {
		req.Header.Set("Authorization", "Bearer "+d.key)
	}
	req.Header.Set("User-Agent", "ragd")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, &transportError{err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		se := &statusError{code: resp.StatusCode, message: redactKey(embed.ProviderMessage(body), d.key), retryAfter: embed.RetryAfter(resp.Header, d.now())}
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			se.message = "redirect to " + redactURL(loc) + " not followed: fix the llm base URL"
		}
		return nil, se
	}
	if req.Header.Get("Accept") == "text/event-stream" {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, maxAnswerBytes), resp.Body}
		return resp, nil
	}
	// A whole answer is read here, so that a connection broken mid-body is
	// a *transportError and not a JSON error of go-openai's decoder.
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, &transportError{fmt.Errorf("reading the answer: %w", err)}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// toBase tells whether u is under the base URL.
func (d *doer) toBase(u *url.URL) bool {
	return u.Scheme == d.base.Scheme && u.Host == d.base.Host && strings.HasPrefix(u.Path, d.base.Path)
}

// reasoningModel tells the models that take max_completion_tokens and not
// max_tokens, nor a temperature but 1: the o-series and gpt-5 and later,
// by the same rule as go-openai's request validator.
func reasoningModel(model string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5", "gpt-6"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return false
}

// chatRequest is the request of a prompt.
func (e *Engine) chatRequest(p *Prompt) openai.ChatCompletionRequest {
	r := openai.ChatCompletionRequest{Model: p.Model, Stream: p.Stream}
	for _, m := range p.Messages {
		r.Messages = append(r.Messages, openai.ChatCompletionMessage{Role: m.Role, Content: m.Content})
	}
	if reasoningModel(p.Model) {
		r.MaxCompletionTokens = p.MaxTokens
	} else {
		r.MaxTokens = p.MaxTokens
	}
	if t := p.Temperature; t != nil && !reasoningModel(p.Model) {
		// go-openai omits a zero temperature (omitempty); the smallest
		// positive float32 is 0 to every sampler.
		r.Temperature = max(float32(*t), math.SmallestNonzeroFloat32)
	}
	if p.Stream && !e.noStreamOptions.Load() {
		r.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	return r
}

// generation is what one attempt got.
type generation struct {
	answer  strings.Builder
	usage   *openai.Usage
	model   string
	finish  string
	relayed bool // answer text went to onDelta
}

// generate asks the endpoint, retrying as Config says.
func (e *Engine) generate(ctx context.Context, p *Prompt, onDelta func(string) error) (*generation, error) {
	creq := e.chatRequest(p)
	for attempt := 1; ; attempt++ {
		g := &generation{}
		start := time.Now()
		var err error
		if p.Stream {
			err = e.stream(ctx, creq, onDelta, g)
		} else {
			err = e.complete(ctx, creq, g)
		}
		e.metrics.attempt(time.Since(start))
		if err == nil {
			return g, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rag: generate: %w", ctx.Err())
		}
		var ue *UpstreamError
		if !errors.As(err, &ue) {
			return nil, err
		}
		if creq.StreamOptions != nil && refusesStreamOptions(ue) {
			// Servers that predate stream_options refuse it: ask again
			// without it, from now on, and count the usage ourselves.
			if e.noStreamOptions.CompareAndSwap(false, true) {
				e.logger.Info("rag: the llm endpoint refuses stream_options; usage will be estimated", "err", ue)
			}
			creq.StreamOptions = nil
			attempt--
			continue
		}
		ue.Relayed = g.relayed
		retryable := ue.retry && !g.relayed
		wait := ue.RetryAfter
		switch {
		case !retryable || attempt >= e.cfg.MaxAttempts:
		case wait > e.cfg.MaxRetryAfter:
			ue.Message += fmt.Sprintf(" (the endpoint asked to wait %v, more than the %v allowed)", wait, e.cfg.MaxRetryAfter)
			retryable = false
		default:
			if wait == 0 {
				wait = e.backoff(attempt)
			}
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				ue.Message += fmt.Sprintf(" (the next attempt, in %v, would be past the deadline)", wait.Round(time.Millisecond))
				retryable = false
			}
		}
		retry := retryable && attempt < e.cfg.MaxAttempts
		e.metrics.failed(ue.label, retry)
		if !retry {
			ue.Attempts = attempt
			return nil, ue
		}
		e.logger.Debug("rag: retrying the llm endpoint", "err", ue, "attempt", attempt, "dur", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("rag: generate: %w", ctx.Err())
		}
	}
}

// backoff is the full-jitter wait before retry number attempt.
func (e *Engine) backoff(attempt int) time.Duration {
	ceil := e.cfg.BackoffBase
	for i := 1; i < attempt && ceil < e.cfg.BackoffMax; i++ {
		ceil *= 2
	}
	return rand.N(min(ceil, e.cfg.BackoffMax) + 1)
}

// complete makes one non-streaming request, bounded by Timeout.
func (e *Engine) complete(ctx context.Context, creq openai.ChatCompletionRequest, g *generation) error {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timedOut atomic.Bool
	t := time.AfterFunc(e.cfg.Timeout, func() { timedOut.Store(true); cancel() })
	defer t.Stop()
	res, err := e.client.CreateChatCompletion(actx, creq)
	if err != nil {
		return e.classify(ctx, err, timedOut.Load(), fmt.Sprintf("no complete answer within %v", e.cfg.Timeout), false)
	}
	if len(res.Choices) == 0 {
		return &UpstreamError{Kind: ErrUpstream, StatusCode: http.StatusOK, Message: "malformed answer: no choices", label: kindBadResponse}
	}
	g.answer.WriteString(res.Choices[0].Message.Content)
	g.finish = string(res.Choices[0].FinishReason)
	g.model = res.Model
	if res.Usage.PromptTokens > 0 || res.Usage.CompletionTokens > 0 {
		u := res.Usage
		g.usage = &u
	}
	return nil
}

// stream makes one streaming request, relaying the answer's text to
// onDelta. FirstByteTimeout bounds the wait for the first chunk,
// IdleTimeout each wait for the next; time spent in onDelta counts in
// neither.
func (e *Engine) stream(ctx context.Context, creq openai.ChatCompletionRequest, onDelta func(string) error, g *generation) error {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timedOut atomic.Bool
	timer := time.AfterFunc(e.cfg.FirstByteTimeout, func() { timedOut.Store(true); cancel() })
	defer timer.Stop()
	why := fmt.Sprintf("no answer within %v", e.cfg.FirstByteTimeout)
	start := time.Now()
	s, err := e.client.CreateChatCompletionStream(actx, creq)
	if err != nil {
		return e.classify(ctx, err, timedOut.Load(), why, true)
	}
	// Closing the body ends the connection, which tells the endpoint to
	// stop generating.
	defer s.Close()
	first := true
	for {
		chunk, err := s.Recv()
		timer.Stop()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return e.classify(ctx, err, timedOut.Load(), why, true)
		}
		if chunk.Usage != nil {
			u := *chunk.Usage
			g.usage = &u
		}
		if chunk.Model != "" {
			g.model = chunk.Model
		}
		for _, c := range chunk.Choices {
			if c.Index != 0 {
				continue
			}
			if c.FinishReason != "" {
				g.finish = string(c.FinishReason)
			}
			d := c.Delta.Content
			if d == "" {
				continue
			}
			if first {
				e.metrics.firstText(time.Since(start))
				first = false
			}
			g.answer.WriteString(d)
			if onDelta != nil {
				if err := onDelta(d); err != nil {
					cancel()
					return &relayError{err}
				}
				g.relayed = true
			}
		}
		timer.Reset(e.cfg.IdleTimeout)
		why = fmt.Sprintf("the answer stalled for %v", e.cfg.IdleTimeout)
	}
}

// Request-side errors of go-openai's validation of reasoning models.
var requestErrors = []error{openai.ErrReasoningModelMaxTokensDeprecated, openai.ErrReasoningModelLimitationsLogprobs,
	openai.ErrReasoningModelLimitationsOther, openai.ErrReasoningSamplingUnsupported, openai.ErrReasoningEffortUnsupported,
	openai.ErrReasoningToolsRequireResponses, openai.ErrChatCompletionInvalidModel}

// classify turns the error of one attempt into an *UpstreamError, the
// caller's ctx error, or an ErrInvalidArgument. why explains a timeout;
// stream tells whether the body was being read as a stream (whose read
// errors are network errors; a whole body was read by the doer, so what
// fails after it is decoding).
func (e *Engine) classify(ctx context.Context, err error, timedOut bool, why string, stream bool) error {
	var se *statusError
	var te *transportError
	var ae *openai.APIError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case timedOut:
		return &UpstreamError{Kind: ErrUpstreamTimeout, Message: why, retry: true, label: kindTimeout}
	case errors.As(err, &se):
		return statusUpstreamError(se)
	case errors.As(err, &te):
		return &UpstreamError{Kind: ErrUpstream, Message: "network error: " + te.Error(), Err: te.err, retry: true, label: kindNetwork}
	case errors.As(err, &ae):
		// An error event in the stream: the endpoint failed mid-answer.
		return &UpstreamError{Kind: ErrUpstream, StatusCode: ae.HTTPStatusCode, Message: "error in the answer stream: " + redactKey(embed.OneLine(ae.Message), e.key),
			retry: true, label: kindBadResponse}
	case errors.As(err, &syn), errors.As(err, &typ), errors.Is(err, openai.ErrTooManyEmptyStreamMessages):
		return &UpstreamError{Kind: ErrUpstream, StatusCode: http.StatusOK, Message: "malformed answer: " + redactKey(err.Error(), e.key), Err: err, label: kindBadResponse}
	}
	for _, re := range requestErrors {
		if errors.Is(err, re) {
			return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
		}
	}
	if !stream {
		return &UpstreamError{Kind: ErrUpstream, StatusCode: http.StatusOK, Message: "malformed answer: " + redactKey(err.Error(), e.key), Err: err, label: kindBadResponse}
	}
	// A failure reading the stream: the connection broke mid-answer.
	return &UpstreamError{Kind: ErrUpstream, Message: "network error: " + err.Error(), Err: err, retry: true, label: kindNetwork}
}

// statusUpstreamError describes an error status with what to check.
func statusUpstreamError(se *statusError) *UpstreamError {
	ue := &UpstreamError{Kind: ErrUpstream, StatusCode: se.code, RetryAfter: se.retryAfter, label: kindStatus}
	hint := ""
	switch c := se.code; {
	case c == http.StatusUnauthorized:
		hint = "check the llm API key"
	case c == http.StatusForbidden:
		hint = "the llm API key has no access to this model"
	case c == http.StatusNotFound:
		hint = "unknown model, or a wrong llm base URL"
	case c == http.StatusTooManyRequests:
		ue.Kind, ue.retry, ue.label = ErrRateLimited, true, kindRateLimited
	case c == http.StatusRequestTimeout || c == http.StatusConflict || c >= 500:
		ue.retry, ue.label = true, kindServerError
	}
	ue.Message = fmt.Sprintf("%d %s", se.code, strings.ToLower(http.StatusText(se.code)))
	if hint != "" {
		ue.Message += ": " + hint
	}
	if se.message != "" {
		ue.Message += ": " + se.message
	}
	return ue
}

// refusesStreamOptions tells whether an error is a server refusing the
// stream_options field.
func refusesStreamOptions(ue *UpstreamError) bool {
	if ue.StatusCode != http.StatusBadRequest && ue.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	m := strings.ToLower(ue.Message)
	return strings.Contains(m, "stream_options") || strings.Contains(m, "include_usage")
}
