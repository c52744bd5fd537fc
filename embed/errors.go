package embed

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrEmptyText is returned for a text with no features: empty, or made
	// only of characters that are neither letters, marks nor digits
	// (blanks, punctuation, symbols). Its vector would be all zeros, which
	// has no direction and which a cosine index rejects. The error names
	// the index of the text in the batch.
	ErrEmptyText = errors.New("embed: text has no features")
	// ErrInvalidConfig is wrapped by the Validate methods' errors.
	ErrInvalidConfig = errors.New("embed: invalid config")

	// ErrUnauthorized: the provider refused the credentials (HTTP 401) or
	// the key has no access to the model or resource (403). Not retried:
	// fix the API key.
	ErrUnauthorized = errors.New("embed: unauthorized")
	// ErrModelNotFound: the provider does not know the model or the
	// deployment (HTTP 404), which is also what a wrong base URL gives.
	// Not retried.
	ErrModelNotFound = errors.New("embed: model not found")
	// ErrBadRequest: the provider rejected the request (HTTP 400, 413, 422
	// and other 4xx not listed above): a text too long for the model, an
	// unsupported `dimensions`, a batch too large for the server. Not
	// retried.
	ErrBadRequest = errors.New("embed: bad request")
	// ErrRateLimited: the provider still answered 429 Too Many Requests
	// after every attempt, or asked (Retry-After) for a wait longer than
	// the configured maximum.
	ErrRateLimited = errors.New("embed: rate limited")
	// ErrUnavailable: the provider failed with 5xx, 408 or 409, a network
	// error or a request timeout on every attempt.
	ErrUnavailable = errors.New("embed: provider unavailable")
	// ErrBadResponse: the provider (or a wrapped Embedder) returned
	// something that is not a valid set of vectors: malformed JSON, the
	// wrong number of vectors, duplicate or out-of-range indexes, a
	// dimension other than the configured or previously seen one, NaN or
	// infinite values. Nothing of such a response is returned. Not
	// retried: a server that answers like this once usually does again.
	ErrBadResponse = errors.New("embed: bad response")
	// ErrClosed is returned by the Embed of a closed Pool or Cached, and
	// to the requests still queued in a Pool when it is closed.
	ErrClosed = errors.New("embed: closed")
)

// TextError is an error about one text of a batch: Index is its position in
// the texts passed to Embed. Wrappers that reorder or merge batches (Pool,
// Cached) rewrite Index to the position in their caller's texts. Its
// message reads like ErrEmptyText's historical one: "<err>: text <index>".
type TextError struct {
	Index int
	Err   error
}

func (e *TextError) Error() string { return fmt.Sprintf("%v: text %d", e.Err, e.Index) }

// Unwrap returns the cause, ErrEmptyText for example.
func (e *TextError) Unwrap() error { return e.Err }

// ProviderError is an error of the OpenAI-compatible provider, after its
// retries. Kind is one of the sentinels above (ErrUnauthorized,
// ErrModelNotFound, ErrBadRequest, ErrRateLimited, ErrUnavailable,
// ErrBadResponse), which errors.Is matches, as it matches Err, the
// underlying cause when there is one (a network error, a JSON syntax
// error). The message never contains the API key.
type ProviderError struct {
	// Kind is the sentinel this error matches.
	Kind error
	// StatusCode is the HTTP status of the last response; 0 when the last
	// attempt got no response (network error, timeout) or an invalid one.
	StatusCode int
	// Message says what went wrong and, for a permanent error, what to
	// check; the provider's own message follows when it sent one.
	Message string
	// RetryAfter is the wait the provider asked for in its last response
	// (Retry-After or retry-after-ms), 0 if none. A server answering 429 or
	// 503 to its own client may pass it on.
	RetryAfter time.Duration
	// Attempts is the number of requests made for the failed batch.
	Attempts int
	// Err is the underlying cause, or nil.
	Err error

	label string // the metrics kind, when Kind alone does not tell it
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	b.WriteString("embed: openai: ")
	if e.Attempts > 1 {
		fmt.Fprintf(&b, "gave up after %d attempts: ", e.Attempts)
	}
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap returns Kind and, if set, Err.
func (e *ProviderError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
