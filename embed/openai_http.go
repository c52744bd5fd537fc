package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// doer is the HTTP client handed to go-openai. It holds one of the
// Concurrency slots for the HTTP exchange only — go-openai encodes the
// request before and decodes the response after, outside the slot, so that
// with more batches under way than slots the encoding and decoding of some
// overlap the requests in flight of others. It bounds the exchange by
// Timeout, reads each response whole, so that a network failure or a
// timeout in the middle of the body shows as a *transportError or a
// *timeoutError and not as a JSON error, and it turns an error status into
// a *statusError carrying the Retry-After that go-openai would drop.
// go-openai returns all three unchanged from CreateEmbeddings.
type doer struct {
	client  *http.Client
	sem     *prioritySem // one slot per request in flight
	timeout time.Duration
	key     string
	now     func() time.Time
	metrics *Metrics
}

// timeoutError is a request that took longer than Timeout.
type timeoutError struct{ timeout time.Duration }

func (e *timeoutError) Error() string { return fmt.Sprintf("request timed out after %v", e.timeout) }

// transportError is a request that got no complete response.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// statusError is a response with a status other than 2xx.
type statusError struct {
	code       int
	message    string // the provider's message, cleaned up and key-free
	retryAfter time.Duration
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %s", e.code, e.message) }

func (d *doer) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if err := d.sem.acquire(ctx); err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req = req.WithContext(actx)
	req.Header.Set("User-Agent", "ragd")
	start := time.Now()
	body, resp, err := d.exchange(req)
	d.sem.release()
	// The goroutine waiting for the slot was made runnable on this P; yield
	// so that it sends its request now rather than after this one has
	// decoded its response, which on a busy machine is a slot idle for
	// milliseconds.
	runtime.Gosched()
	d.metrics.latency(time.Since(start))
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(actx.Err(), context.DeadlineExceeded):
			return nil, &timeoutError{d.timeout}
		}
		return nil, &transportError{err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &statusError{
			code:       resp.StatusCode,
			message:    redactKey(ProviderMessage(body), d.key),
			retryAfter: RetryAfter(resp.Header, d.now()),
		}
	}
	if len(body) > maxResponseBytes {
		// Reported by the JSON decoder as a malformed (truncated) body.
		body = body[:maxResponseBytes]
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// exchange sends req and reads the whole response.
func (d *doer) exchange(req *http.Request) ([]byte, *http.Response, error) {
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= maxResponseBytes {
		buf.Grow(int(n) + bytes.MinRead) // one allocation, no regrowth
	}
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxResponseBytes+1)); err != nil {
		return nil, nil, fmt.Errorf("reading the response: %w", err)
	}
	return buf.Bytes(), resp, nil
}

// RetryAfter reads the wait an OpenAI-compatible server's response asks
// for: retry-after-ms (OpenAI's, in milliseconds), else Retry-After in
// seconds or as an HTTP date. It returns 0 when there is none or it is
// unreadable. (The rag package's chat client reads answers with it too.)
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < math.MaxInt64/float64(time.Millisecond) {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s >= math.MaxInt64/float64(time.Second) {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// maxMessage bounds the provider message kept in an error.
const maxMessage = 300

// ProviderMessage extracts the human-readable message of an
// OpenAI-compatible server's error body: OpenAI's
// {"error":{"message":…}}, Ollama's and TEI's {"error":"…"}, a top-level
// {"message":…} or {"detail":…}, else the body itself if it is text. It is
// cut to one line of at most 300 characters.
func ProviderMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  any             `json:"detail"`
	}
	msg := ""
	if json.Unmarshal(body, &v) == nil {
		var inner struct {
			Message string `json:"message"`
			Code    any    `json:"code"`
		}
		var s string
		switch {
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			msg = s
		case json.Unmarshal(v.Error, &inner) == nil && inner.Message != "":
			msg = inner.Message
		case v.Message != "":
			msg = v.Message
		case v.Detail != nil:
			b, _ := json.Marshal(v.Detail)
			msg = string(b)
		}
	}
	if msg == "" && utf8.Valid(body) {
		msg = string(body)
	}
	return OneLine(msg)
}

// OneLine puts a message on one line of at most 300 characters, for an
// error that quotes a server.
func OneLine(msg string) string {
	msg = strings.Join(strings.FieldsFunc(msg, unicode.IsSpace), " ")
	if utf8.RuneCountInString(msg) > maxMessage {
		msg = string([]rune(msg)[:maxMessage]) + "…"
	}
	return msg
}
