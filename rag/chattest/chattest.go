// Package chattest is a fake OpenAI-compatible chat completions server for
// tests, in the manner of net/http/httptest and embed/openaitest: it
// speaks the wire format of POST /v1/chat/completions, answers with a text
// of the test's choosing — whole, or streamed as Server-Sent Events — and
// injects faults on request: error statuses with Retry-After, delays,
// malformed bodies, connections dropped or stalled mid-stream, error events.
// It records every request (the messages, so that a test can read the
// prompt) and notices clients that go away before their answer is done.
//
// Request body: {"model", "messages": [{"role", "content"}], "stream",
// "stream_options": {"include_usage"}, "max_tokens",
// "max_completion_tokens", "temperature"}.
//
// Answer: {"id", "object": "chat.completion", "created", "model",
// "choices": [{"index": 0, "message": {"role": "assistant", "content"},
// "finish_reason"}], "usage": {"prompt_tokens", "completion_tokens",
// "total_tokens"}}.
//
// Streamed answer: "data: CHUNK\n\n" lines, each chunk {"id", "object":
// "chat.completion.chunk", "created", "model", "choices": [{"index": 0,
// "delta": {"role"?, "content"?}, "finish_reason"}]}: the first with the
// role, one per delta, one with the finish reason and an empty delta, then,
// when the request asked for stream_options.include_usage, one with empty
// choices and the usage; then "data: [DONE]\n\n".
//
// Errors are OpenAI's {"error": {"message", "type", "code"}}. Token counts
// are deterministic, not a real tokenizer's: a prompt token per four bytes
// of message content (rounded up, per message), a completion token per
// delta.
//
// A Server is safe for concurrent use.
package chattest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultAnswer is the answer of a Server whose Config has no Answer.
const DefaultAnswer = "The sources answer the question [1]."

// Config configures New. The zero value answers DefaultAnswer to any model
// and key, at once.
type Config struct {
	// Models, if set, are the only models served: others get 404
	// model_not_found.
	Models []string
	// APIKey, if set, must come as "Authorization: Bearer KEY"; otherwise
	// 401 invalid_api_key.
	APIKey string
	// Answer gives the answer to a request; default DefaultAnswer. Fixed
	// returns one that gives a fixed text.
	Answer func(Request) string
	// Split cuts an answer into the deltas of a stream; default Words.
	Split func(answer string) []string
	// DeltaDelay is waited before each delta of a stream (cut short if the
	// client goes).
	DeltaDelay time.Duration
	// NoUsage leaves the usage out of every answer, as some servers do when
	// streaming.
	NoUsage bool
	// RejectStreamOptions answers 400 to a request with stream_options, as
	// servers that predate it do.
	RejectStreamOptions bool
	// Fault, if set, gives the fault of request n (1 for the first).
	Fault func(n int) Fault
}

// Fault is what goes wrong with one request. The zero Fault is a normal
// answer.
type Fault struct {
	// Delay is waited before anything is sent (cut short if the client
	// goes): a first-byte timeout.
	Delay time.Duration
	// Status, if set, answers with this status and an OpenAI error body
	// carrying Message.
	Status  int
	Message string
	// RetryAfter and RetryAfterMs, if set, are sent as the Retry-After and
	// retry-after-ms headers (with Status).
	RetryAfter, RetryAfterMs string
	// Location, if set, is sent as the Location header (with a 3xx Status).
	Location string
	// Body, if set, is sent as the body of a 200 answer instead of the
	// answer: malformed JSON, or a malformed stream.
	Body string
	// AfterDeltas is the number of deltas streamed before Hangup, Stall or
	// StreamError strike (0: before the first).
	AfterDeltas int
	// Hangup closes the connection: without an answer, or after
	// AfterDeltas deltas of a stream.
	Hangup bool
	// Stall, in a stream, sends nothing after AfterDeltas deltas and holds
	// the connection until the client goes: an idle timeout.
	Stall bool
	// StreamError, in a stream, sends an error event with this message
	// after AfterDeltas deltas, and ends the stream.
	StreamError string
}

// Script returns a Config.Fault giving faults[n-1] to request n and no
// fault after the last.
func Script(faults ...Fault) func(int) Fault {
	return func(n int) Fault {
		if n <= len(faults) {
			return faults[n-1]
		}
		return Fault{}
	}
}

// Fixed returns a Config.Answer that always answers text.
func Fixed(text string) func(Request) string {
	return func(Request) string { return text }
}

// Words cuts an answer into deltas of one word each, the spaces after a
// word going with it (and any before the first word with that word), as
// real streams roughly do.
func Words(answer string) []string {
	var out []string
	start, word := 0, false
	for i := 0; i < len(answer); i++ {
		if answer[i] == ' ' {
			continue
		}
		if word && answer[i-1] == ' ' {
			out = append(out, answer[start:i])
			start = i
		}
		word = true
	}
	if start < len(answer) {
		out = append(out, answer[start:])
	}
	return out
}

// Message is one chat message of a request.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is what the server received.
type Request struct {
	// N is the request's number, 1 for the first.
	N      int
	Path   string
	Header http.Header
	// Body is the raw body.
	Body     []byte
	Model    string
	Messages []Message
	Stream   bool
	// IncludeUsage is stream_options.include_usage; HasStreamOptions tells
	// whether stream_options was sent at all.
	IncludeUsage, HasStreamOptions bool
	MaxTokens, MaxCompletionTokens int
	// Temperature is nil when the request had none.
	Temperature *float64
}

// Content returns the content of the first message of the role, "" if
// none.
func (r Request) Content(role string) string {
	for _, m := range r.Messages {
		if m.Role == role {
			return m.Content
		}
	}
	return ""
}

// Server is the fake. Its URL field is the server root; BaseURL is the one
// to configure a client with.
type Server struct {
	*httptest.Server
	cfg  Config
	gone chan int

	mu struct {
		sync.Mutex
		requests    []Request
		disconnects int
	}
}

// New starts a Server; Close it when done.
func New(cfg Config) *Server {
	if cfg.Answer == nil {
		cfg.Answer = Fixed(DefaultAnswer)
	}
	if cfg.Split == nil {
		cfg.Split = Words
	}
	s := &Server{cfg: cfg, gone: make(chan int, 1024)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is URL + "/v1", the client's base URL.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Requests returns the number of requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.requests)
}

// Log returns a copy of the requests received, in arrival order.
func (s *Server) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.mu.requests...)
}

// Last returns the last request received; the zero Request if none.
func (s *Server) Last() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.mu.requests) == 0 {
		return Request{}
	}
	return s.mu.requests[len(s.mu.requests)-1]
}

// Disconnects returns the number of requests whose client went away before
// the server was done with them.
func (s *Server) Disconnects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.disconnects
}

// Disconnected receives the number (Request.N) of each request whose
// client went away before the server was done with it — noticed while the
// server waits (Delay, DeltaDelay, Stall) or when a write fails. It holds
// the last 1,024 unread.
func (s *Server) Disconnected() <-chan int { return s.gone }

func (s *Server) disconnected(n int) {
	s.mu.Lock()
	s.mu.disconnects++
	s.mu.Unlock()
	select {
	case s.gone <- n:
	default:
	}
}

// body is the decoded request body.
type body struct {
	Model         string    `json:"model"`
	Messages      []Message `json:"messages"`
	Stream        bool      `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           int      `json:"max_tokens"`
	MaxCompletionTokens int      `json:"max_completion_tokens"`
	Temperature         *float64 `json:"temperature"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var raw bytes.Buffer
	var b body
	decodeErr := json.NewDecoder(io.TeeReader(r.Body, &raw)).Decode(&b)
	req := Request{Path: r.URL.Path, Header: r.Header.Clone(), Model: b.Model, Messages: b.Messages,
		Stream: b.Stream, MaxTokens: b.MaxTokens, MaxCompletionTokens: b.MaxCompletionTokens, Temperature: b.Temperature}
	if b.StreamOptions != nil {
		req.HasStreamOptions, req.IncludeUsage = true, b.StreamOptions.IncludeUsage
	}
	req.Body = raw.Bytes()
	s.mu.Lock()
	req.N = len(s.mu.requests) + 1
	s.mu.requests = append(s.mu.requests, req)
	s.mu.Unlock()

	var f Fault
	if s.cfg.Fault != nil {
		f = s.cfg.Fault(req.N)
	}
	if !s.sleep(r, req.N, f.Delay) {
		return
	}
	switch {
	case f.Hangup && (!req.Stream || f.Status != 0 || f.Body != ""):
		hangup(w)
		return
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		if f.RetryAfterMs != "" {
			w.Header().Set("Retry-After-Ms", f.RetryAfterMs)
		}
		if f.Location != "" {
			w.Header().Set("Location", f.Location)
		}
		msg := f.Message
		if msg == "" {
			msg = http.StatusText(f.Status)
		}
		apiError(w, f.Status, "injected_error", "", msg)
		return
	case r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions"):
		apiError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "Unknown request URL: "+r.Method+" "+r.URL.Path)
		return
	case s.cfg.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.APIKey:
		apiError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
		return
	case decodeErr != nil:
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "We could not parse the JSON body of your request: "+decodeErr.Error())
		return
	case b.Model == "":
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "you must provide a model parameter")
		return
	case len(s.cfg.Models) > 0 && !slices.Contains(s.cfg.Models, b.Model):
		apiError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", b.Model))
		return
	case len(b.Messages) == 0:
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "'messages' must contain at least one message")
		return
	case s.cfg.RejectStreamOptions && b.StreamOptions != nil:
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "Unrecognized request argument supplied: stream_options")
		return
	}
	if f.Body != "" {
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		_, _ = w.Write([]byte(f.Body))
		return
	}
	deltas := s.cfg.Split(s.cfg.Answer(req))
	finish := "stop"
	if limit := max(b.MaxTokens, b.MaxCompletionTokens); limit > 0 && len(deltas) > limit {
		deltas, finish = deltas[:limit], "length"
	}
	prompt := 0
	for _, m := range b.Messages {
		prompt += (len(m.Content) + 3) / 4
	}
	u := usage{PromptTokens: prompt, CompletionTokens: len(deltas), TotalTokens: prompt + len(deltas)}
	if req.Stream {
		s.stream(w, r, req, b, f, deltas, finish, u)
		return
	}
	ans := completion{ID: "chatcmpl-fake", Object: "chat.completion", Model: b.Model,
		Choices: []choice{{Message: &Message{Role: "assistant", Content: strings.Join(deltas, "")}, FinishReason: &finish}}}
	if !s.cfg.NoUsage {
		ans.Usage = &u
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

// stream sends the answer as Server-Sent Events.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, req Request, b body, f Fault, deltas []string, finish string, u usage) {
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(c completion) bool {
		data, _ := json.Marshal(c)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			s.disconnected(req.N)
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	chunk := func(d delta, fin *string) completion {
		return completion{ID: "chatcmpl-fake", Object: "chat.completion.chunk", Model: b.Model,
			Choices: []choice{{Delta: &d, FinishReason: fin}}}
	}
	if !send(chunk(delta{Role: "assistant"}, nil)) {
		return
	}
	faulty := f.Hangup || f.Stall || f.StreamError != ""
	for i, d := range deltas {
		if faulty && i == f.AfterDeltas {
			break
		}
		if !s.sleep(r, req.N, s.cfg.DeltaDelay) || !send(chunk(delta{Content: d}, nil)) {
			return
		}
	}
	switch {
	case f.Hangup:
		hangup(w)
		return
	case f.Stall:
		<-r.Context().Done()
		s.disconnected(req.N)
		return
	case f.StreamError != "":
		data, _ := json.Marshal(map[string]any{"error": map[string]any{"message": f.StreamError, "type": "server_error", "code": nil}})
		_, _ = fmt.Fprintf(w, "data: %s\n\n", data)
		if fl != nil {
			fl.Flush()
		}
		return
	}
	if !send(chunk(delta{}, &finish)) {
		return
	}
	if req.IncludeUsage && !s.cfg.NoUsage {
		if !send(completion{ID: "chatcmpl-fake", Object: "chat.completion.chunk", Model: b.Model, Choices: []choice{}, Usage: &u}) {
			return
		}
	}
	if _, err := fmt.Fprint(w, "data: [DONE]\n\n"); err != nil {
		s.disconnected(req.N)
		return
	}
	if fl != nil {
		fl.Flush()
	}
}

// The wire types.
type (
	completion struct {
		ID      string   `json:"id"`
		Object  string   `json:"object"`
		Created int64    `json:"created"`
		Model   string   `json:"model"`
		Choices []choice `json:"choices"`
		Usage   *usage   `json:"usage,omitempty"`
	}
	choice struct {
		Index        int      `json:"index"`
		Message      *Message `json:"message,omitempty"`
		Delta        *delta   `json:"delta,omitempty"`
		FinishReason *string  `json:"finish_reason"`
	}
	delta struct {
		Role    string `json:"role,omitempty"`
		Content string `json:"content,omitempty"`
	}
	usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	}
)

func apiError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var c any
	if code != "" {
		c = code
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": c}})
}

// hangup closes the connection, mid-answer if one was started: the client
// sees a body cut short.
func hangup(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// sleep waits d unless the client goes away first; it reports whether the
// client is still there.
func (s *Server) sleep(r *http.Request, n int, d time.Duration) bool {
	if d <= 0 {
		if r.Context().Err() != nil {
			s.disconnected(n)
			return false
		}
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		s.disconnected(n)
		return false
	}
}
