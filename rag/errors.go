package rag

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. The server maps them to status codes; callers test
// them with errors.Is. A cancelled or expired ctx is returned as an error
// matching ctx.Err(), and errors of the Searcher (index.ErrInvalidArgument,
// index.ErrNotFound…) come back wrapped, unchanged for errors.Is.
var (
	// ErrInvalidArgument wraps every invalid Request: an empty question, a
	// model outside Config.Models, a temperature out of range, a budget too
	// small for the instructions and the question (HTTP 400).
	ErrInvalidArgument = errors.New("rag: invalid argument")
	// ErrInvalidConfig is wrapped by Config.Validate's errors.
	ErrInvalidConfig = errors.New("rag: invalid config")
	// ErrUpstream: the LLM endpoint failed — 5xx or a network error on
	// every attempt, or an answer that is not retried: 4xx other than 429
	// (an unknown model, a refused key, a prompt over the model's window),
	// a malformed body, a redirect (HTTP 502). It comes in an
	// *UpstreamError with the endpoint's status and message.
	ErrUpstream = errors.New("rag: upstream error")
	// ErrUpstreamTimeout: the LLM endpoint sent nothing within
	// Config.Timeout (non-streaming) or FirstByteTimeout, or went silent
	// for IdleTimeout mid-stream (HTTP 504). In an *UpstreamError.
	ErrUpstreamTimeout = errors.New("rag: upstream timeout")
	// ErrRateLimited: the LLM endpoint answered 429 on every attempt, or
	// asked for a wait longer than Config.MaxRetryAfter (HTTP 429, with
	// UpstreamError.RetryAfter as Retry-After).
	ErrRateLimited = errors.New("rag: upstream rate limited")
)

// UpstreamError is a failure of the LLM endpoint, after retries. Kind is
// ErrUpstream, ErrUpstreamTimeout or ErrRateLimited, which errors.Is
// matches, as it matches Err, the underlying cause when there is one. The
// message never contains the API key.
type UpstreamError struct {
	// Kind is the sentinel this error matches.
	Kind error
	// StatusCode is the HTTP status of the last answer; 0 when the last
	// attempt got none (network error, timeout) or failed mid-stream.
	StatusCode int
	// Message says what went wrong, with the endpoint's own message when it
	// sent one.
	Message string
	// RetryAfter is the wait the endpoint asked for in its last answer
	// (Retry-After or retry-after-ms), 0 if none: a server answering 429 or
	// 503 to its client may pass it on.
	RetryAfter time.Duration
	// Attempts is the number of requests made.
	Attempts int
	// Relayed tells that answer text had been passed to the caller's
	// onDelta before the failure (so the attempt was not retried).
	Relayed bool
	// Err is the underlying cause, or nil.
	Err error

	retry bool   // the attempt may be retried
	label string // the metrics kind
}

func (e *UpstreamError) Error() string {
	var b strings.Builder
	b.WriteString("rag: upstream: ")
	if e.Attempts > 1 {
		fmt.Fprintf(&b, "gave up after %d attempts: ", e.Attempts)
	}
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap returns Kind and, if set, Err.
func (e *UpstreamError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
