package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	ragv1 "github.com/ragd/ragd/api/ragv1"
)

// restClient is the client over ragd's REST API, for when only the HTTP
// port is reachable. Failures come back as gRPC statuses decoded from
// ragd's error bodies ({code, message, details}).
type restClient struct {
	base *url.URL
	key  string
	hc   *http.Client
}

func newRESTClient(base *url.URL, key string, timeout time.Duration) *restClient {
	b := *base
	b.Path = strings.TrimRight(b.Path, "/")
	return &restClient{base: &b, key: key, hc: &http.Client{Timeout: timeout}}
}

func (c *restClient) Transport() string { return "rest " + c.base.String() }

func (c *restClient) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

var (
	restMarshal   = protojson.MarshalOptions{UseProtoNames: true}
	restUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// ping checks that the server answers /healthz.
func (c *restClient) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz answered %s", resp.Status)
	}
	return nil
}

// seg escapes one path segment (a collection name or document id; ids may
// hold slashes, which the server's {id=**} takes escaped).
func seg(s string) string { return url.PathEscape(s) }

// do sends one call: body (nil for none) as JSON, the answer decoded into
// out (nil to discard).
func (c *restClient) do(ctx context.Context, method, path string, query url.Values, body, out proto.Message) error {
	resp, err := c.send(ctx, method, path, query, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return status.Errorf(codes.Unavailable, "read the answer of %s %s: %v", method, path, err)
	}
	if out == nil {
		return nil
	}
	if err := restUnmarshal.Unmarshal(data, out); err != nil {
		return status.Errorf(codes.Internal, "%s %s answered what is not a %s: %v", method, path, out.ProtoReflect().Descriptor().Name(), err)
	}
	return nil
}

// send makes a request and returns a 2xx response; any other status is
// returned as the error the body describes.
func (c *restClient) send(ctx context.Context, method, path string, query url.Values, body proto.Message, accept string) (*http.Response, error) {
	u := c.base.String() + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := restMarshal.Marshal(body)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "encode the request: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Errorf(codes.Unavailable, "%s %s: %v", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, errorFromBody(resp)
}

// errorFromBody decodes ragd's REST error body into a status; a body that
// is not one (a proxy's page) gives the HTTP status's nearest code.
func errorFromBody(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var p spb.Status
	if err := restUnmarshal.Unmarshal(data, &p); err == nil && p.GetMessage() != "" {
		return status.FromProto(&p).Err()
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return status.Errorf(codeOfHTTP(resp.StatusCode), "HTTP %s: %s", resp.Status, msg)
}

func codeOfHTTP(c int) codes.Code {
	switch c {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusConflict:
		return codes.AlreadyExists
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return codes.Unavailable
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	}
	return codes.Unknown
}

func (c *restClient) CreateCollection(ctx context.Context, r *ragv1.CreateCollectionRequest) (*ragv1.Collection, error) {
	out := new(ragv1.Collection)
	return out, c.do(ctx, http.MethodPost, "/v1/collections", nil, r, out)
}

func (c *restClient) ListCollections(ctx context.Context) (*ragv1.ListCollectionsResponse, error) {
	out := new(ragv1.ListCollectionsResponse)
	return out, c.do(ctx, http.MethodGet, "/v1/collections", nil, nil, out)
}

func (c *restClient) GetCollection(ctx context.Context, name string) (*ragv1.Collection, error) {
	out := new(ragv1.Collection)
	return out, c.do(ctx, http.MethodGet, "/v1/collections/"+seg(name), nil, nil, out)
}

func (c *restClient) CalibrateCollection(ctx context.Context, name string) (*ragv1.Collection, error) {
	out := new(ragv1.Collection)
	return out, c.do(ctx, http.MethodPost, "/v1/collections/"+seg(name)+":calibrate", nil, nil, out)
}

func (c *restClient) DropCollection(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/collections/"+seg(name), nil, nil, nil)
}

func (c *restClient) Upsert(ctx context.Context, r *ragv1.UpsertDocumentsRequest) (*ragv1.UpsertDocumentsResponse, error) {
	body := &ragv1.UpsertDocumentsRequest{Documents: r.GetDocuments()}
	out := new(ragv1.UpsertDocumentsResponse)
	return out, c.do(ctx, http.MethodPost, "/v1/collections/"+seg(r.GetCollection())+"/documents", nil, body, out)
}

// UpsertStream over REST: each batch is one upsert call, made at Send.
func (c *restClient) UpsertStream(ctx context.Context) (upsertStream, error) {
	return &restStream{c: c, ctx: ctx}, nil
}

// restStream makes a stream of unary calls; a failure is kept for
// CloseAndRecv, as a gRPC stream reports it, and later Sends fail.
type restStream struct {
	c    *restClient
	ctx  context.Context
	coll string
	resp ragv1.UpsertStreamResponse
	n    int
	err  error
}

func (s *restStream) Send(r *ragv1.UpsertDocumentsRequest) error {
	if s.err != nil {
		return io.EOF
	}
	if s.n == 0 {
		s.coll = r.GetCollection()
	}
	req := &ragv1.UpsertDocumentsRequest{Collection: s.coll, Documents: r.GetDocuments()}
	out, err := s.c.Upsert(s.ctx, req)
	if err != nil {
		s.err = streamFailure(err, s.n, s.resp.GetUpserted())
		return io.EOF
	}
	s.n++
	s.resp.Upserted += int64(out.GetUpserted())
	s.resp.TruncatedCount += int64(len(out.GetTruncated()))
	s.resp.Truncated = append(s.resp.Truncated, out.GetTruncated()...)
	return nil
}

func (s *restStream) CloseAndRecv() (*ragv1.UpsertStreamResponse, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &s.resp, nil
}

// streamFailure is the failure of message n of a stream as the server's
// UpsertStream reports it: the status with an ErrorInfo naming the message
// and the documents stored before it.
func streamFailure(err error, n int, stored int64) error {
	st, _ := status.FromError(err)
	p := st.Proto()
	info, ierr := streamInfoDetail(n, stored)
	if ierr == nil {
		p.Details = append(p.Details, info)
	}
	return status.FromProto(p).Err()
}

func (c *restClient) GetDocument(ctx context.Context, r *ragv1.GetDocumentRequest) (*ragv1.Document, error) {
	var q url.Values
	if r.GetIncludeVector() {
		q = url.Values{"include_vector": {"true"}}
	}
	out := new(ragv1.Document)
	return out, c.do(ctx, http.MethodGet, "/v1/collections/"+seg(r.GetCollection())+"/documents/"+seg(r.GetId()), q, nil, out)
}

func (c *restClient) Scan(ctx context.Context, r *ragv1.ScanDocumentsRequest) (*ragv1.ScanDocumentsResponse, error) {
	q := url.Values{}
	if r.GetCursor() != "" {
		q.Set("cursor", r.GetCursor())
	}
	if r.GetLimit() != 0 {
		q.Set("limit", strconv.Itoa(int(r.GetLimit())))
	}
	if r.GetIncludeVectors() {
		q.Set("include_vectors", "true")
	}
	out := new(ragv1.ScanDocumentsResponse)
	return out, c.do(ctx, http.MethodGet, "/v1/collections/"+seg(r.GetCollection())+"/documents", q, nil, out)
}

func (c *restClient) DeleteDocument(ctx context.Context, r *ragv1.DeleteDocumentRequest) (*ragv1.DeleteDocumentsResponse, error) {
	out := new(ragv1.DeleteDocumentsResponse)
	return out, c.do(ctx, http.MethodDelete, "/v1/collections/"+seg(r.GetCollection())+"/documents/"+seg(r.GetId()), nil, nil, out)
}

func (c *restClient) DeleteMany(ctx context.Context, r *ragv1.DeleteDocumentsRequest) (*ragv1.DeleteDocumentsResponse, error) {
	body := &ragv1.DeleteDocumentsRequest{Ids: r.GetIds(), Filter: r.GetFilter()}
	out := new(ragv1.DeleteDocumentsResponse)
	return out, c.do(ctx, http.MethodPost, "/v1/collections/"+seg(r.GetCollection())+"/documents:delete", nil, body, out)
}

func (c *restClient) Search(ctx context.Context, r *ragv1.SearchRequest) (*ragv1.SearchResponse, error) {
	body := proto.Clone(r).(*ragv1.SearchRequest)
	body.Collection = ""
	out := new(ragv1.SearchResponse)
	return out, c.do(ctx, http.MethodPost, "/v1/collections/"+seg(r.GetCollection())+"/search", nil, body, out)
}

// Ask over REST: a JSON answer, or Server-Sent Events when r.Stream.
func (c *restClient) Ask(ctx context.Context, r *ragv1.AskRequest, onEvent func(*ragv1.AskEvent) error) error {
	body := proto.Clone(r).(*ragv1.AskRequest)
	body.Collection = ""
	path := "/v1/collections/" + seg(r.GetCollection()) + "/ask"
	accept := "application/json"
	if r.GetStream() {
		accept = "text/event-stream"
	}
	resp, err := c.send(ctx, http.MethodPost, path, nil, body, accept)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return status.Errorf(codes.Unavailable, "read the answer: %v", err)
		}
		done := new(ragv1.AskResponse)
		if err := restUnmarshal.Unmarshal(data, done); err != nil {
			return status.Errorf(codes.Internal, "the answer is not an AskResponse: %v", err)
		}
		return onEvent(&ragv1.AskEvent{Event: &ragv1.AskEvent_Done{Done: done}})
	}
	return readAskEvents(resp.Body, onEvent)
}

// readAskEvents reads ragd's Server-Sent Events: delta events carry
// {"text"}, one done event the AskResponse, an error event a status.
func readAskEvents(r io.Reader, onEvent func(*ragv1.AskEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var event string
	var data strings.Builder
	sawDone := false
	dispatch := func() error {
		defer func() { event = ""; data.Reset() }()
		payload := []byte(data.String())
		switch event {
		case "delta":
			d := new(ragv1.AskDelta)
			if err := restUnmarshal.Unmarshal(payload, d); err != nil {
				return status.Errorf(codes.Internal, "malformed delta event: %v", err)
			}
			return onEvent(&ragv1.AskEvent{Event: &ragv1.AskEvent_Delta{Delta: d}})
		case "done":
			d := new(ragv1.AskResponse)
			if err := restUnmarshal.Unmarshal(payload, d); err != nil {
				return status.Errorf(codes.Internal, "malformed done event: %v", err)
			}
			sawDone = true
			return onEvent(&ragv1.AskEvent{Event: &ragv1.AskEvent_Done{Done: d}})
		case "error":
			var p spb.Status
			if err := restUnmarshal.Unmarshal(payload, &p); err != nil {
				return status.Errorf(codes.Internal, "malformed error event: %s", payload)
			}
			return status.FromProto(&p).Err()
		}
		return nil // comments, unknown events
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event != "" || data.Len() > 0 {
				if err := dispatch(); err != nil {
					return err
				}
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return status.Errorf(codes.Unavailable, "read the event stream: %v", err)
	}
	if !sawDone {
		return status.Error(codes.Unavailable, "the event stream ended before its done event")
	}
	return nil
}

// streamInfoDetail is the ErrorInfo of a failed stream message.
func streamInfoDetail(n int, stored int64) (*anypb.Any, error) {
	return anypb.New(&errdetails.ErrorInfo{Reason: ragv1.UpsertStreamFailed, Domain: ragv1.ErrorDomain,
		Metadata: map[string]string{"message": strconv.Itoa(n), "stored": strconv.FormatInt(stored, 10)}})
}

// streamInfo reads which message of a stream failed, from the ErrorInfo of
// a failed UpsertStream; ok is false when err carries none.
func streamInfo(err error) (message int, ok bool) {
	st, isStatus := status.FromError(err)
	if !isStatus {
		return 0, false
	}
	for _, d := range st.Details() {
		info, isInfo := d.(*errdetails.ErrorInfo)
		if !isInfo || info.GetReason() != ragv1.UpsertStreamFailed {
			continue
		}
		n, perr := strconv.Atoi(info.GetMetadata()["message"])
		if perr != nil || n < 0 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
