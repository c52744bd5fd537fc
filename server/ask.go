package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/rag"
)

// askMethod is the gRPC name of Ask, also used by the REST endpoint for
// metrics, logs, auth and limits.
const askMethod = "/ragd.v1.Answers/Ask"

// answers is the Answers service.
type answers struct {
	ragv1.UnimplementedAnswersServer
	sv *service
}

// askSink receives an Ask's events: the gRPC stream, or the REST response
// (JSON or Server-Sent Events).
type askSink interface {
	delta(text string) error
	done(*ragv1.AskResponse) error
}

// Ask implements ragv1.AnswersServer.
func (a *answers) Ask(r *ragv1.AskRequest, st ragv1.Answers_AskServer) error {
	return grpcError(a.ask(st.Context(), r, grpcAskSink{st}))
}

type grpcAskSink struct{ st ragv1.Answers_AskServer }

func (s grpcAskSink) delta(text string) error {
	return s.st.Send(&ragv1.AskEvent{Event: &ragv1.AskEvent_Delta{Delta: &ragv1.AskDelta{Text: text}}})
}

func (s grpcAskSink) done(r *ragv1.AskResponse) error {
	return s.st.Send(&ragv1.AskEvent{Event: &ragv1.AskEvent_Done{Done: r}})
}

// ask retrieves, prompts and generates, sending deltas (when streaming)
// and the done event to sink.
func (a *answers) ask(ctx context.Context, r *ragv1.AskRequest, sink askSink) error {
	start := time.Now()
	c, err := a.sv.collection("collection", r.GetCollection())
	if err != nil {
		return err
	}
	q := r.GetQuestion()
	switch l := a.sv.s.cfg.Limits; {
	case strings.TrimSpace(q) == "":
		return badField("question", "is empty")
	case len(q) > l.MaxQueryBytes:
		return badField("question", "%d bytes exceed the limit of %d bytes (--max-query-bytes)", len(q), l.MaxQueryBytes)
	case !utf8.ValidString(q):
		return badField("question", "is not valid UTF-8")
	case r.GetMaxContextTokens() < 0:
		return badField("max_context_tokens", "%d is negative", r.GetMaxContextTokens())
	case r.GetMaxTokens() < 0:
		return badField("max_tokens", "%d is negative", r.GetMaxTokens())
	}
	k := r.GetK()
	if k == 0 {
		k = int32(a.sv.s.rag.K())
	}
	sreq, err := a.sv.searchRequest(ctx, c, &ragv1.SearchRequest{
		Collection: r.GetCollection(), Query: q, Mode: r.GetMode(), K: k,
		Filter: r.GetFilter(), Fusion: r.GetFusion(), Alpha: r.Alpha,
	})
	if err != nil {
		return err
	}
	req := rag.Request{
		Question: q, Search: sreq, MaxContextTokens: int(r.GetMaxContextTokens()), Model: r.GetModel(),
		Temperature: r.Temperature, MaxTokens: int(r.GetMaxTokens()), SystemPrompt: r.GetSystemPrompt(), Stream: r.GetStream(),
	}
	var onDelta func(string) error
	if r.GetStream() {
		onDelta = sink.delta
	}
	res, err := a.sv.s.rag.Ask(ctx, c, req, onDelta)
	if err != nil {
		return err
	}
	resp, err := askToProto(res)
	if err != nil {
		return err
	}
	resp.TookMs = float64(time.Since(start).Microseconds()) / 1000
	return sink.done(resp)
}

// askToProto converts rag's response.
func askToProto(res *rag.Response) (*ragv1.AskResponse, error) {
	out := &ragv1.AskResponse{Answer: res.Answer, Model: res.Model, Note: res.Note,
		Usage:     &ragv1.AskUsage{PromptTokens: int32(res.Usage.PromptTokens), CompletionTokens: int32(res.Usage.CompletionTokens)},
		Citations: make([]*ragv1.Citation, len(res.Citations)), Passages: make([]*ragv1.Passage, len(res.Passages))}
	for i, c := range res.Citations {
		out.Citations[i] = &ragv1.Citation{N: int32(c.N), Id: c.ID, Source: c.Source, Title: c.Title, Heading: c.Heading, Score: c.Score}
	}
	for i, p := range res.Passages {
		md, err := metadataToProto(p.Metadata)
		if err != nil {
			return nil, err
		}
		out.Passages[i] = &ragv1.Passage{N: int32(p.N), Id: p.ID, Text: p.Text, Metadata: md, Score: p.Score, Source: p.Source, Chunk: int32(p.Chunk)}
	}
	return out, nil
}

// ragStatus maps rag's errors: a bad request is InvalidArgument, the LLM
// endpoint's rate limit ResourceExhausted with its Retry-After, its
// timeout DeadlineExceeded, any other failure of it Unavailable marked
// with an ErrorInfo (ragv1.LLMUpstreamFailed) that REST answers with 502
// Bad Gateway. The endpoint's own message is passed on.
func ragStatus(err error) (*status.Status, bool) {
	var ue *rag.UpstreamError
	switch {
	case errors.Is(err, rag.ErrInvalidArgument):
		return status.New(codes.InvalidArgument, strings.TrimPrefix(err.Error(), rag.ErrInvalidArgument.Error()+": ")), true
	case !errors.As(err, &ue):
		return nil, false
	case ue.Kind == rag.ErrRateLimited:
		after := ue.RetryAfter
		if after <= 0 {
			after = time.Second
		}
		st, _ := status.New(codes.ResourceExhausted, "llm: "+ue.Error()).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(after)})
		return st, true
	case ue.Kind == rag.ErrUpstreamTimeout:
		return status.New(codes.DeadlineExceeded, "llm: "+ue.Error()), true
	}
	st, _ := status.New(codes.Unavailable, "llm: "+ue.Error()).WithDetails(&errdetails.ErrorInfo{Reason: ragv1.LLMUpstreamFailed, Domain: ragv1.ErrorDomain,
		Metadata: map[string]string{"status": fmt.Sprint(ue.StatusCode)}})
	if ue.RetryAfter > 0 {
		st, _ = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(ue.RetryAfter)})
	}
	return st, true
}

// askHTTPStatus is the HTTP status of an Ask failure: 502 for the LLM
// endpoint's failures, else the usual mapping.
func askHTTPStatus(st *status.Status) int {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == ragv1.LLMUpstreamFailed {
			return http.StatusBadGateway
		}
	}
	return httpStatus(st.Code())
}

// restAsk serves POST /v1/collections/{collection}/ask: the body is an
// AskRequest; the answer is an AskResponse as JSON or, when the request
// says stream or the client accepts text/event-stream, Server-Sent
// Events: "delta" events of {"text"}, flushed as they come, then one
// "done" event with the AskResponse, or one "error" event with the status
// ({code, message, details}) when the LLM fails after the stream began. A
// client that goes away cancels the LLM request.
func (s *Server) restAsk(w http.ResponseWriter, r *http.Request) {
	req := new(ragv1.AskRequest)
	if body, ok := r.Body.(*bufferedBody); ok {
		if data := body.take(); len(strings.TrimSpace(string(data))) > 0 {
			if err := jsonMarshaler.decodeBody(data, req); err != nil {
				writeStatus(w, status.New(codes.InvalidArgument, err.Error()))
				return
			}
		}
	}
	if c := r.PathValue("collection"); req.GetCollection() != "" && req.GetCollection() != c {
		writeStatus(w, status.Newf(codes.InvalidArgument, "collection %q in the body differs from %q in the path", req.GetCollection(), c))
		return
	} else {
		req.Collection = c
	}
	sse := req.GetStream() || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	req.Stream = sse
	sink := &restAskSink{w: w, sse: sse}
	ctx := gatewayContext(r)
	_, err := call(s.rest, ctx, askMethod, req, func(ctx context.Context, req *ragv1.AskRequest) (*ragv1.AskResponse, error) {
		return nil, s.ansSv.askStatus(ctx, req, sink)
	})
	if err == nil {
		return
	}
	st := status.Convert(err)
	if sink.started {
		sink.event("error", st.Proto())
		return
	}
	setErrorHeaders(w, st)
	writeStatusHTTP(w, st, askHTTPStatus(st))
}

// askStatus is ask with its error as a status.
func (a *answers) askStatus(ctx context.Context, r *ragv1.AskRequest, sink askSink) error {
	return grpcError(a.ask(ctx, r, sink))
}

// restAskSink writes an Ask's events as JSON or Server-Sent Events.
type restAskSink struct {
	w       http.ResponseWriter
	sse     bool
	started bool // the response's status is written
}

var sseJSON = protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}

func (s *restAskSink) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	s.w.WriteHeader(http.StatusOK)
}

// event writes one event and flushes it.
func (s *restAskSink) event(name string, m proto.Message) error {
	s.start()
	b, err := sseJSON.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	return http.NewResponseController(s.w).Flush()
}

func (s *restAskSink) delta(text string) error {
	return s.event("delta", &ragv1.AskDelta{Text: text})
}

func (s *restAskSink) done(r *ragv1.AskResponse) error {
	if s.sse {
		return s.event("done", r)
	}
	b, err := jsonMarshaler.Marshal(r)
	if err != nil {
		return err
	}
	s.started = true
	s.w.Header().Set("Content-Type", "application/json")
	s.w.WriteHeader(http.StatusOK)
	_, err = s.w.Write(b)
	return err
}
