package rag

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/rag/chattest"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// guide is a small corpus as `ragctl ingest` makes it: chunks that start
// with their heading path and overlap by a sentence, a mirror of one
// chunk under another source, and unrelated documents.
func guide() []index.Document {
	chunk := func(id, source, title, heading string, n int, body string) index.Document {
		return index.Document{ID: id, Text: heading + "\n\n" + body, Source: source, Chunk: n,
			Metadata: map[string]any{"source": source, "chunk": n, "heading": heading, "title": title}}
	}
	const habitat = "Otter Guide > Habitat"
	return []index.Document{
		chunk("guide-0", "guide.md", "Otter Guide", habitat, 0,
			"Otters live along rivers, lakes and coasts. They dig dens, called holts, into the river bank. Holts have an underwater entrance."),
		chunk("guide-1", "guide.md", "Otter Guide", habitat, 1,
			"Holts have an underwater entrance. Otters line their holts with grass and moss to keep them dry and warm."),
		chunk("guide-2", "guide.md", "Otter Guide", "Otter Guide > Diet", 2,
			"Otters eat fish, crabs and frogs, and hunt mostly at dawn and dusk."),
		chunk("mirror-0", "mirror/guide.md", "Otter Guide", habitat, 0,
			"Otters live along rivers, lakes and coasts. They dig dens, called holts, into the river bank. Holts have an underwater entrance."),
		{ID: "herons", Text: "Herons stand still in shallow water and wait for fish.", Source: "herons.md"},
		{ID: "bridges", Text: "The old stone bridge over the river was built in 1820.", Source: "town.md"},
	}
}

// openGuide returns a collection of the guide, with hash vectors.
func openGuide(t *testing.T) (*index.Collection, *embed.Hash) {
	t.Helper()
	h, err := embed.NewHash(embed.HashConfig{Dimension: 64})
	require.NoError(t, err)
	ix, err := index.Open(t.TempDir(), index.Config{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ix.Close() })
	c, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "guide", Dimension: 64, Metric: index.Cosine})
	require.NoError(t, err)
	docs := guide()
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	vs, err := h.Embed(ctx, texts)
	require.NoError(t, err)
	for i := range docs {
		docs[i].Vector = vs[i]
	}
	_, err = c.Upsert(ctx, docs)
	require.NoError(t, err)
	return c, h
}

var sourceRE = regexp.MustCompile(`(?s)<source id="(\d+)"[^>]*>\n(.*?)\n</source>`)

// citeHolts answers by citing the source that mentions holts' entrance,
// and a source number that does not exist.
func citeHolts(r chattest.Request) string {
	for _, m := range sourceRE.FindAllStringSubmatch(r.Content("user"), -1) {
		if strings.Contains(m[2], "underwater entrance") {
			return fmt.Sprintf("Otters sleep in holts [%s], dry with grass and moss [%s]. See also [99].", m[1], m[1])
		}
	}
	return "The sources do not say."
}

func TestAskEndToEnd(t *testing.T) {
	c, h := openGuide(t)
	srv := newFake(t, chattest.Config{Answer: citeHolts})
	e := newEngine(t, srv, Config{})
	const q = "Where do otters sleep?"
	qv, err := h.Embed(ctx, []string{q})
	require.NoError(t, err)

	res, err := e.Ask(ctx, c, Request{Question: q, Search: index.SearchRequest{Vector: qv[0], Text: q, K: 6}, Stream: true}, nil)
	require.NoError(t, err)

	// The mirror is a duplicate; chunks 0, 1 and 2 of the guide merge.
	require.Equal(t, 6, res.Stats.Retrieved)
	require.Equal(t, 1, res.Stats.Duplicates)
	require.Equal(t, 2, res.Stats.Merged)
	require.Len(t, res.Passages, 3)
	var merged *Passage
	for i := range res.Passages {
		if res.Passages[i].ID == "guide-0" {
			merged = &res.Passages[i]
		}
	}
	require.NotNil(t, merged, "the merged passage keeps the first chunk's ID: %+v", res.Passages)
	require.Equal(t, []string{"guide-0", "guide-1", "guide-2"}, merged.IDs)
	require.Equal(t, 1, strings.Count(merged.Text, "Otter Guide > Habitat"), "the heading line once")
	require.Equal(t, 1, strings.Count(merged.Text, "Holts have an underwater entrance."), "the overlap once")
	require.Contains(t, merged.Text, "Otter Guide > Diet\n\nOtters eat fish", "the next section keeps its heading")
	require.Equal(t, "guide.md", merged.Source)
	require.Equal(t, "Otter Guide", merged.Title)

	// The answer cites the merged passage; [99] is dropped.
	require.Len(t, res.Citations, 1)
	require.Equal(t, "guide-0", res.Citations[0].ID)
	require.Equal(t, merged.N, res.Citations[0].N)
	require.Equal(t, "Otter Guide > Habitat", res.Citations[0].Heading)

	// The prompt: passages in order, within the budget by the model's
	// tokenizer.
	req := srv.Last()
	tok := mustTokenizer(t, TokenizerO200k)
	require.Equal(t, res.Stats.PromptTokens, countMessages(tok, req.Content("system"), req.Content("user")))
	require.LessOrEqual(t, res.Stats.PromptTokens, DefaultMaxContextTokens)
	ms := sourceRE.FindAllStringSubmatch(req.Content("user"), -1)
	require.Len(t, ms, len(res.Passages))
	for i, m := range ms {
		require.Equal(t, fmt.Sprint(i+1), m[1])
		require.Equal(t, strings.TrimSpace(res.Passages[i].Text), m[2])
		if i > 0 {
			require.GreaterOrEqual(t, res.Passages[i-1].Score, res.Passages[i].Score, "best first")
		}
	}
}

func TestAskWithinBudget(t *testing.T) {
	c, _ := openGuide(t)
	srv := newFake(t, chattest.Config{Answer: citeHolts})
	e := newEngine(t, srv, Config{Model: "llama3.1:8b"})
	tok := mustTokenizer(t, TokenizerEstimate)
	fixed := countMessages(tok, systemMessage(""), userMessage(nil, "otters"))
	_, err := e.Ask(ctx, c, Request{Question: "otters", MaxContextTokens: fixed + minPassageTokens}, nil)
	require.ErrorIs(t, err, ErrInvalidArgument, "no room left for a passage after its title and source")
	require.ErrorContains(t, err, "no room for passages")
	for _, budget := range []int{fixed + 60, fixed + 120, fixed + 400} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			res, err := e.Ask(ctx, c, Request{Question: "otters", MaxContextTokens: budget}, nil)
			require.NoError(t, err)
			require.NotEmpty(t, res.Passages)
			require.Equal(t, TokenizerEstimate, res.Stats.Tokenizer)
			req := srv.Last()
			require.LessOrEqual(t, countMessages(tok, req.Content("system"), req.Content("user")), res.Stats.PromptTokens, "an upper estimate")
			require.LessOrEqual(t, res.Stats.PromptTokens, budget)
		})
	}
}

func TestNoLLM(t *testing.T) {
	m := NewMetrics()
	e := newEngine(t, nil, Config{Metrics: m})
	s := threeHits()
	var c collector
	res, err := e.Ask(ctx, s, Request{Question: "Where do otters sleep?", Model: "anything", Stream: true}, c.add)
	require.NoError(t, err)
	require.Empty(t, res.Answer)
	require.Equal(t, NoteNoLLM, res.Note)
	require.Empty(t, c.deltas)
	require.Equal(t, []string{"otters", "herons", "beavers"}, passageIDs(res.Passages))
	require.NotNil(t, res.Citations)
	require.Empty(t, res.Citations)
	require.Empty(t, res.Model)
	require.Equal(t, TokenizerEstimate, res.Stats.Tokenizer)
	require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues(OutcomeNoLLM)))

	b, err := json.Marshal(res)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	for _, k := range []string{"answer", "citations", "passages", "usage", "note", "stats"} {
		require.Contains(t, got, k)
	}
	require.Equal(t, []any{}, got["citations"], "an empty list, not null")
}

func TestNoPassages(t *testing.T) {
	srv := newFake(t, chattest.Config{})
	m := NewMetrics()
	e := newEngine(t, srv, Config{Metrics: m})
	res, err := e.Ask(ctx, &searcher{hits: []index.Hit{hit("blank", " ", 1)}}, Request{Question: "Where?", Stream: true}, nil)
	require.NoError(t, err)
	require.Equal(t, NoteNoPassages, res.Note)
	require.Empty(t, res.Answer)
	require.NotNil(t, res.Passages)
	require.Empty(t, res.Passages)
	require.Zero(t, srv.Requests(), "the LLM is not asked")
	require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues(OutcomeNoPassages)))
}

func TestSearchErrors(t *testing.T) {
	m := NewMetrics()
	e := newEngine(t, nil, Config{Metrics: m})
	bad := fmt.Errorf("%w: k 5000 out of range", index.ErrInvalidArgument)
	_, err := e.Ask(ctx, &searcher{err: bad}, Request{Question: "q"}, nil)
	require.ErrorIs(t, err, index.ErrInvalidArgument)
	require.ErrorContains(t, err, "rag: search: ")
	require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues(OutcomeInvalidArgument)))

	_, err = e.Ask(ctx, &searcher{err: index.ErrNotFound}, Request{Question: "q"}, nil)
	require.ErrorIs(t, err, index.ErrNotFound)
	require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues(OutcomeSearchError)))
}

func TestSearchRequest(t *testing.T) {
	e := newEngine(t, nil, Config{K: 3})
	s := threeHits()
	_, err := e.Ask(ctx, s, Request{Question: "otters"}, nil)
	require.NoError(t, err)
	require.Equal(t, 3, s.last().K, "Config.K")
	require.Equal(t, "otters", s.last().Text)

	_, err = e.Ask(ctx, s, Request{Question: "otters", Search: index.SearchRequest{K: 2, Vector: []float32{1, 0}}}, nil)
	require.NoError(t, err)
	require.Equal(t, 2, s.last().K)
	require.Empty(t, s.last().Text, "a vector search stays one")
}

func TestSystemPrompt(t *testing.T) {
	srv := newFake(t, chattest.Config{})
	e := newEngine(t, srv, Config{SystemPrompt: "You are the ragd docs bot."})
	_, err := e.Ask(ctx, threeHits(), Request{Question: "q"}, nil)
	require.NoError(t, err)
	require.Equal(t, systemMessage("You are the ragd docs bot."), srv.Last().Content("system"))
	_, err = e.Ask(ctx, threeHits(), Request{Question: "q", SystemPrompt: "Answer in haiku."}, nil)
	require.NoError(t, err)
	require.Equal(t, systemMessage("Answer in haiku."), srv.Last().Content("system"))
}

func TestRequestValidation(t *testing.T) {
	e := newEngine(t, nil, Config{})
	for _, tt := range []struct {
		name string
		req  Request
		want string
	}{
		{"empty question", Request{}, "question is empty"},
		{"blank question", Request{Question: " \n\t"}, "question is empty"},
		{"long question", Request{Question: strings.Repeat("x", MaxQuestionBytes+1)}, "exceeds"},
		{"invalid UTF-8", Request{Question: "a\xffb"}, "UTF-8"},
		{"temperature", Request{Question: "q", Temperature: ptr(2.5)}, "temperature 2.5"},
		{"negative temperature", Request{Question: "q", Temperature: ptr(-0.1)}, "temperature"},
		{"NaN temperature", Request{Question: "q", Temperature: ptr(math.NaN())}, "temperature"},
		{"max tokens", Request{Question: "q", MaxTokens: -1}, "max_tokens"},
		{"max context tokens", Request{Question: "q", MaxContextTokens: MaxContextTokensLimit + 1}, "max_context_tokens"},
		{"budget too small", Request{Question: "q", MaxContextTokens: 50}, "no room for passages"},
		{"system prompt", Request{Question: "q", SystemPrompt: strings.Repeat("x", MaxSystemPromptBytes+1)}, "system_prompt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Ask(ctx, threeHits(), tt.req, nil)
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, Config{}.Validate())
	require.NoError(t, DefaultConfig().Validate())
	require.NoError(t, Config{BaseURL: "http://localhost:11434/v1", Model: "llama3.1:8b"}.Validate())
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"scheme", Config{BaseURL: "ftp://x/v1", Model: "m"}, "not an http(s) URL"},
		{"no host", Config{BaseURL: "http:///v1", Model: "m"}, "not an http(s) URL"},
		{"query", Config{BaseURL: "http://x/v1?a=1", Model: "m"}, "query"},
		{"credentials", Config{BaseURL: "http://u:secret@x/v1", Model: "m"}, "credentials"},
		{"no model", Config{BaseURL: "http://x/v1"}, "model is required"},
		{"empty model in the list", Config{Models: []string{"a", " "}}, "models[1]"},
		{"tokenizer", Config{Tokenizer: "p50k_base"}, "tokenizer"},
		{"k", Config{K: -1}, "k -1"},
		{"k too large", Config{K: MaxKLimit + 1}, "k 1001"},
		{"budget", Config{MaxContextTokens: -5}, "max context tokens"},
		{"max tokens", Config{MaxTokens: MaxTokensLimit + 1}, "max tokens"},
		{"system prompt", Config{SystemPrompt: strings.Repeat("x", MaxSystemPromptBytes+1)}, "system prompt"},
		{"timeout", Config{IdleTimeout: -time.Second}, "timeouts"},
		{"attempts", Config{MaxAttempts: 101}, "max attempts"},
		{"backoff", Config{BackoffBase: time.Second, BackoffMax: time.Millisecond}, "backoff"},
		{"retry-after", Config{MaxRetryAfter: -1}, "retry-after"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "secret")
			_, err = New(tt.cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestMetricsRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics()
	require.NoError(t, reg.Register(m))
	n, err := testutil.GatherAndCount(reg, "ragd_ask_requests_total", "ragd_ask_tokens_total", "ragd_ask_upstream_seconds", "ragd_ask_upstream_errors_total")
	require.NoError(t, err)
	require.Equal(t, len(outcomes)+2+1+len(errorKinds), n)

	var nilm *Metrics // records nothing, and does not panic
	nilm.outcome(OutcomeOK)
	nilm.usage(Usage{PromptTokens: 1})
	require.NoError(t, prometheus.NewRegistry().Register(nilm))
}

func TestTracing(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(ctx) })
	srv := newFake(t, chattest.Config{})
	e := newEngine(t, srv, Config{Tracer: tp.Tracer("rag")})
	_, err := e.Ask(ctx, threeHits(), Request{Question: "q", Stream: true}, nil)
	require.NoError(t, err)
	var names []string
	for _, s := range sr.Ended() {
		names = append(names, s.Name())
	}
	require.ElementsMatch(t, []string{"rag.Ask", "rag.Prepare", "rag.retrieve", "rag.dedupe", "rag.merge", "rag.assemble", "rag.Generate", "rag.citations"}, names)

	_, err = e.Ask(ctx, &searcher{err: errors.New("disk on fire")}, Request{Question: "q"}, nil)
	require.Error(t, err)
	var failed int
	for _, s := range sr.Ended() {
		if s.Status().Description != "" {
			failed++
			require.NotContains(t, s.Status().Description, testKey)
		}
	}
	require.Equal(t, 3, failed, "rag.retrieve, rag.Prepare and rag.Ask")
}
