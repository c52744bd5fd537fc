package rag

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/rag/chattest"
	"github.com/stretchr/testify/require"
)

// threeHits are three distinct passages.
func threeHits() *searcher {
	return &searcher{hits: []index.Hit{
		hit("otters", "Otters sleep in dens by the river.", 0.9, "source", "otters.md", "chunk", float64(0), "title", "Otters"),
		hit("herons", "Herons hunt fish in shallow water.", 0.8, "source", "herons.md", "chunk", float64(0), "title", "Herons"),
		hit("beavers", "Beavers build dams of branches and mud.", 0.7, "source", "beavers.md", "chunk", float64(4), "heading", "Rodents"),
	}}
}

// collector gathers deltas.
type collector struct {
	mu     sync.Mutex
	deltas []string
}

func (c *collector) add(d string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deltas = append(c.deltas, d)
	return nil
}

func (c *collector) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.deltas, "")
}

// waitDisconnect waits until the fake saw a client go away. The bound only
// keeps a broken test from hanging; nothing is timed.
func waitDisconnect(t *testing.T, srv *chattest.Server) {
	t.Helper()
	select {
	case <-srv.Disconnected():
	case <-time.After(30 * time.Second):
		t.Fatal("the fake never saw the client go away")
	}
}

func TestAskStreaming(t *testing.T) {
	const answer = "Otters sleep in dens [1]. Beavers build dams [3]. Both live by rivers [1, 3]."
	srv := newFake(t, chattest.Config{Answer: chattest.Fixed(answer)})
	m := NewMetrics()
	e := newEngine(t, srv, Config{Metrics: m})
	s := threeHits()
	var c collector
	res, err := e.Ask(ctx, s, Request{Question: "  Where do otters sleep? ", Stream: true}, c.add)
	require.NoError(t, err)

	require.Greater(t, len(c.deltas), 5, "relayed piece by piece")
	require.Equal(t, answer, c.text())
	require.Equal(t, answer, res.Answer)
	require.Equal(t, "stop", res.FinishReason)
	require.Equal(t, "gpt-4o-mini", res.Model)
	require.Empty(t, res.Note)
	require.Equal(t, []Citation{
		{N: 1, ID: "otters", Source: "otters.md", Title: "Otters", Score: 0.9},
		{N: 3, ID: "beavers", Source: "beavers.md", Heading: "Rodents", Score: 0.7},
	}, res.Citations)
	require.Equal(t, []string{"otters", "herons", "beavers"}, passageIDs(res.Passages))
	require.False(t, res.Usage.Estimated, "the fake sends usage")
	require.Equal(t, len(chattest.Words(answer)), res.Usage.CompletionTokens)
	require.Equal(t, 3, res.Stats.Retrieved)
	require.Equal(t, TokenizerO200k, res.Stats.Tokenizer)

	req := srv.Last()
	require.Equal(t, "/v1/chat/completions", req.Path)
	require.Equal(t, "Bearer "+testKey, req.Header.Get("Authorization"))
	require.Equal(t, "gpt-4o-mini", req.Model)
	require.True(t, req.Stream)
	require.True(t, req.IncludeUsage)
	require.Equal(t, DefaultMaxTokens, req.MaxTokens)
	require.Zero(t, req.MaxCompletionTokens)
	require.Nil(t, req.Temperature)
	require.Len(t, req.Messages, 2)
	require.Equal(t, systemMessage(""), req.Content("system"))
	user := req.Content("user")
	i1, i2, i3 := strings.Index(user, "Otters sleep"), strings.Index(user, "Herons hunt"), strings.Index(user, "Beavers build")
	require.True(t, 0 < i1 && i1 < i2 && i2 < i3, "passages in order: %q", user)
	require.True(t, strings.HasSuffix(user, "Question: Where do otters sleep?"))

	require.Equal(t, "Where do otters sleep?", s.last().Text, "the question searches when the request has no query")
	require.Equal(t, DefaultK, s.last().K)

	require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues(OutcomeOK)))
	require.Equal(t, float64(res.Usage.CompletionTokens), testutil.ToFloat64(m.tokens.WithLabelValues("completion")))
	require.Equal(t, float64(res.Usage.PromptTokens), testutil.ToFloat64(m.tokens.WithLabelValues("prompt")))
}

func TestAskNotStreaming(t *testing.T) {
	srv := newFake(t, chattest.Config{Answer: chattest.Fixed("Herons hunt fish [2].")})
	e := newEngine(t, srv, Config{})
	var c collector
	res, err := e.Ask(ctx, threeHits(), Request{Question: "What do herons eat?"}, c.add)
	require.NoError(t, err)
	require.Equal(t, []string{"Herons hunt fish [2]."}, c.deltas, "the whole answer, once")
	require.Equal(t, "Herons hunt fish [2].", res.Answer)
	require.Equal(t, []int{2}, citationNs(res.Citations))
	require.False(t, srv.Last().Stream)
	require.False(t, srv.Last().HasStreamOptions)
	require.False(t, res.Usage.Estimated)

	// onDelta may be nil.
	_, err = e.Ask(ctx, threeHits(), Request{Question: "What do herons eat?"}, nil)
	require.NoError(t, err)
}

func citationNs(cs []Citation) []int {
	var out []int
	for _, c := range cs {
		out = append(out, c.N)
	}
	return out
}

func TestAskUsageEstimated(t *testing.T) {
	const answer = "Otters sleep in dens [1]."
	srv := newFake(t, chattest.Config{Answer: chattest.Fixed(answer), NoUsage: true})
	e := newEngine(t, srv, Config{})
	for _, stream := range []bool{true, false} {
		res, err := e.Ask(ctx, threeHits(), Request{Question: "Where?", Stream: stream}, nil)
		require.NoError(t, err)
		require.True(t, res.Usage.Estimated)
		require.Equal(t, res.Stats.PromptTokens, res.Usage.PromptTokens)
		require.Equal(t, mustTokenizer(t, TokenizerO200k).Count(answer), res.Usage.CompletionTokens)
	}
}

var errClientGone = errors.New("client gone")

func TestAskRelayErrorCancelsUpstream(t *testing.T) {
	srv := newFake(t, chattest.Config{Fault: chattest.Script(chattest.Fault{Stall: true, AfterDeltas: 1})})
	m := NewMetrics()
	e := newEngine(t, srv, Config{Metrics: m})
	calls := 0
	_, err := e.Ask(ctx, threeHits(), Request{Question: "Where?", Stream: true}, func(string) error {
		calls++
		return errClientGone
	})
	require.ErrorIs(t, err, errClientGone)
	require.Equal(t, 1, calls)
	waitDisconnect(t, srv)
	require.Equal(t, 1, srv.Requests(), "not retried")
	require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues(OutcomeAborted)))
}

func TestAskCancel(t *testing.T) {
	t.Run("mid-stream", func(t *testing.T) {
		srv := newFake(t, chattest.Config{Fault: chattest.Script(chattest.Fault{Stall: true, AfterDeltas: 1})})
		e := newEngine(t, srv, Config{})
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		_, err := e.Ask(cctx, threeHits(), Request{Question: "Where?", Stream: true}, func(string) error {
			cancel()
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		waitDisconnect(t, srv)
		require.Equal(t, 1, srv.Requests())
	})
	t.Run("before the first byte", func(t *testing.T) {
		srv := newFake(t, chattest.Config{Fault: chattest.Script(chattest.Fault{Delay: time.Hour})})
		e := newEngine(t, srv, Config{})
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan struct{})
		go func() { // cancel once the request is in
			defer close(done)
			for srv.Requests() == 0 && cctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := e.Ask(cctx, threeHits(), Request{Question: "Where?", Stream: true}, nil)
		<-done
		require.ErrorIs(t, err, context.Canceled)
		waitDisconnect(t, srv)
	})
	t.Run("before the search", func(t *testing.T) {
		e := newEngine(t, nil, Config{})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := e.Ask(cctx, threeHits(), Request{Question: "Where?"}, nil)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestAskRetries(t *testing.T) {
	const answer = "Otters sleep in dens [1]."
	for _, tt := range []struct {
		name     string
		stream   bool
		relay    bool // pass an onDelta
		faults   []chattest.Fault
		cfg      Config
		kind     error // nil: success
		requests int
		check    func(t *testing.T, ue *UpstreamError)
	}{
		{name: "429 with retry-after-ms, then success", faults: []chattest.Fault{
			{Status: 429, RetryAfterMs: "1"}, {Status: 429, RetryAfter: "0.001"}}, requests: 3},
		{name: "429 asking too long a wait fails at once", faults: []chattest.Fault{{Status: 429, RetryAfter: "120"}},
			kind: ErrRateLimited, requests: 1, check: func(t *testing.T, ue *UpstreamError) {
				require.Equal(t, 120*time.Second, ue.RetryAfter)
				require.Equal(t, 429, ue.StatusCode)
				require.Equal(t, 1, ue.Attempts)
				require.Contains(t, ue.Message, "asked to wait 2m0s")
			}},
		{name: "429 persisting", faults: []chattest.Fault{{Status: 429, RetryAfterMs: "2"}, {Status: 429, RetryAfterMs: "2"}, {Status: 429, RetryAfterMs: "2"}},
			kind: ErrRateLimited, requests: 3, check: func(t *testing.T, ue *UpstreamError) {
				require.Equal(t, 2*time.Millisecond, ue.RetryAfter)
				require.Equal(t, 3, ue.Attempts)
				require.ErrorContains(t, ue, "gave up after 3 attempts")
			}},
		{name: "500 then success", stream: true, faults: []chattest.Fault{{Status: 500}}, requests: 2},
		{name: "5xx persisting", faults: []chattest.Fault{{Status: 502, Message: "bad gateway upstream"}, {Status: 503}, {Status: 500, Message: "model crashed"}},
			kind: ErrUpstream, requests: 3, check: func(t *testing.T, ue *UpstreamError) {
				require.Equal(t, 500, ue.StatusCode)
				require.Contains(t, ue.Message, "model crashed")
			}},
		{name: "400 is not retried", faults: []chattest.Fault{{Status: 400, Message: "maximum context length is 8192 tokens"}},
			kind: ErrUpstream, requests: 1, check: func(t *testing.T, ue *UpstreamError) {
				require.Equal(t, 400, ue.StatusCode)
				require.Contains(t, ue.Message, "maximum context length")
			}},
		{name: "401 names the key, redacted", faults: []chattest.Fault{{Status: 401, Message: "Incorrect API key provided: " + testKey}},
			kind: ErrUpstream, requests: 1, check: func(t *testing.T, ue *UpstreamError) {
				require.NotContains(t, ue.Error(), testKey)
				require.Contains(t, ue.Message, "[redacted]")
				require.Contains(t, ue.Message, "check the llm API key")
			}},
		{name: "network failure, then success", faults: []chattest.Fault{{Hangup: true}}, requests: 2},
		{name: "a stream cut before any text is retried", stream: true, relay: true, faults: []chattest.Fault{{Hangup: true, AfterDeltas: 0}}, requests: 2},
		{name: "a stream cut after relayed text is not", stream: true, relay: true, faults: []chattest.Fault{{Hangup: true, AfterDeltas: 2}},
			kind: ErrUpstream, requests: 1, check: func(t *testing.T, ue *UpstreamError) {
				require.True(t, ue.Relayed)
				require.Equal(t, 1, ue.Attempts)
			}},
		{name: "a stream cut without onDelta is retried", stream: true, faults: []chattest.Fault{{Hangup: true, AfterDeltas: 2}}, requests: 2},
		{name: "an error event after relayed text", stream: true, relay: true, faults: []chattest.Fault{{StreamError: "overloaded", AfterDeltas: 1}},
			kind: ErrUpstream, requests: 1, check: func(t *testing.T, ue *UpstreamError) {
				require.Contains(t, ue.Message, "overloaded")
				require.True(t, ue.Relayed)
			}},
		{name: "malformed JSON", faults: []chattest.Fault{{Body: `{"choices": [`}},
			kind: ErrUpstream, requests: 1, check: func(t *testing.T, ue *UpstreamError) {
				require.Contains(t, ue.Message, "malformed")
			}},
		{name: "malformed stream", stream: true, faults: []chattest.Fault{{Body: "data: {not json\n\n"}},
			kind: ErrUpstream, requests: 1},
		{name: "no retries", cfg: Config{MaxAttempts: 1}, faults: []chattest.Fault{{Status: 503}}, kind: ErrUpstream, requests: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, chattest.Config{Answer: chattest.Fixed(answer), Fault: chattest.Script(tt.faults...)})
			m := NewMetrics()
			tt.cfg.Metrics = m
			e := newEngine(t, srv, tt.cfg)
			var c collector
			var onDelta func(string) error
			if tt.relay {
				onDelta = c.add
			}
			res, err := e.Ask(ctx, threeHits(), Request{Question: "Where do otters sleep?", Stream: tt.stream}, onDelta)
			require.Equal(t, tt.requests, srv.Requests())
			if tt.kind == nil {
				require.NoError(t, err)
				require.Equal(t, answer, res.Answer, "not doubled by the retry")
				require.Equal(t, float64(tt.requests-1), testutil.ToFloat64(m.retries))
				return
			}
			require.ErrorIs(t, err, tt.kind)
			var ue *UpstreamError
			require.ErrorAs(t, err, &ue)
			require.Equal(t, tt.requests, ue.Attempts)
			if tt.check != nil {
				tt.check(t, ue)
			}
		})
	}
}

func TestAskTimeouts(t *testing.T) {
	stall := chattest.Fault{Delay: time.Hour}
	t.Run("no answer in time", func(t *testing.T) {
		srv := newFake(t, chattest.Config{Fault: chattest.Script(stall, stall)})
		m := NewMetrics()
		e := newEngine(t, srv, Config{Timeout: 20 * time.Millisecond, MaxAttempts: 2, Metrics: m})
		_, err := e.Ask(ctx, threeHits(), Request{Question: "Where?"}, nil)
		require.ErrorIs(t, err, ErrUpstreamTimeout)
		var ue *UpstreamError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, 2, ue.Attempts, "a timeout is retried")
		require.Contains(t, ue.Message, "no complete answer within 20ms")
		require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues(OutcomeUpstreamTimeout)))
	})
	t.Run("no first byte in time", func(t *testing.T) {
		srv := newFake(t, chattest.Config{Fault: chattest.Script(stall)})
		e := newEngine(t, srv, Config{FirstByteTimeout: 20 * time.Millisecond, MaxAttempts: 1})
		_, err := e.Ask(ctx, threeHits(), Request{Question: "Where?", Stream: true}, nil)
		require.ErrorIs(t, err, ErrUpstreamTimeout)
		require.ErrorContains(t, err, "no answer within 20ms")
	})
	t.Run("a stalled stream", func(t *testing.T) {
		srv := newFake(t, chattest.Config{Fault: func(int) chattest.Fault { return chattest.Fault{Stall: true, AfterDeltas: 1} }})
		e := newEngine(t, srv, Config{IdleTimeout: 300 * time.Millisecond})
		var c collector
		_, err := e.Ask(ctx, threeHits(), Request{Question: "Where?", Stream: true}, c.add)
		require.ErrorIs(t, err, ErrUpstreamTimeout)
		require.ErrorContains(t, err, "stalled for 300ms")
		var ue *UpstreamError
		require.ErrorAs(t, err, &ue)
		require.True(t, ue.Relayed)
		require.Equal(t, 1, ue.Attempts, "not retried after relayed text")
		require.Len(t, c.deltas, 1)
		waitDisconnect(t, srv)
	})
	t.Run("a slow client does not time out the stream", func(t *testing.T) {
		srv := newFake(t, chattest.Config{Answer: chattest.Fixed("one two three")})
		e := newEngine(t, srv, Config{IdleTimeout: 300 * time.Millisecond, MaxAttempts: 1})
		slept := false
		res, err := e.Ask(ctx, threeHits(), Request{Question: "Where?", Stream: true}, func(string) error {
			if !slept {
				slept = true
				time.Sleep(600 * time.Millisecond) // longer than IdleTimeout, in onDelta
			}
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, "one two three", res.Answer)
	})
}

func TestKeyOnlyToBaseURL(t *testing.T) {
	other := chattest.New(chattest.Config{})
	defer other.Close()
	srv := newFake(t, chattest.Config{Fault: chattest.Script(chattest.Fault{Status: http.StatusTemporaryRedirect, Location: other.URL + "/v1/chat/completions"})})
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEngine(t, srv, Config{Logger: logger})

	_, err := e.Ask(ctx, threeHits(), Request{Question: "Where?"}, nil)
	require.ErrorIs(t, err, ErrUpstream)
	require.ErrorContains(t, err, "redirect to "+other.URL)
	require.Zero(t, other.Requests(), "the redirect is not followed")

	res, err := e.Ask(ctx, threeHits(), Request{Question: "Where?"}, nil)
	require.NoError(t, err, "the fake checks the key")
	require.NotEmpty(t, res.Answer)

	d := &doer{base: mustURL(t, srv.BaseURL()), key: testKey}
	require.True(t, d.toBase(mustURL(t, srv.BaseURL()+"/chat/completions")))
	require.False(t, d.toBase(mustURL(t, other.URL+"/v1/chat/completions")), "another port")
	require.False(t, d.toBase(mustURL(t, strings.Replace(srv.URL, "http:", "https:", 1)+"/v1/chat/completions")), "another scheme")
	require.False(t, d.toBase(mustURL(t, srv.URL+"/v2/chat/completions")), "another path")

	mu.Lock()
	defer mu.Unlock()
	require.NotContains(t, logs.String(), testKey)
	require.NotContains(t, e.cfg.String(), testKey)
	require.NotContains(t, Config{APIKey: testKey}.String(), testKey)
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func TestStreamOptionsRefused(t *testing.T) {
	srv := newFake(t, chattest.Config{RejectStreamOptions: true, Answer: chattest.Fixed("Yes [1].")})
	e := newEngine(t, srv, Config{MaxAttempts: 1})
	for range 2 {
		res, err := e.Ask(ctx, threeHits(), Request{Question: "Where?", Stream: true}, nil)
		require.NoError(t, err)
		require.Equal(t, "Yes [1].", res.Answer)
		require.True(t, res.Usage.Estimated)
	}
	log := srv.Log()
	require.Len(t, log, 3, "asked again without stream_options, once")
	require.True(t, log[0].HasStreamOptions)
	require.False(t, log[1].HasStreamOptions)
	require.False(t, log[2].HasStreamOptions, "remembered")
}

func TestModels(t *testing.T) {
	srv := newFake(t, chattest.Config{})
	e := newEngine(t, srv, Config{Model: "gpt-4o-mini", Models: []string{"gpt-4o", "o3-mini", "llama3.1:8b"}})
	for _, tt := range []struct {
		name     string
		req      Request
		err      string
		model    string
		maxToks  int
		maxCompl int
		temp     *float64
	}{
		{name: "default", req: Request{}, model: "gpt-4o-mini", maxToks: DefaultMaxTokens},
		{name: "allowed", req: Request{Model: "gpt-4o", MaxTokens: 50, Temperature: ptr(0.7)}, model: "gpt-4o", maxToks: 50, temp: ptr(0.7)},
		{name: "reasoning model", req: Request{Model: "o3-mini", MaxTokens: 70}, model: "o3-mini", maxCompl: 70},
		{name: "reasoning model at temperature 1", req: Request{Model: "o3-mini", Temperature: ptr(1.0)}, model: "o3-mini", maxCompl: DefaultMaxTokens},
		{name: "not allowed", req: Request{Model: "gpt-5"}, err: `model "gpt-5" is not allowed (allowed: gpt-4o-mini, gpt-4o, o3-mini, llama3.1:8b)`},
		{name: "reasoning model temperature", req: Request{Model: "o3-mini", Temperature: ptr(0.2)}, err: "takes no temperature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Requests()
			tt.req.Question = "Where?"
			res, err := e.Ask(ctx, threeHits(), tt.req, nil)
			if tt.err != "" {
				require.ErrorIs(t, err, ErrInvalidArgument)
				require.ErrorContains(t, err, tt.err)
				require.Equal(t, before, srv.Requests(), "nothing asked")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.model, res.Model)
			r := srv.Last()
			require.Equal(t, tt.model, r.Model)
			require.Equal(t, tt.maxToks, r.MaxTokens)
			require.Equal(t, tt.maxCompl, r.MaxCompletionTokens)
			if tt.temp == nil {
				require.Nil(t, r.Temperature)
			} else {
				require.InDelta(t, *tt.temp, *r.Temperature, 1e-6)
			}
		})
	}
}

func TestTemperatureZeroIsSent(t *testing.T) {
	srv := newFake(t, chattest.Config{})
	e := newEngine(t, srv, Config{})
	_, err := e.Ask(ctx, threeHits(), Request{Question: "Where?", Temperature: ptr(0.0)}, nil)
	require.NoError(t, err)
	require.NotNil(t, srv.Last().Temperature, "not dropped as a zero value")
	require.Less(t, *srv.Last().Temperature, 1e-30)
}

func TestAskConcurrent(t *testing.T) {
	srv := newFake(t, chattest.Config{Answer: chattest.Fixed("Otters sleep in dens [1]. Herons hunt [2].")})
	e := newEngine(t, srv, Config{Metrics: NewMetrics()})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			res, err := e.Ask(ctx, threeHits(), Request{Question: "Where?", Stream: i%2 == 0}, nil)
			if err == nil && len(res.Citations) != 2 {
				err = errors.New("citations lost")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
