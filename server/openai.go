package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	ragv1 "github.com/ragd/ragd/api/ragv1"
)

// openAIRequest is the body of OpenAI's POST /v1/embeddings.
type openAIRequest struct {
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	Dimensions     *int            `json:"dimensions,omitempty"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	User           string          `json:"user,omitempty"`
}

// openAIEmbeddings serves OpenAI's embeddings API over ragd's embedders,
// so that any OpenAI client (base URL http://HOST:8080/v1) can use the
// local model. It takes the wire format OpenAI's clients send — input as a
// string or a list of strings, encoding_format float or base64 — and
// answers in it, errors included ({"error": {message, type, param,
// code}}). The call itself goes through the Embeddings service's method
// and interceptors, with their auth, limits and metrics.
func (s *Server) openAIEmbeddings(w http.ResponseWriter, r *http.Request) {
	var req openAIRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeOpenAIError(w, badRequestStatus("", "malformed JSON body: %v", err))
		return
	}
	if rest, _ := io.ReadAll(io.MultiReader(dec.Buffered(), r.Body)); len(bytes.TrimSpace(rest)) > 0 {
		writeOpenAIError(w, badRequestStatus("", "malformed JSON body: data after the object"))
		return
	}
	in, err := parseOpenAIInput(req.Input)
	if err != nil {
		writeOpenAIError(w, toStatus(err))
		return
	}
	format := req.EncodingFormat
	switch format {
	case "", "float", "base64":
	default:
		writeOpenAIError(w, badRequestStatus("encoding_format", "%q (want float or base64)", format))
		return
	}
	greq := &ragv1.CreateEmbeddingRequest{Input: in, Model: req.Model, User: req.User}
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > math.MaxInt32 {
			writeOpenAIError(w, badRequestStatus("dimensions", "%d out of range [1, %d]", *req.Dimensions, math.MaxInt32))
			return
		}
		greq.Dimensions = int32(*req.Dimensions)
	}
	md := metadata.MD{}
	for h := range forwardedHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			md.Set(h, v...)
		}
	}
	if v := r.Header.Values("Authorization"); len(v) > 0 {
		md.Set("authorization", v...)
	}
	resp, err := s.restEm.Create(metadata.NewIncomingContext(r.Context(), md), greq)
	if err != nil {
		writeOpenAIError(w, status.Convert(err))
		return
	}
	var b bytes.Buffer
	b.WriteString(`{"object":"list","data":[`)
	var raw []byte
	for i, e := range resp.GetData() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"object":"embedding","index":%d,"embedding":`, e.GetIndex())
		if format == "base64" {
			raw = raw[:0]
			for _, x := range e.GetEmbedding() {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
			}
			b.WriteByte('"')
			b.WriteString(base64.StdEncoding.EncodeToString(raw))
			b.WriteByte('"')
		} else {
			b.WriteByte('[')
			for j, x := range e.GetEmbedding() {
				if j > 0 {
					b.WriteByte(',')
				}
				b.Write(strconv.AppendFloat(nil, float64(x), 'g', -1, 32))
			}
			b.WriteByte(']')
		}
		b.WriteByte('}')
	}
	model, _ := json.Marshal(resp.GetModel())
	fmt.Fprintf(&b, `],"model":%s,"usage":{"prompt_tokens":%d,"total_tokens":%d}}`, model, resp.GetUsage().GetPromptTokens(), resp.GetUsage().GetTotalTokens())
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b.Bytes())
}

// parseOpenAIInput accepts a string or a list of strings. Token arrays
// (lists of integers) are refused: ragd's models have their own tokenizers.
func parseOpenAIInput(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badField("input", "is missing")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil {
		return many, nil
	}
	var tokens []json.RawMessage
	if err := json.Unmarshal(raw, &tokens); err == nil && len(tokens) > 0 {
		var n json.Number
		var ns []json.Number
		if json.Unmarshal(tokens[0], &n) == nil || json.Unmarshal(tokens[0], &ns) == nil {
			return nil, badField("input", "token arrays are not supported; send the text")
		}
	}
	return nil, badField("input", "want a string or a list of strings")
}

// badRequestStatus is an InvalidArgument naming a field.
func badRequestStatus(field, format string, args ...any) *status.Status {
	if field == "" {
		return status.New(codes.InvalidArgument, fmt.Sprintf(format, args...))
	}
	return toStatus(badField(field, format, args...))
}

// openAIErrorTypes are OpenAI's error types by gRPC code.
var openAIErrorTypes = map[codes.Code]string{
	codes.InvalidArgument:   "invalid_request_error",
	codes.NotFound:          "invalid_request_error",
	codes.Unauthenticated:   "authentication_error",
	codes.PermissionDenied:  "permission_error",
	codes.ResourceExhausted: "rate_limit_error",
}

// writeOpenAIError writes a status in OpenAI's error format.
func writeOpenAIError(w http.ResponseWriter, st *status.Status) {
	writeOpenAIErrorHTTP(w, st, httpStatus(st.Code()))
}

// writeOpenAIErrorHTTP is writeOpenAIError with the given HTTP status.
func writeOpenAIErrorHTTP(w http.ResponseWriter, st *status.Status, httpCode int) {
	setErrorHeaders(w, st)
	typ, ok := openAIErrorTypes[st.Code()]
	if !ok {
		typ = "server_error"
	}
	e := struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}{Message: st.Message(), Type: typ}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			p := br.GetFieldViolations()[0].GetField()
			e.Param = &p
		}
	}
	if st.Code() == codes.NotFound {
		c := "model_not_found"
		e.Code = &c
	}
	body, err := json.Marshal(map[string]any{"error": e})
	if err != nil {
		body = []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpCode)
	_, _ = w.Write(body)
}
