package rag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ragd/ragd/index"
	openai "github.com/sashabaranov/go-openai"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Searcher retrieves the passages of a question. *index.Collection
// satisfies it.
type Searcher interface {
	Search(ctx context.Context, req index.SearchRequest) (*index.SearchResponse, error)
}

var _ Searcher = (*index.Collection)(nil)

// Notes, the values of Response.Note.
const (
	// NoteNoLLM: no LLM is configured (Config.BaseURL is empty); the
	// passages are returned without an answer.
	NoteNoLLM = "no LLM configured: start ragd with --llm-base-url and --llm-model (key in RAGD_LLM_API_KEY) to get answers; the passages are returned"
	// NoteNoPassages: the search found nothing to quote, so the LLM was
	// not asked: it could only have answered from its own knowledge.
	NoteNoPassages = "no passages matched the question, so the LLM was not asked: check the collection, the search mode and the filter"
)

// Request is one question.
type Request struct {
	// Question is what to answer; required, at most MaxQuestionBytes.
	Question string
	// Search retrieves the passages. The caller validates it and fills in
	// Vector (rag embeds nothing); when it has neither Vector nor Text, the
	// question is its Text (a keyword search). K 0 means Config.K.
	Search index.SearchRequest
	// MaxContextTokens bounds the whole prompt; 0 means
	// Config.MaxContextTokens.
	MaxContextTokens int
	// Model is the model to ask; "" means Config.Model. It must be
	// Config.Model or one of Config.Models.
	Model string
	// Temperature, in [0, 2], is sent when set; nil leaves the endpoint's
	// default. The o-series and gpt-5 take only 1.
	Temperature *float64
	// MaxTokens bounds the answer; 0 means Config.MaxTokens.
	MaxTokens int
	// SystemPrompt, when set, replaces the instructions of the system
	// prompt (Config.SystemPrompt or DefaultInstructions); the rules on
	// quoting and citing sources stay.
	SystemPrompt string
	// Stream asks the endpoint to stream the answer, which Ask relays to
	// onDelta as it comes. Without it Ask waits for the whole answer and
	// gives it to onDelta once.
	Stream bool
}

// Message is one chat message of a prompt.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Stats says what became of the retrieved passages.
type Stats struct {
	// Retrieved is the number of hits the search returned.
	Retrieved int `json:"retrieved"`
	// Duplicates were dropped as near-duplicates of better ones.
	Duplicates int `json:"duplicates"`
	// Merged were chunks joined to an adjacent chunk of their source.
	Merged int `json:"merged"`
	// OverBudget were left out for want of room in MaxContextTokens.
	OverBudget int `json:"over_budget"`
	// Truncated tells that the only passage given was cut to fit.
	Truncated bool `json:"truncated,omitempty"`
	// PromptTokens is the prompt's size as Tokenizer counts it, the chat
	// framing included.
	PromptTokens int `json:"prompt_tokens"`
	// Tokenizer is the one that counted: TokenizerO200k, TokenizerCL100k
	// or TokenizerEstimate.
	Tokenizer string `json:"tokenizer"`
}

// Prompt is a question made ready for the model by Prepare: the passages
// chosen and numbered, the messages written within the budget.
type Prompt struct {
	// Model is the model to ask; "" when no LLM is configured.
	Model string
	// Messages are the system and user messages.
	Messages []Message
	// Passages are the sources of the prompt, numbered from 1, best first.
	Passages []Passage
	// MaxTokens, Temperature and Stream come from the Request (with
	// defaults).
	MaxTokens   int
	Temperature *float64
	Stream      bool
	// Stats says how the passages were chosen.
	Stats Stats
}

// Usage is the tokens of one answer.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	// Estimated tells that the endpoint reported no usage (some do not
	// when streaming), so both are ragd's count with the prompt's
	// tokenizer — an estimate for models outside the OpenAI families.
	Estimated bool `json:"estimated,omitempty"`
}

// Response is the answer to a Request.
type Response struct {
	// Answer is the model's text; "" with a Note.
	Answer string `json:"answer"`
	// Citations are the passages the answer cites, in order of first
	// citation, each once; markers that name no passage are dropped.
	Citations []Citation `json:"citations"`
	// Passages are all the passages given to the model, [N] being
	// Passages[N-1].
	Passages []Passage `json:"passages"`
	Usage    Usage     `json:"usage"`
	// Model is the model that answered, as the endpoint names it.
	Model string `json:"model,omitempty"`
	// FinishReason is the endpoint's: "stop", or "length" for an answer
	// cut at MaxTokens.
	FinishReason string `json:"finish_reason,omitempty"`
	// Note explains an empty answer: NoteNoLLM or NoteNoPassages.
	Note  string `json:"note,omitempty"`
	Stats Stats  `json:"stats"`
}

// Engine answers questions from retrieved passages. It is safe for
// concurrent use; Close releases its idle connections.
type Engine struct {
	cfg     Config
	key     string // the API key, to remove from messages; never logged
	allowed []string
	client  *openai.Client  // nil when no LLM is configured
	own     *http.Transport // the default client's transport, nil if HTTPClient was given
	logger  *slog.Logger
	metrics *Metrics
	tracer  trace.Tracer
	// noStreamOptions is set once the endpoint refused stream_options.
	noStreamOptions atomic.Bool
	// system is the configured system message; systemTokens its count by
	// tokenizer name.
	system       string
	systemTokens sync.Map
}

// New returns an Engine. It makes no request.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	e := &Engine{cfg: cfg, key: cfg.APIKey.Reveal(), allowed: cfg.allowed(), logger: cfg.Logger, metrics: cfg.Metrics, tracer: cfg.Tracer,
		system: systemMessage(cfg.SystemPrompt)}
	if e.tracer == nil {
		e.tracer = noop.NewTracerProvider().Tracer("")
	}
	// Load the tokenizers now rather than in the first request.
	for _, m := range append([]string{cfg.Model}, cfg.Models...) {
		if _, err := newTokenizer(tokenizerName(cfg.Tokenizer, m)); err != nil {
			return nil, err
		}
	}
	if cfg.BaseURL != "" {
		e.client, e.own = newClient(cfg)
	}
	e.cfg.APIKey = "" // the key lives in the client only
	return e, nil
}

// K is the number of passages retrieved when a request gives none.
func (e *Engine) K() int { return e.cfg.K }

// Close releases the idle connections of the default HTTP client. The
// engine stays usable.
func (e *Engine) Close() error {
	if e.own != nil {
		e.own.CloseIdleConnections()
	}
	return nil
}

// Ask answers a question: Prepare, then Generate. With req.Stream, each
// piece of the answer goes to onDelta as it arrives (nil: none); when
// onDelta returns an error the request to the endpoint is cancelled and
// Ask returns an error wrapping it. Without an LLM configured, or when the
// search finds nothing, it returns the passages (maybe none) with a Note
// and no error.
func (e *Engine) Ask(ctx context.Context, s Searcher, req Request, onDelta func(text string) error) (*Response, error) {
	ctx, span := e.tracer.Start(ctx, "rag.Ask")
	defer span.End()
	p, err := e.Prepare(ctx, s, req)
	if err != nil {
		spanError(span, err)
		return nil, err
	}
	res, err := e.Generate(ctx, p, onDelta)
	if err != nil {
		spanError(span, err)
	}
	return res, err
}

// Prepare validates req, retrieves its passages through s, drops
// near-duplicates, merges adjacent chunks, and quotes the best of them in a
// prompt within the token budget. A server that streams can send
// Prompt.Passages to its client before Generate's answer.
func (e *Engine) Prepare(ctx context.Context, s Searcher, req Request) (*Prompt, error) {
	ctx, span := e.tracer.Start(ctx, "rag.Prepare")
	defer span.End()
	p, outcome, err := e.prepare(ctx, s, req)
	if err != nil {
		e.metrics.outcome(outcome)
		spanError(span, err)
		return nil, err
	}
	span.SetAttributes(attribute.Int("rag.passages", len(p.Passages)), attribute.Int("rag.prompt_tokens", p.Stats.PromptTokens))
	e.metrics.prompt(len(p.Passages), p.Stats.PromptTokens)
	return p, nil
}

func (e *Engine) prepare(ctx context.Context, s Searcher, req Request) (*Prompt, string, error) {
	req, err := e.check(req)
	if err != nil {
		return nil, OutcomeInvalidArgument, err
	}
	tok, err := newTokenizer(tokenizerName(e.cfg.Tokenizer, req.Model))
	if err != nil {
		return nil, OutcomeInvalidArgument, err
	}

	sctx, span := e.tracer.Start(ctx, "rag.retrieve")
	res, err := s.Search(sctx, req.Search)
	if err != nil {
		spanError(span, err)
		span.End()
		if ctx.Err() != nil {
			return nil, OutcomeCanceled, fmt.Errorf("rag: search: %w", ctx.Err())
		}
		if errors.Is(err, index.ErrInvalidArgument) {
			return nil, OutcomeInvalidArgument, fmt.Errorf("rag: search: %w", err)
		}
		return nil, OutcomeSearchError, fmt.Errorf("rag: search: %w", err)
	}
	var hits []index.Hit
	if res != nil {
		hits = res.Hits
	}
	span.SetAttributes(attribute.Int("rag.hits", len(hits)))
	span.End()
	st := Stats{Retrieved: len(hits), Tokenizer: tok.Name()}

	_, span = e.tracer.Start(ctx, "rag.dedupe")
	ps := fromHits(hits)
	byScore(ps)
	ps, st.Duplicates = dedupe(ps)
	span.SetAttributes(attribute.Int("rag.duplicates", st.Duplicates))
	span.End()

	_, span = e.tracer.Start(ctx, "rag.merge")
	ps, st.Merged = mergeAdjacent(ps)
	byScore(ps)
	span.SetAttributes(attribute.Int("rag.merged", st.Merged))
	span.End()

	_, span = e.tracer.Start(ctx, "rag.assemble")
	system := systemMessage(req.SystemPrompt)
	a, err := assemble(tok, system, e.countSystem(tok, system), req.Question, ps, req.MaxContextTokens)
	if err != nil {
		spanError(span, err)
		span.End()
		return nil, OutcomeInvalidArgument, err
	}
	st.OverBudget, st.Truncated, st.PromptTokens = a.overBudget, a.truncated, a.tokens
	span.SetAttributes(attribute.String("rag.tokenizer", tok.Name()), attribute.Int("rag.prompt_tokens", a.tokens),
		attribute.Int("rag.over_budget", a.overBudget))
	span.End()

	return &Prompt{
		Model:       req.Model,
		Messages:    []Message{{Role: "system", Content: a.system}, {Role: "user", Content: a.user}},
		Passages:    a.passages,
		MaxTokens:   req.MaxTokens,
		Temperature: req.Temperature,
		Stream:      req.Stream,
		Stats:       st,
	}, "", nil
}

// countSystem counts the tokens of a system message, remembering the
// count of the configured one for each tokenizer.
func (e *Engine) countSystem(tok tokenizer, system string) int {
	if system != e.system {
		return tok.Count(system)
	}
	if n, ok := e.systemTokens.Load(tok.Name()); ok {
		return n.(int)
	}
	n := tok.Count(system)
	e.systemTokens.Store(tok.Name(), n)
	return n
}

// check validates a request and fills in its defaults.
func (e *Engine) check(req Request) (Request, error) {
	bad := func(format string, args ...any) (Request, error) {
		return req, fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
	}
	req.Question = strings.TrimSpace(req.Question)
	switch {
	case req.Question == "":
		return bad("question is empty")
	case len(req.Question) > MaxQuestionBytes:
		return bad("question of %d bytes exceeds %d", len(req.Question), MaxQuestionBytes)
	case !utf8.ValidString(req.Question):
		return bad("question is not valid UTF-8")
	case len(req.SystemPrompt) > MaxSystemPromptBytes:
		return bad("system_prompt of %d bytes exceeds %d", len(req.SystemPrompt), MaxSystemPromptBytes)
	case !utf8.ValidString(req.SystemPrompt):
		return bad("system_prompt is not valid UTF-8")
	case req.MaxContextTokens < 0 || req.MaxContextTokens > MaxContextTokensLimit:
		return bad("max_context_tokens %d out of range [0, %d]", req.MaxContextTokens, MaxContextTokensLimit)
	case req.MaxTokens < 0 || req.MaxTokens > MaxTokensLimit:
		return bad("max_tokens %d out of range [0, %d]", req.MaxTokens, MaxTokensLimit)
	}
	if t := req.Temperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 2) {
		return bad("temperature %v out of range [0, 2]", *t)
	}
	if e.client != nil {
		if req.Model == "" {
			req.Model = e.cfg.Model
		} else if !slices.Contains(e.allowed, req.Model) {
			return bad("model %q is not allowed (allowed: %s)", req.Model, strings.Join(e.allowed, ", "))
		}
		if t := req.Temperature; t != nil && *t != 1 && reasoningModel(req.Model) {
			return bad("model %q takes no temperature but 1", req.Model)
		}
	} else {
		// No LLM: nothing is asked; the model only picks the tokenizer.
		req.Model = ""
	}
	if req.SystemPrompt == "" {
		req.SystemPrompt = e.cfg.SystemPrompt
	}
	if req.MaxContextTokens == 0 {
		req.MaxContextTokens = e.cfg.MaxContextTokens
	}
	if req.MaxTokens == 0 {
		req.MaxTokens = e.cfg.MaxTokens
	}
	if req.Search.K == 0 {
		req.Search.K = e.cfg.K
	}
	if req.Search.Vector == nil && req.Search.Text == "" {
		req.Search.Text = req.Question
	}
	return req, nil
}

// Generate asks the model for an answer to a prompt made by Prepare (see
// Ask for onDelta) and reads its citations. Without passages, or without
// an LLM configured, it asks nothing and returns the passages with a Note.
func (e *Engine) Generate(ctx context.Context, p *Prompt, onDelta func(text string) error) (*Response, error) {
	ctx, span := e.tracer.Start(ctx, "rag.Generate")
	defer span.End()
	start := time.Now()
	res := &Response{Passages: p.Passages, Citations: []Citation{}, Model: p.Model, Stats: p.Stats}
	if res.Passages == nil {
		res.Passages = []Passage{}
	}
	switch {
	case len(p.Passages) == 0:
		res.Note = NoteNoPassages
		e.metrics.outcome(OutcomeNoPassages)
		return res, nil
	case e.client == nil:
		res.Note = NoteNoLLM
		e.metrics.outcome(OutcomeNoLLM)
		return res, nil
	}
	g, err := e.generate(ctx, p, onDelta)
	if err != nil {
		outcome := OutcomeUpstreamError
		var ue *UpstreamError
		var re *relayError
		switch {
		case ctx.Err() != nil:
			outcome, err = OutcomeCanceled, fmt.Errorf("rag: generate: %w", ctx.Err())
		case errors.As(err, &re):
			outcome = OutcomeAborted
		case errors.As(err, &ue) && ue.Kind == ErrUpstreamTimeout:
			outcome = OutcomeUpstreamTimeout
		case errors.As(err, &ue) && ue.Kind == ErrRateLimited:
			outcome = OutcomeRateLimited
		case errors.Is(err, ErrInvalidArgument):
			outcome = OutcomeInvalidArgument
		}
		e.metrics.outcome(outcome)
		e.logger.Debug("rag: ask failed", "model", p.Model, "dur", time.Since(start), "err", err)
		spanError(span, err)
		return nil, err
	}
	res.Answer, res.FinishReason = g.answer.String(), g.finish
	if g.model != "" {
		res.Model = g.model
	}
	if !p.Stream && onDelta != nil && res.Answer != "" {
		if err := onDelta(res.Answer); err != nil {
			e.metrics.outcome(OutcomeAborted)
			err = &relayError{err}
			spanError(span, err)
			return nil, err
		}
	}
	if u := g.usage; u != nil && (u.PromptTokens > 0 || u.CompletionTokens > 0) {
		res.Usage = Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
	} else {
		res.Usage = Usage{PromptTokens: p.Stats.PromptTokens, Estimated: true}
		if tok, err := newTokenizer(p.Stats.Tokenizer); err == nil {
			res.Usage.CompletionTokens = tok.Count(res.Answer)
		}
	}
	e.metrics.usage(res.Usage)

	_, cspan := e.tracer.Start(ctx, "rag.citations")
	cited, bad := parseCitations(res.Answer, len(res.Passages))
	for _, n := range cited {
		p := &res.Passages[n-1]
		res.Citations = append(res.Citations, Citation{N: n, ID: p.ID, Source: p.Source, Title: p.Title, Heading: p.Heading, Score: p.Score})
	}
	if len(bad) > 0 {
		e.logger.Debug("rag: citations name no passage", "markers", bad, "passages", len(res.Passages))
	}
	cspan.SetAttributes(attribute.Int("rag.citations", len(cited)), attribute.Int("rag.bad_citations", len(bad)))
	cspan.End()

	e.metrics.outcome(OutcomeOK)
	span.SetAttributes(attribute.String("rag.model", res.Model), attribute.Int("rag.prompt_tokens", res.Usage.PromptTokens),
		attribute.Int("rag.completion_tokens", res.Usage.CompletionTokens))
	e.logger.Debug("rag: ask", "model", res.Model, "passages", len(res.Passages), "citations", len(res.Citations),
		"prompt_tokens", res.Usage.PromptTokens, "completion_tokens", res.Usage.CompletionTokens, "dur", time.Since(start))
	return res, nil
}

// relayError is an error of the caller's onDelta.
type relayError struct{ err error }

func (e *relayError) Error() string { return "rag: relay answer: " + e.err.Error() }
func (e *relayError) Unwrap() error { return e.err }

// spanError marks a span failed.
func spanError(span trace.Span, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}
