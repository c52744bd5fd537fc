// Package openaitest is a fake OpenAI-compatible embeddings server for
// tests and benchmarks, in the manner of net/http/httptest: it speaks the
// wire format of POST /v1/embeddings (and Azure's
// /openai/deployments/NAME/embeddings), returns deterministic vectors
// (Vector), and injects faults on request: error statuses with Retry-After,
// delays, malformed bodies, wrong counts and dimensions, NaN, dropped
// connections. It also enforces a latency and a limit of requests in
// flight, for throughput benchmarks.
//
// Request body: {"input": "text" | ["text", …], "model": "…",
// "dimensions": N?, "encoding_format": "float" | "base64"?}.
// Response: {"object": "list", "data": [{"object": "embedding", "index": i,
// "embedding": [floats] | "base64"}], "model": "…", "usage":
// {"prompt_tokens": n, "total_tokens": n}}; errors are OpenAI's
// {"error": {"message", "type", "code"}}.
//
// A Server is safe for concurrent use.
package openaitest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures New. The zero value serves 8-dimensional vectors for
// any model and key, at once.
type Config struct {
	// Dimension is the vector length when a request has no "dimensions".
	// Default 8.
	Dimension int
	// Model, if set, is the only model served: others get 404
	// model_not_found.
	Model string
	// APIKey, if set, must come as "Authorization: Bearer KEY" or an
	// "api-key" header (Azure); otherwise 401 invalid_api_key.
	APIKey string
	// Latency is the time from a request's arrival to its answer, the
	// server's own work included (cut short if the client goes).
	Latency time.Duration
	// MaxInFlight, if positive, is the most requests the server handles at
	// once: a request beyond it is answered 500 and counted in Violations.
	MaxInFlight int
	// MaxBatch, if positive, is the most inputs per request: more get 422
	// (as Hugging Face TEI does).
	MaxBatch int
	// Reverse returns the vectors in reverse order (each with its right
	// index), so that a client placing them by position, not by index, is
	// caught.
	Reverse bool
	// FloatsOnly ignores "encoding_format" and answers with JSON floats, as
	// servers without base64 support do. RejectBase64 answers a base64
	// request with 422 instead, as strict servers do.
	FloatsOnly, RejectBase64 bool
	// Fault, if set, gives the fault of request n (1 for the first).
	Fault func(n int) Fault
}

// Fault is what goes wrong with one request. The zero Fault is a normal
// answer.
type Fault struct {
	// Delay is waited before anything else (cut short if the client goes).
	Delay time.Duration
	// Status, if set, answers with this status and an OpenAI error body
	// carrying Message.
	Status  int
	Message string
	// RetryAfter, if set, is sent as the Retry-After header (with Status).
	RetryAfter string
	// Body, if set, is sent as the body of a 200 answer instead of the
	// vectors (malformed JSON).
	Body string
	// DropVector returns one vector fewer than inputs.
	DropVector bool
	// ShortVector returns the last vector one value short.
	ShortVector bool
	// DuplicateIndex gives the last vector the first one's index.
	DuplicateIndex bool
	// NaN sets the first value of the first vector to NaN: NaN bits in
	// base64, the literal NaN (which JSON does not allow) in floats.
	NaN bool
	// Hangup closes the connection without an answer.
	Hangup bool
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

// Request is what the server received.
type Request struct {
	Path, RawQuery string
	Header         http.Header
	Model          string
	Input          []string
	Dimensions     int
	EncodingFormat string
}

// Server is the fake. Its URL field is the server root; BaseURL is the one
// to configure a client with.
type Server struct {
	*httptest.Server
	cfg Config

	mu struct {
		sync.Mutex
		requests    []Request
		inFlight    int
		maxInFlight int
		violations  int
		texts       int
	}
}

// New starts a Server; Close it when done.
func New(cfg Config) *Server {
	if cfg.Dimension <= 0 {
		cfg.Dimension = 8
	}
	s := &Server{cfg: cfg}
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

// Texts returns the number of inputs embedded in successful answers.
func (s *Server) Texts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.texts
}

// MaxInFlightSeen returns the most requests that were in flight at once.
func (s *Server) MaxInFlightSeen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.maxInFlight
}

// Violations returns the number of requests refused for exceeding
// MaxInFlight.
func (s *Server) Violations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.violations
}

// Vector is the deterministic vector the server returns for text: values
// in [-1, 1) from a generator seeded by the text's FNV-1a hash.
func Vector(text string, dim int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(text))
	x := h.Sum64() | 1
	v := make([]float32, dim)
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = float32(int32(x>>32)) / (1 << 31)
	}
	return v
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	arrival := time.Now()
	s.mu.Lock()
	s.mu.inFlight++
	s.mu.maxInFlight = max(s.mu.maxInFlight, s.mu.inFlight)
	over := s.cfg.MaxInFlight > 0 && s.mu.inFlight > s.cfg.MaxInFlight
	if over {
		s.mu.violations++
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.mu.inFlight--
		s.mu.Unlock()
	}()

	var body struct {
		Input          any    `json:"input"` // a string or an array of strings
		Model          string `json:"model"`
		Dimensions     int    `json:"dimensions"`
		EncodingFormat string `json:"encoding_format"`
	}
	decodeErr := json.NewDecoder(r.Body).Decode(&body)
	req := Request{Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Model: body.Model,
		Dimensions: body.Dimensions, EncodingFormat: body.EncodingFormat}
	if decodeErr == nil {
		switch in := body.Input.(type) {
		case string:
			req.Input = []string{in}
		case []any:
			req.Input = make([]string, len(in))
			for i, x := range in {
				s, ok := x.(string)
				if !ok {
					decodeErr = fmt.Errorf("input %d is not a string", i)
					break
				}
				req.Input[i] = s
			}
		case nil:
		default:
			decodeErr = fmt.Errorf("input is a %T, not a string or an array", in)
		}
	}
	s.mu.Lock()
	s.mu.requests = append(s.mu.requests, req)
	n := len(s.mu.requests)
	s.mu.Unlock()

	var f Fault
	if s.cfg.Fault != nil {
		f = s.cfg.Fault(n)
	}
	if !sleep(r, f.Delay) {
		return
	}
	switch {
	case f.Hangup:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case over:
		apiError(w, http.StatusInternalServerError, "server_error", "", fmt.Sprintf("more than %d requests in flight", s.cfg.MaxInFlight))
		return
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		msg := f.Message
		if msg == "" {
			msg = http.StatusText(f.Status)
		}
		apiError(w, f.Status, "injected_error", "", msg)
		return
	case r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/embeddings"):
		apiError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "Unknown request URL: "+r.Method+" "+r.URL.Path)
		return
	case s.cfg.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.APIKey && r.Header.Get("api-key") != s.cfg.APIKey:
		apiError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
		return
	case decodeErr != nil:
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "We could not parse the JSON body of your request: "+decodeErr.Error())
		return
	case s.cfg.Model != "" && body.Model != s.cfg.Model:
		apiError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", body.Model))
		return
	case len(req.Input) == 0:
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "'$.input' is invalid.")
		return
	case s.cfg.MaxBatch > 0 && len(req.Input) > s.cfg.MaxBatch:
		apiError(w, http.StatusUnprocessableEntity, "validation", "", fmt.Sprintf("batch size %d > maximum allowed batch size %d", len(req.Input), s.cfg.MaxBatch))
		return
	}
	if s.cfg.RejectBase64 && body.EncodingFormat == "base64" {
		apiError(w, http.StatusUnprocessableEntity, "validation", "", "encoding_format: unknown variant `base64`, expected `float`")
		return
	}
	for i, t := range req.Input {
		if t == "" {
			apiError(w, http.StatusBadRequest, "invalid_request_error", "", fmt.Sprintf("'$.input[%d]' is invalid: empty string.", i))
			return
		}
	}
	answer := []byte(f.Body)
	if f.Body == "" {
		dim := s.cfg.Dimension
		if body.Dimensions > 0 {
			dim = body.Dimensions
		}
		format := req.EncodingFormat
		if s.cfg.FloatsOnly {
			format = "float"
		}
		answer = s.answer(req.Input, req.Model, format, dim, f)
	}
	// The answer is ready Latency after the request arrived, however long
	// it took to make.
	if !sleep(r, time.Until(arrival.Add(s.cfg.Latency))) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	_, _ = w.Write(answer)
	if f.Body != "" {
		return
	}
	s.mu.Lock()
	s.mu.texts += len(req.Input)
	s.mu.Unlock()
}

// answer writes the success body by hand: JSON cannot carry the NaN of
// Fault.NaN, and hand-written floats are faster, which matters to
// throughput benchmarks.
func (s *Server) answer(input []string, model, format string, dim int, f Fault) []byte {
	n := len(input)
	order := make([]int, 0, n)
	for i := range n {
		order = append(order, i)
	}
	if s.cfg.Reverse {
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			order[i], order[j] = order[j], order[i]
		}
	}
	if f.DropVector {
		order = order[:n-1]
	}
	perValue := 12 // "-0.12345678,"
	if format == "base64" {
		perValue = 6 // 4 bytes in base64
	}
	b := make([]byte, 0, 128+n*(48+dim*perValue))
	b = append(b, `{"object":"list","data":[`...)
	tokens := 0
	for k, i := range order {
		tokens += (len(input[i]) + 3) / 4
		v := Vector(input[i], dim)
		if f.ShortVector && k == len(order)-1 {
			v = v[:dim-1]
		}
		if f.NaN && k == 0 {
			v[0] = float32(math.NaN())
		}
		index := i
		if f.DuplicateIndex && k == len(order)-1 && k > 0 {
			index = order[0]
		}
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(index), 10)
		b = append(b, `,"embedding":`...)
		if format == "base64" {
			raw := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(x))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for j, x := range v {
				if j > 0 {
					b = append(b, ',')
				}
				if math.IsNaN(float64(x)) {
					b = append(b, "NaN"...)
					continue
				}
				b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	m, _ := json.Marshal(model)
	b = append(b, m...)
	b = fmt.Appendf(b, `,"usage":{"prompt_tokens":%d,"total_tokens":%d}}`, tokens, tokens)
	return b
}

func apiError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var c any
	if code != "" {
		c = code
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": c}})
}

// sleep waits d unless the client goes away first; it reports whether the
// client is still there.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
