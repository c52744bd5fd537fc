package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/rag"
	"github.com/ragd/ragd/rag/chattest"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

// readSSE is a plain SSE parser (the text/event-stream format): events end
// at a blank line; "event:" names one, "data:" lines make its data, lines
// starting with ":" are comments.
func readSSE(t testing.TB, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	var data []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" || len(data) > 0 {
				cur.data = strings.Join(data, "\n")
				out = append(out, cur)
			}
			cur, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			cur.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// askServer is a server with a collection "kb" of three passages and, when
// llm is set, answers from that fake chat endpoint.
func askServer(t *testing.T, llm *chattest.Server, mut func(*rag.Config)) *testServer {
	t.Helper()
	ts := startServer(t, func(c *Config) {
		if llm != nil {
			c.LLM = rag.Config{BaseURL: llm.BaseURL(), Model: "gpt-4o-mini", Models: []string{"gpt-4.1"}, APIKey: "sk-test-key-0123456789",
				BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
			if mut != nil {
				mut(&c.LLM)
			}
		}
	})
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "kb"})
	ts.ok(t, "POST", "/v1/collections/kb/documents", map[string]any{"documents": []map[string]any{
		{"id": "otters#0", "text": "Sea otters hold hands while they sleep so that they do not drift apart.", "metadata": map[string]any{"source": "otters.md", "title": "Otters", "heading": "Sleep", "chunk": 0}},
		{"id": "rust#0", "text": "Rust guarantees memory safety without a garbage collector.", "metadata": map[string]any{"source": "rust.md", "chunk": 0}},
		{"id": "go#0", "text": "Go channels let goroutines communicate; do not communicate by sharing memory.", "metadata": map[string]any{"source": "go.md", "chunk": 0}},
	}})
	return ts
}

func TestAskNoLLM(t *testing.T) {
	ts := askServer(t, nil, nil)
	m := ts.ok(t, "POST", "/v1/collections/kb/ask", map[string]any{"question": "why do otters hold hands while they sleep", "k": 2})
	require.Equal(t, "", m["answer"])
	require.Contains(t, m["note"], "--llm-base-url")
	ps := m["passages"].([]any)
	require.NotEmpty(t, ps)
	require.LessOrEqual(t, len(ps), 2)
	require.Equal(t, "otters#0", ps[0].(map[string]any)["id"])
	require.EqualValues(t, 1, ps[0].(map[string]any)["n"])
	require.Empty(t, m["citations"])

	// gRPC: one done event.
	st, err := ragv1.NewAnswersClient(ts.conn).Ask(context.Background(), &ragv1.AskRequest{Collection: "kb", Question: "otters sleep"})
	require.NoError(t, err)
	ev, err := st.Recv()
	require.NoError(t, err)
	require.NotEmpty(t, ev.GetDone().GetPassages())
	require.NotEmpty(t, ev.GetDone().GetNote())
	_, err = st.Recv()
	require.Equal(t, io.EOF, err)
}

func TestAskAnswerAndCitations(t *testing.T) {
	llm := chattest.New(chattest.Config{APIKey: "sk-test-key-0123456789", Answer: chattest.Fixed("Otters hold hands so they do not drift apart [1]. Unrelated [9].")})
	defer llm.Close()
	ts := askServer(t, llm, nil)
	m := ts.ok(t, "POST", "/v1/collections/kb/ask", map[string]any{"question": "why do otters hold hands", "k": 3})
	require.Equal(t, "Otters hold hands so they do not drift apart [1]. Unrelated [9].", m["answer"])
	cites := m["citations"].([]any)
	require.Len(t, cites, 1, "[9] names no passage and is dropped")
	c := cites[0].(map[string]any)
	require.EqualValues(t, 1, c["n"])
	require.Equal(t, "otters#0", c["id"])
	require.Equal(t, "otters.md", c["source"])
	require.Equal(t, "Otters", c["title"])
	require.Equal(t, "Sleep", c["heading"])
	usage := m["usage"].(map[string]any)
	require.Greater(t, usage["prompt_tokens"], 0.0)
	require.Greater(t, usage["completion_tokens"], 0.0)
	require.Equal(t, "gpt-4o-mini", m["model"])

	// The prompt quotes the passages in order, the best first, inside
	// delimiters, after instructions to cite them.
	req := llm.Last()
	user := req.Content("user")
	require.Contains(t, user, "Sea otters hold hands")
	ps := m["passages"].([]any)
	last := -1
	for _, p := range ps {
		i := strings.Index(user, p.(map[string]any)["text"].(string))
		require.Greater(t, i, last, "passages in order")
		last = i
	}
	require.Contains(t, strings.ToLower(req.Content("system")), "cite")
	require.Equal(t, "Bearer sk-test-key-0123456789", req.Header.Get("Authorization"))

	// A model outside the allow-list is a 400; an allowed one is used.
	code, e := ts.doJSON(t, "POST", "/v1/collections/kb/ask", map[string]any{"question": "otters", "model": "gpt-5-pro"})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, e["message"], "gpt-5-pro")
	m = ts.ok(t, "POST", "/v1/collections/kb/ask", map[string]any{"question": "otters", "model": "gpt-4.1"})
	require.Equal(t, "gpt-4.1", llm.Last().Model)

	// Bad requests name the field.
	for body, want := range map[string]string{
		`{"question": ""}`:                           "question",
		`{"question": "x", "max_tokens": -1}`:        "max_tokens",
		`{"question": "x", "temperature": 7}`:        "temperature",
		`{"question": "x", "mode": "sideways"}`:      "mode",
		`{"question": "x", "filter": {"must": 3}}`:   "filter",
		`{"question": "x", "unknown_field": true}`:   "unknown_field",
		`{"question": "x", "collection": "other"}`:   "differs",
		`{"question": "x", "max_context_tokens": 5}`: "max_context_tokens 5 leaves no room",
	} {
		code, e := ts.doJSON(t, "POST", "/v1/collections/kb/ask", body)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, e["message"], want, body)
	}
	code, _ = ts.doJSON(t, "POST", "/v1/collections/nope/ask", map[string]any{"question": "x"})
	require.Equal(t, http.StatusNotFound, code)
}

// askStream posts an ask and returns the response, whose body is an SSE
// stream.
func askStream(t *testing.T, ctx context.Context, ts *testServer, body string, accept string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", ts.url+"/v1/collections/kb/ask", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func TestAskStream(t *testing.T) {
	llm := chattest.New(chattest.Config{APIKey: "sk-test-key-0123456789", Answer: chattest.Fixed("Because they sleep in the water [1] and drift [1][2].")})
	defer llm.Close()
	ts := askServer(t, llm, nil)
	for name, c := range map[string]struct{ body, accept string }{
		"stream flag":   {`{"question": "why do otters hold hands", "stream": true}`, ""},
		"accept header": {`{"question": "why do otters hold hands"}`, "text/event-stream"},
	} {
		t.Run(name, func(t *testing.T) {
			resp := askStream(t, context.Background(), ts, c.body, c.accept)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			evs := readSSE(t, resp.Body)
			require.GreaterOrEqual(t, len(evs), 3)
			var text strings.Builder
			for _, ev := range evs[:len(evs)-1] {
				require.Equal(t, "delta", ev.name)
				var d struct{ Text string }
				require.NoError(t, json.Unmarshal([]byte(ev.data), &d))
				text.WriteString(d.Text)
			}
			last := evs[len(evs)-1]
			require.Equal(t, "done", last.name)
			var done struct {
				Answer    string
				Citations []struct{ N int }
				Passages  []map[string]any
				Usage     struct{ PromptTokens, CompletionTokens int } `json:"usage"`
			}
			require.NoError(t, json.Unmarshal([]byte(last.data), &done))
			require.Equal(t, "Because they sleep in the water [1] and drift [1][2].", text.String())
			require.Equal(t, text.String(), done.Answer)
			require.Len(t, done.Citations, 2)
			require.Equal(t, 1, done.Citations[0].N)
			require.Equal(t, 2, done.Citations[1].N)
			require.NotEmpty(t, done.Passages)
		})
	}

	// gRPC: deltas, then one done.
	st, err := ragv1.NewAnswersClient(ts.conn).Ask(context.Background(), &ragv1.AskRequest{Collection: "kb", Question: "otters", Stream: true})
	require.NoError(t, err)
	var deltas strings.Builder
	var done *ragv1.AskResponse
	for {
		ev, err := st.Recv()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.Nil(t, done, "nothing after done")
		if d := ev.GetDelta(); d != nil {
			deltas.WriteString(d.GetText())
		} else {
			done = ev.GetDone()
		}
	}
	require.NotNil(t, done)
	require.Equal(t, done.GetAnswer(), deltas.String())
}

// TestAskDisconnect: a client that goes away mid-stream cancels the LLM
// request; the fake endpoint sees its connection closed.
func TestAskDisconnect(t *testing.T) {
	llm := chattest.New(chattest.Config{Answer: chattest.Fixed(strings.Repeat("word ", 200)), DeltaDelay: 20 * time.Millisecond})
	defer llm.Close()
	ts := askServer(t, llm, nil)
	ctx, cancel := context.WithCancel(context.Background())
	resp := askStream(t, ctx, ts, `{"question": "otters", "stream": true}`, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "event: delta\n", line)
	cancel()
	_ = resp.Body.Close()
	select {
	case <-llm.Disconnected():
	case <-time.After(10 * time.Second):
		t.Fatal("the LLM request was not cancelled when the client went away")
	}
	require.Less(t, llm.Requests(), 2, "not retried")
}

func TestAskUpstreamErrors(t *testing.T) {
	cases := []struct {
		name       string
		fault      chattest.Fault
		mut        func(*rag.Config)
		want       int
		retryAfter string
		msg        string
	}{
		{"rate limited", chattest.Fault{Status: 429, Message: "slow down", RetryAfter: "70"}, nil, http.StatusTooManyRequests, "70", "slow down"},
		{"server error", chattest.Fault{Status: 500, Message: "model crashed"}, nil, http.StatusBadGateway, "", "model crashed"},
		{"unknown model", chattest.Fault{Status: 404, Message: "no such model"}, nil, http.StatusBadGateway, "", "no such model"},
		{"timeout", chattest.Fault{Delay: 2 * time.Second}, func(c *rag.Config) { c.Timeout = 100 * time.Millisecond; c.MaxAttempts = 1 }, http.StatusGatewayTimeout, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			llm := chattest.New(chattest.Config{Fault: func(int) chattest.Fault { return c.fault }})
			defer llm.Close()
			ts := askServer(t, llm, c.mut)
			req, err := http.NewRequest("POST", ts.url+"/v1/collections/kb/ask", strings.NewReader(`{"question": "otters"}`))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			require.Equal(t, c.want, resp.StatusCode, "%s", b)
			require.Equal(t, c.retryAfter, resp.Header.Get("Retry-After"))
			require.Contains(t, string(b), c.msg)
			require.NotContains(t, string(b), "sk-test-key")
		})
	}

	// gRPC gets the matching codes.
	llm := chattest.New(chattest.Config{Fault: func(int) chattest.Fault { return chattest.Fault{Status: 429, RetryAfter: "30"} }})
	defer llm.Close()
	ts := askServer(t, llm, nil)
	st, err := ragv1.NewAnswersClient(ts.conn).Ask(context.Background(), &ragv1.AskRequest{Collection: "kb", Question: "otters"})
	require.NoError(t, err)
	_, err = st.Recv()
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	require.Equal(t, 30*time.Second, retryAfter(status.Convert(err)))
}

// TestAskMidStreamFailure: when the LLM fails after deltas went out, the
// stream ends with one error event carrying the mapped status.
func TestAskMidStreamFailure(t *testing.T) {
	llm := chattest.New(chattest.Config{Answer: chattest.Fixed("one two three four five"),
		Fault: func(int) chattest.Fault { return chattest.Fault{AfterDeltas: 2, StreamError: "the model fell over"} }})
	defer llm.Close()
	ts := askServer(t, llm, nil)
	resp := askStream(t, context.Background(), ts, `{"question": "otters", "stream": true}`, "")
	defer resp.Body.Close()
	evs := readSSE(t, resp.Body)
	require.GreaterOrEqual(t, len(evs), 3)
	require.Equal(t, "delta", evs[0].name)
	last := evs[len(evs)-1]
	require.Equal(t, "error", last.name)
	require.Contains(t, last.data, "the model fell over")
	for _, ev := range evs {
		require.NotEqual(t, "done", ev.name)
	}
}

// TestAskRole: asking needs the read role.
func TestAskRole(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Auth.Keys = []APIKey{{Name: "r", Role: RoleRead, Key: "read-key-0123456789"}, {Name: "a", Role: RoleAdmin, Key: "admin-key-0123456789"}}
	})
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "kb"}, "Authorization: Bearer admin-key-0123456789")
	code, _ := ts.doJSON(t, "POST", "/v1/collections/kb/ask", map[string]any{"question": "x"})
	require.Equal(t, http.StatusUnauthorized, code)
	code, m := ts.doJSON(t, "POST", "/v1/collections/kb/ask", map[string]any{"question": "x"}, "Authorization: Bearer read-key-0123456789")
	require.Equal(t, http.StatusOK, code, "%v", m)
}

// TestUpsertTruncated: a text longer than the local model's window is
// stored whole and reported as embedded from its first part only.
func TestUpsertTruncated(t *testing.T) {
	ts := startServer(t, nil)
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "loc", "embedder": map[string]any{"provider": "local"}})
	long := strings.Repeat("Sea otters hold hands while they sleep so that they do not drift apart. ", 20)
	m := ts.ok(t, "POST", "/v1/collections/loc/documents", map[string]any{"documents": []map[string]any{
		{"id": "short", "text": "Otters sleep."}, {"id": "long", "text": long}}})
	require.Equal(t, []any{"long"}, m["truncated"])
	got := ts.ok(t, "GET", "/v1/collections/loc/documents/long", nil)
	require.Equal(t, long, got["text"], "stored whole")

	// The stream counts them all.
	st, err := ragv1.NewDocumentsClient(ts.conn).UpsertStream(context.Background())
	require.NoError(t, err)
	for i := range 2 {
		require.NoError(t, st.Send(&ragv1.UpsertDocumentsRequest{Collection: "loc", Documents: []*ragv1.Document{
			{Id: fmt.Sprintf("s%d", i), Text: long}, {Id: fmt.Sprintf("t%d", i), Text: "short"}}}))
	}
	res, err := st.CloseAndRecv()
	require.NoError(t, err)
	require.EqualValues(t, 4, res.GetUpserted())
	require.EqualValues(t, 2, res.GetTruncatedCount())
	require.Equal(t, []string{"s0", "s1"}, res.GetTruncated())

	// The hash embedder reads everything: nothing is cut.
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "h", "embedder": map[string]any{"provider": "hash"}})
	m = ts.ok(t, "POST", "/v1/collections/h/documents", map[string]any{"documents": []map[string]any{{"id": "long", "text": long}}})
	require.Empty(t, m["truncated"])
}
