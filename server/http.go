package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	ragv1 "github.com/ragd/ragd/api/ragv1"
)

// jsonMarshaler is the gateway's JSON: proto field names (snake_case),
// scalars with default values written (0, false, ""), fields with presence
// left out when unset, unknown fields rejected.
var jsonMarshaler = &bodyMarshaler{JSONPb: &runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
	UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
}}

// bodyMarshaler is the gateway's JSONPb with a stricter, better-spoken
// decoder: the body must be one JSON object and nothing after it, and
// every error says it is about the request body and, where the JSON decoder
// gives a position, which field it was reading.
type bodyMarshaler struct{ *runtime.JSONPb }

func (m *bodyMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		var data []byte
		if bb, ok := r.(*bufferedBody); ok {
			data = bb.take() // limitBody read it already: no second copy
		} else {
			var err error
			if data, err = io.ReadAll(r); err != nil {
				return fmt.Errorf("read the request body: %w", err)
			}
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return io.EOF // an empty body is an empty request
		}
		return m.decodeBody(data, v)
	})
}

func (m *bodyMarshaler) decodeBody(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if data[0] != '{' {
		if !json.Valid(data) {
			return jsonProblem(data)
		}
		return fmt.Errorf("request body: want a JSON object, got %s", jsonKind(data[0]))
	}
	var err error
	if pm, ok := v.(proto.Message); ok {
		err = m.UnmarshalOptions.Unmarshal(data, pm) // no copy of the body
	} else {
		err = m.JSONPb.Unmarshal(data, v)
	}
	if err == nil {
		return nil
	}
	// The error path may spend time to say what is wrong: not JSON at all,
	// data after the object, or what protojson says with the field it was
	// reading.
	if !json.Valid(data) {
		return jsonProblem(data)
	}
	msg := strings.TrimPrefix(err.Error(), "proto:")
	msg = strings.TrimLeft(msg, " \u00a0") // protobuf-go varies the space after "proto:"
	if f := fieldAt(data, msg); f != "" && !strings.Contains(msg, "field") {
		msg = fmt.Sprintf("field %s: %s", f, msg)
	}
	if strings.Contains(msg, "unexpected EOF") {
		// protojson's word for a string escape it cannot decode in an
		// otherwise complete body.
		msg = "a string holds an invalid escape (a lone UTF-16 surrogate such as \\ud800?)"
	}
	return fmt.Errorf("request body: %s", msg)
}

// jsonProblem describes a body that is not one JSON value.
func jsonProblem(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var skip json.RawMessage
	err := dec.Decode(&skip)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("request body is not valid JSON: %v at byte %d", err, se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("request body is not valid JSON: it ends too early")
	case err != nil:
		return fmt.Errorf("request body is not valid JSON: %v", err)
	}
	return fmt.Errorf("request body: data after the JSON object at byte %d", dec.InputOffset())
}

// jsonKind names the JSON type that starts with c.
func jsonKind(c byte) string {
	switch c {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// lineCol finds protojson's "(line L:C)" position in an error message.
var lineCol = regexp.MustCompile(`\(line (\d+):(\d+)\)`)

// lastKey finds the last object key of a JSON prefix.
var lastKey = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"\s*:\s*[^"]*$|"((?:[^"\\]|\\.)*)"\s*:\s*"[^"]*$`)

// fieldAt returns the key of the member protojson was reading when it
// failed at the position its message gives, "" if unknown.
func fieldAt(raw []byte, msg string) string {
	mm := lineCol.FindStringSubmatch(msg)
	if mm == nil {
		return ""
	}
	line, _ := strconv.Atoi(mm[1])
	col, _ := strconv.Atoi(mm[2])
	off := 0
	for l := 1; l < line && off < len(raw); off++ {
		if raw[off] == '\n' {
			l++
		}
	}
	off += col - 1
	if off <= 0 || off > len(raw) {
		return ""
	}
	// The key is near: look at the last KiB only (a regexp over a 30 MB
	// prefix takes seconds).
	km := lastKey.FindSubmatch(raw[max(0, off-1024):off])
	if km == nil {
		return ""
	}
	k := km[1]
	if k == nil {
		k = km[2]
	}
	return strconv.Quote(string(k))
}

// forwardedHeaders are the HTTP headers passed to the services as gRPC
// metadata besides the gateway's defaults (Authorization among them).
var forwardedHeaders = map[string]bool{"Api-Key": true, "X-Api-Key": true, "X-Request-Id": true}

func headerMatcher(key string) (string, bool) {
	key = textproto.CanonicalMIMEHeaderKey(key)
	if forwardedHeaders[key] {
		return strings.ToLower(key), true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// gatewayContext is a REST request's context with the headers the gateway
// passes to the services as incoming metadata (the API key, the request
// id), for a handler that calls the services itself.
func gatewayContext(r *http.Request) context.Context {
	md := metadata.MD{}
	for k, vs := range r.Header {
		k = textproto.CanonicalMIMEHeaderKey(k)
		if k == "Authorization" || forwardedHeaders[k] {
			md.Append(strings.ToLower(k), vs...)
		}
	}
	return metadata.NewIncomingContext(r.Context(), md)
}

// newHTTPHandler routes the HTTP port: the gateway for /v1/, the
// OpenAI-compatible /v1/embeddings, and the operational endpoints.
func (s *Server) newHTTPHandler() (http.Handler, error) {
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonMarshaler),
		runtime.WithErrorHandler(func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
			writeStatus(w, status.Convert(err))
		}),
		runtime.WithRoutingErrorHandler(func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
			c := codes.NotFound
			msg := fmt.Sprintf("no such path: %s %s", r.Method, r.URL.Path)
			switch code {
			case http.StatusMethodNotAllowed:
				c, msg = codes.Unimplemented, fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path)
			case http.StatusBadRequest:
				c, msg = codes.InvalidArgument, fmt.Sprintf("malformed path %s", r.URL.Path)
			}
			writeStatusHTTP(w, status.New(c, msg), code)
		}),
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.SetQueryParameterParser(strictQueryParser{}),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
	)
	ctx := context.Background()
	for _, reg := range []func(context.Context, *runtime.ServeMux) error{
		func(ctx context.Context, m *runtime.ServeMux) error {
			return ragv1.RegisterCollectionsHandlerServer(ctx, m, &restCollections{c: s.rest, sv: s.collSv})
		},
		func(ctx context.Context, m *runtime.ServeMux) error {
			return ragv1.RegisterDocumentsHandlerServer(ctx, m, &restDocuments{c: s.rest, d: s.docSv})
		},
	} {
		if err := reg(ctx, gw); err != nil {
			return nil, fmt.Errorf("register the gateway: %w", err)
		}
	}

	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ragd_http_requests_total", Help: "HTTP requests by handler, method and status code.",
	}, []string{"handler", "method", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ragd_http_request_duration_seconds", Help: "Latency of HTTP requests by handler.", Buckets: latencyBuckets,
	}, []string{"handler"})
	if err := errors.Join(s.reg.Register(requests), s.reg.Register(latency)); err != nil {
		return nil, fmt.Errorf("register http metrics: %w", err)
	}
	instrument := func(name string, h http.Handler) http.Handler {
		l := prometheus.Labels{"handler": name}
		return promhttp.InstrumentHandlerDuration(latency.MustCurryWith(l), promhttp.InstrumentHandlerCounter(requests.MustCurryWith(l), h))
	}

	mux := http.NewServeMux()
	mux.Handle("GET /healthz", instrument("healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})))
	mux.Handle("GET /readyz", instrument("readyz", http.HandlerFunc(s.readyz)))
	mux.Handle("GET /metrics", instrument("metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg, EnableOpenMetrics: true})))
	mux.Handle("GET /openapi.json", instrument("openapi", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ragv1.OpenAPI)
	})))
	mux.Handle("POST /v1/embeddings", instrument("embeddings", s.limitBody(http.HandlerFunc(s.openAIEmbeddings), writeOpenAIErrorHTTP)))
	mux.Handle("POST /v1/collections/{collection}/ask", instrument("ask", s.limitBody(http.HandlerFunc(s.restAsk), writeStatusHTTP)))
	mux.Handle("/v1/", instrument("api", s.limitBody(gw, writeStatusHTTP)))
	mux.Handle("/", instrument("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeStatusHTTP(w, status.Newf(codes.NotFound, "no such path: %s %s", r.Method, r.URL.Path), http.StatusNotFound)
	})))
	return s.tracer.httpHandler(withRequestID(recoverHTTP(s, s.guardOrigin(mux)))), nil
}

// readyz answers 200 once the index is open, 503 before and while
// stopping.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case s.stopping.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "shutting down\n")
	case s.ix.Load() == nil:
		w.WriteHeader(http.StatusServiceUnavailable)
		select {
		case <-s.loaded:
			_, _ = io.WriteString(w, "the index failed to open; see the log\n")
		default:
			_, _ = io.WriteString(w, "loading the index\n")
		}
	default:
		_, _ = io.WriteString(w, "ready\n")
	}
}

// limitBody admits a request with a body and reads it whole before any
// decoding: a request without a valid key (when keys are configured) is
// refused before its body is read; a body over MaxBodyBytes gets 413; the
// bodies buffered at once stay within MaxBufferedBytes (429 beyond).
func (s *Server) limitBody(next http.Handler, writeErr func(http.ResponseWriter, *status.Status, int)) http.Handler {
	limit := int64(s.cfg.Limits.MaxBodyBytes)
	tooLarge := func(w http.ResponseWriter, n string) {
		writeErr(w, status.Newf(codes.ResourceExhausted, "request body of %s bytes exceeds the limit of %d bytes (--max-body-bytes)", n, limit), http.StatusRequestEntityTooLarge)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.auth.checkHeader(r.Header); err != nil {
			st := status.Convert(err)
			writeErr(w, st, httpStatus(st.Code()))
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			tooLarge(w, strconv.FormatInt(r.ContentLength, 10))
			return
		}
		busy := func() {
			writeErr(w, toStatus(&retryError{code: codes.ResourceExhausted, after: time.Second,
				msg: fmt.Sprintf("request bodies in flight exceed %d bytes (--max-buffered-bytes); retry", s.cfg.Limits.MaxBufferedBytes)}), http.StatusTooManyRequests)
		}
		// A body of known length is budgeted at once; a chunked one as it
		// arrives, in growing steps, so that slow uploads hold only what
		// they have sent.
		held := r.ContentLength
		if held < 0 {
			held = min(chunkStep, limit)
		}
		if !s.bodies.TryAcquire(held) {
			busy()
			return
		}
		defer func() { s.bodies.Release(held) }()
		buf := bytes.NewBuffer(make([]byte, 0, held+bytes.MinRead))
		body := io.Reader(http.MaxBytesReader(w, r.Body, limit))
		if r.ContentLength < 0 {
			body = &budgetedReader{r: body, buf: buf, grow: func(n int64) bool {
				more := min(max(n, held), limit+1-held) // double, up to the limit (+1: MaxBytesReader's probe)
				if more <= 0 || !s.bodies.TryAcquire(more) {
					return false
				}
				held += more
				return true
			}, held: func() int64 { return held }}
		}
		_, err := buf.ReadFrom(body)
		if errors.Is(err, errBudget) {
			busy()
			return
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge(w, "more than "+strconv.FormatInt(limit, 10))
			return
		}
		if err != nil {
			writeErr(w, status.Newf(codes.InvalidArgument, "read the request body: %v", err), http.StatusBadRequest)
			return
		}
		r.Body = &bufferedBody{Reader: bytes.NewReader(buf.Bytes()), b: buf.Bytes()}
		r.ContentLength = int64(buf.Len())
		next.ServeHTTP(w, r)
	})
}

// chunkStep is the first budget of a chunked request body.
const chunkStep = 64 << 10

// errBudget: a chunked body outgrew what the buffered-bytes budget had
// left.
var errBudget = errors.New("buffered-bytes budget exhausted")

// budgetedReader reads a body into buf, asking grow for more budget
// before buf holds more than held bytes.
type budgetedReader struct {
	r    io.Reader
	buf  *bytes.Buffer
	grow func(need int64) bool
	held func() int64
}

func (b *budgetedReader) Read(p []byte) (int, error) {
	if int64(b.buf.Len()+len(p)) > b.held() && !b.grow(int64(b.buf.Len()+len(p))-b.held()) {
		if int64(b.buf.Len()) >= b.held() {
			return 0, errBudget
		}
		p = p[:b.held()-int64(b.buf.Len())]
	}
	return b.r.Read(p)
}

// bufferedBody is a request body read whole by limitBody; the gateway's
// decoder takes its bytes as they are.
type bufferedBody struct {
	*bytes.Reader
	b []byte
}

// take returns the bytes not read yet and consumes them.
func (bb *bufferedBody) take() []byte {
	rest := bb.b[len(bb.b)-bb.Len():]
	bb.Reset(nil)
	return rest
}

func (bb *bufferedBody) Close() error { return nil }

// guardOrigin refuses what a browser page of another origin could make the
// server do: non-safe cross-origin requests (http.CrossOriginProtection:
// Sec-Fetch-Site, or Origin against Host), and, on a server without API
// keys, any Host but a loopback name (a DNS-rebinding page reaches
// 127.0.0.1 under its own name).
func (s *Server) guardOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeStatusHTTP(w, status.Newf(codes.PermissionDenied, "cross-origin %s from a browser refused", r.Method), http.StatusForbidden)
	}))
	h := cop.Handler(next)
	if len(s.cfg.Auth.Keys) > 0 || s.cfg.Auth.AllowUnauthenticated {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		if !loopbackHost(host) {
			writeStatusHTTP(w, status.Newf(codes.PermissionDenied, "host %q refused: a server without API keys answers to loopback names only (localhost, 127.0.0.1, [::1]); configure API keys to serve others", r.Host), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// withRequestID gives every HTTP request an id (the client's X-Request-Id
// when valid), passed on to the services and returned in the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestID(map[string][]string{requestIDKey: r.Header.Values("X-Request-Id")})
		r.Header.Set("X-Request-Id", id)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r)
	})
}

// recoverHTTP turns a panic in an HTTP handler into a 500 and a log line.
func recoverHTTP(s *Server, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger.Error("panic in http handler", "path", r.URL.Path, "request_id", r.Header.Get("X-Request-Id"), "err", p)
				writeStatusHTTP(w, status.New(codes.Internal, "internal error; see the server log"), http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// httpStatus is the HTTP status of a gRPC code (grpc-gateway's mapping:
// InvalidArgument 400, Unauthenticated 401, PermissionDenied 403, NotFound
// 404, AlreadyExists 409, ResourceExhausted 429, Unavailable 503, …).
func httpStatus(c codes.Code) int { return runtime.HTTPStatusFromCode(c) }

// writeStatus writes a status as the REST error body.
func writeStatus(w http.ResponseWriter, st *status.Status) {
	writeStatusHTTP(w, st, httpStatus(st.Code()))
}

// writeStatusHTTP writes {code, message, details} — google.rpc.Status in
// JSON, code being the gRPC code — with the given HTTP status, and
// Retry-After when the status carries a RetryInfo.
func writeStatusHTTP(w http.ResponseWriter, st *status.Status, httpCode int) {
	setErrorHeaders(w, st)
	body, err := jsonMarshaler.Marshal(st.Proto())
	if err != nil {
		body = []byte(`{"code":13,"message":"internal error: marshal the error"}`)
		httpCode = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(httpCode)
	_, _ = w.Write(body)
}

// setErrorHeaders sets the headers an error status asks for, whatever the
// body's format: Retry-After (rounded up to seconds) when it carries a
// RetryInfo, WWW-Authenticate on Unauthenticated.
func setErrorHeaders(w http.ResponseWriter, st *status.Status) {
	if d := retryAfter(st); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	}
	if st.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ragd"`)
	}
}

// strictQueryParser is the gateway's query parser, refusing parameters that
// name no field of the request (a typo like ?limt=5 is an error, not a
// silently ignored option).
type strictQueryParser struct{ runtime.DefaultQueryParser }

func (p strictQueryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	fields := msg.ProtoReflect().Descriptor().Fields()
	for key := range values {
		name, _, _ := strings.Cut(key, ".")
		if fields.ByName(protoreflect.Name(name)) == nil && fields.ByJSONName(name) == nil {
			var names []string
			for i := range fields.Len() {
				names = append(names, string(fields.Get(i).Name()))
			}
			return fmt.Errorf("unknown query parameter %q (this method takes %s)", key, strings.Join(names, ", "))
		}
	}
	return p.DefaultQueryParser.Parse(msg, values, filter)
}
