package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/ragd/ragd/embed/openaitest"
	"github.com/stretchr/testify/require"
)

const testKey = "sk-test-0123456789abcdef"

// newFake starts a fake endpoint that checks testKey and closes with t.
func newFake(t testing.TB, cfg openaitest.Config) *openaitest.Server {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	s := openaitest.New(cfg)
	t.Cleanup(s.Close)
	return s
}

// newOpenAI returns a client of srv with tiny backoffs, so that retries
// cost no test time, and with no key from the environment.
func newOpenAI(t testing.TB, srv *openaitest.Server, cfg OpenAIConfig) *OpenAI {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.BaseURL()
	}
	if cfg.APIKey == "" && cfg.APIKeyFile == "" {
		cfg.APIKey = testKey
	}
	if cfg.APIKeyEnv == "" {
		cfg.APIKeyEnv = "RAGD_TEST_NO_SUCH_VARIABLE"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = srv.Client()
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	o, err := NewOpenAI(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var d dto.Metric
	require.NoError(t, h.Write(&d))
	return d.GetHistogram().GetSampleCount()
}

func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("text number %d about %s", i, passage(i)[:40])
	}
	return out
}

// requireVectors checks that vs are the fake's vectors of ts, in order.
func requireVectors(t *testing.T, ts []string, dim int, vs [][]float32) {
	t.Helper()
	require.Len(t, vs, len(ts))
	for i, text := range ts {
		require.Equal(t, openaitest.Vector(text, dim), vs[i], "vector %d", i)
	}
}

func TestOpenAIEmbed(t *testing.T) {
	srv := newFake(t, openaitest.Config{Dimension: 12, Reverse: true})
	m := NewMetrics()
	o := newOpenAI(t, srv, OpenAIConfig{Model: "test-model", MaxBatch: 4, Metrics: m})
	require.Equal(t, 0, o.Dimension(), "unknown before the first response")
	require.Equal(t, "test-model", o.Model())

	ts := texts(10)
	vs, err := o.Embed(context.Background(), ts)
	require.NoError(t, err)
	// Placed by index although the fake answers in reverse order.
	requireVectors(t, ts, 12, vs)
	require.Equal(t, 12, o.Dimension(), "learned from the response")

	log := srv.Log()
	require.Len(t, log, 3, "10 texts in batches of 4")
	var sizes []int
	var got []string
	for _, r := range log {
		sizes = append(sizes, len(r.Input))
		require.Equal(t, "/v1/embeddings", r.Path)
		require.Equal(t, "test-model", r.Model)
		require.Equal(t, "Bearer "+testKey, r.Header.Get("Authorization"))
		require.Zero(t, r.Dimensions, "no dimensions field unless configured")
		require.Equal(t, "base64", r.EncodingFormat, "the default wire format")
	}
	for _, r := range log {
		got = append(got, r.Input...)
	}
	require.ElementsMatch(t, []int{4, 4, 2}, sizes)
	require.ElementsMatch(t, ts, got)

	require.Equal(t, 3.0, testutil.ToFloat64(m.requests))
	require.Equal(t, 10.0, testutil.ToFloat64(m.texts))
	require.Positive(t, testutil.ToFloat64(m.tokens))
	require.Equal(t, uint64(3), histogramCount(t, m.requestDuration))

	// Empty input: no request.
	vs, err = o.Embed(context.Background(), nil)
	require.NoError(t, err)
	require.Empty(t, vs)
	require.Equal(t, 3, srv.Requests())
}

func TestOpenAIEncodingFallback(t *testing.T) {
	for _, cfg := range []openaitest.Config{{FloatsOnly: true}, {RejectBase64: true}} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			srv := newFake(t, cfg)
			m := NewMetrics()
			o := newOpenAI(t, srv, OpenAIConfig{Metrics: m})
			ts := texts(3)
			vs, err := o.Embed(context.Background(), ts)
			require.NoError(t, err)
			requireVectors(t, ts, 8, vs)
			vs, err = o.Embed(context.Background(), ts)
			require.NoError(t, err)
			requireVectors(t, ts, 8, vs)
			var formats []string
			for _, r := range srv.Log() {
				formats = append(formats, r.EncodingFormat)
			}
			require.Equal(t, []string{"base64", "float", "float"}, formats, "falls back once, for good")
			require.Zero(t, testutil.ToFloat64(m.retries), "not an attempt")
		})
	}
	// Asked for base64 explicitly: no fallback.
	srv := newFake(t, openaitest.Config{FloatsOnly: true})
	o := newOpenAI(t, srv, OpenAIConfig{EncodingFormat: "base64"})
	_, err := o.Embed(context.Background(), []string{"x"})
	require.ErrorIs(t, err, ErrBadResponse)
	require.ErrorContains(t, err, "malformed response")
	require.Equal(t, 1, srv.Requests())
}

func TestOpenAIDimensionsAndBase64(t *testing.T) {
	srv := newFake(t, openaitest.Config{Dimension: 12})
	o := newOpenAI(t, srv, OpenAIConfig{Dimensions: 5, EncodingFormat: "base64"})
	require.Equal(t, 5, o.Dimension(), "known from the config")
	ts := texts(3)
	vs, err := o.Embed(context.Background(), ts)
	require.NoError(t, err)
	requireVectors(t, ts, 5, vs)
	r := srv.Log()[0]
	require.Equal(t, 5, r.Dimensions)
	require.Equal(t, "base64", r.EncodingFormat)
}

func TestOpenAITokenBudget(t *testing.T) {
	srv := newFake(t, openaitest.Config{})
	o := newOpenAI(t, srv, OpenAIConfig{MaxBatch: 100, MaxBatchTokens: 30})
	ts := []string{
		strings.Repeat("a", 40),  // 10 tokens
		strings.Repeat("b", 40),  // 10
		strings.Repeat("c", 40),  // 10: the first request is full
		strings.Repeat("d", 200), // 50: alone, larger than the budget
		"é",                      // 1
		"数字",                     // 2
	}
	vs, err := o.Embed(context.Background(), ts)
	require.NoError(t, err)
	requireVectors(t, ts, 8, vs)
	var sizes []int
	for _, r := range srv.Log() {
		sizes = append(sizes, len(r.Input))
	}
	require.ElementsMatch(t, []int{3, 1, 2}, sizes)
	require.Equal(t, 10, estimateTokens(strings.Repeat("a", 40)))
	require.Equal(t, 2, estimateTokens("数字"))
	require.Equal(t, 1, estimateTokens("a"))
}

func TestOpenAIEmptyText(t *testing.T) {
	srv := newFake(t, openaitest.Config{})
	o := newOpenAI(t, srv, OpenAIConfig{})
	for _, blank := range []string{"", " ", "\n\t"} {
		_, err := o.Embed(context.Background(), []string{"fine", blank})
		require.ErrorIs(t, err, ErrEmptyText)
		var te *TextError
		require.ErrorAs(t, err, &te)
		require.Equal(t, 1, te.Index)
		require.EqualError(t, err, "embed: text has no features: text 1")
	}
	require.Zero(t, srv.Requests())
}

// The faults of the issue, one each.

func TestOpenAIRetryAfter(t *testing.T) {
	srv := newFake(t, openaitest.Config{Fault: openaitest.Script(
		openaitest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1", Message: "Rate limit reached"})})
	m := NewMetrics()
	// The backoff alone would wait at most 1 ms: the second wait comes from
	// Retry-After.
	o := newOpenAI(t, srv, OpenAIConfig{Metrics: m})
	start := time.Now()
	vs, err := o.Embed(context.Background(), []string{"hello"})
	require.NoError(t, err)
	requireVectors(t, []string{"hello"}, 8, vs)
	require.GreaterOrEqual(t, time.Since(start), time.Second)
	require.Equal(t, 2, srv.Requests())
	require.Equal(t, 1.0, testutil.ToFloat64(m.retries))
	require.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues(kindRateLimited)))
}

func TestOpenAIRetryAfterTooLong(t *testing.T) {
	srv := newFake(t, openaitest.Config{Fault: func(int) openaitest.Fault {
		return openaitest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3600"}
	}})
	o := newOpenAI(t, srv, OpenAIConfig{MaxRetryAfter: 10 * time.Second})
	start := time.Now()
	_, err := o.Embed(context.Background(), []string{"hello"})
	require.ErrorIs(t, err, ErrRateLimited)
	require.ErrorContains(t, err, "429 too many requests")
	require.ErrorContains(t, err, "asked to wait 1h0m0s")
	var pe *ProviderError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, time.Hour, pe.RetryAfter)
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, 1, srv.Requests())
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"fraction", map[string]string{"Retry-After": "0.25"}, 250 * time.Millisecond},
		{"date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"milliseconds win", map[string]string{"Retry-After": "7", "Retry-After-Ms": "150"}, 150 * time.Millisecond},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"negative", map[string]string{"Retry-After": "-3"}, 0},
		{"huge", map[string]string{"Retry-After": "1e300"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			require.Equal(t, tt.want, RetryAfter(h, now))
		})
	}
}

func TestOpenAIServerErrors(t *testing.T) {
	t.Run("retried, then succeeds", func(t *testing.T) {
		fail := openaitest.Fault{Status: http.StatusInternalServerError, Message: "The server had an error"}
		srv := newFake(t, openaitest.Config{Fault: openaitest.Script(fail, openaitest.Fault{Status: http.StatusBadGateway}, fail)})
		o := newOpenAI(t, srv, OpenAIConfig{MaxAttempts: 4})
		vs, err := o.Embed(context.Background(), []string{"hello"})
		require.NoError(t, err)
		requireVectors(t, []string{"hello"}, 8, vs)
		require.Equal(t, 4, srv.Requests())
	})
	t.Run("gives up after MaxAttempts", func(t *testing.T) {
		srv := newFake(t, openaitest.Config{Fault: func(int) openaitest.Fault {
			return openaitest.Fault{Status: http.StatusServiceUnavailable, Message: "overloaded"}
		}})
		m := NewMetrics()
		o := newOpenAI(t, srv, OpenAIConfig{MaxAttempts: 3, Metrics: m})
		vs, err := o.Embed(context.Background(), []string{"hello"})
		require.Nil(t, vs)
		require.ErrorIs(t, err, ErrUnavailable)
		require.EqualError(t, err, "embed: openai: gave up after 3 attempts: 503 service unavailable: overloaded")
		var pe *ProviderError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, 503, pe.StatusCode)
		require.Equal(t, 3, pe.Attempts)
		require.Equal(t, 3, srv.Requests())
		require.Equal(t, 2.0, testutil.ToFloat64(m.retries))
		require.Equal(t, 3.0, testutil.ToFloat64(m.errors.WithLabelValues(kindServerError)))
	})
}

func TestOpenAITimeout(t *testing.T) {
	t.Run("slow once, retried", func(t *testing.T) {
		srv := newFake(t, openaitest.Config{Fault: openaitest.Script(openaitest.Fault{Delay: 2 * time.Second})})
		o := newOpenAI(t, srv, OpenAIConfig{Timeout: 100 * time.Millisecond})
		start := time.Now()
		vs, err := o.Embed(context.Background(), []string{"hello"})
		require.NoError(t, err)
		requireVectors(t, []string{"hello"}, 8, vs)
		require.Equal(t, 2, srv.Requests())
		require.Less(t, time.Since(start), time.Second, "the slow request was abandoned at the timeout")
	})
	t.Run("always slow", func(t *testing.T) {
		srv := newFake(t, openaitest.Config{Fault: func(int) openaitest.Fault { return openaitest.Fault{Delay: 2 * time.Second} }})
		m := NewMetrics()
		o := newOpenAI(t, srv, OpenAIConfig{Timeout: 50 * time.Millisecond, MaxAttempts: 2, Metrics: m})
		_, err := o.Embed(context.Background(), []string{"hello"})
		require.ErrorIs(t, err, ErrUnavailable)
		require.ErrorContains(t, err, "gave up after 2 attempts: request timed out after 50ms")
		require.NotErrorIs(t, err, context.DeadlineExceeded, "not to be mistaken for the caller's deadline")
		require.Equal(t, 2.0, testutil.ToFloat64(m.errors.WithLabelValues(kindTimeout)))
	})
}

func TestOpenAINetworkError(t *testing.T) {
	srv := newFake(t, openaitest.Config{Fault: openaitest.Script(openaitest.Fault{Hangup: true})})
	m := NewMetrics()
	o := newOpenAI(t, srv, OpenAIConfig{Metrics: m})
	vs, err := o.Embed(context.Background(), []string{"hello"})
	require.NoError(t, err)
	requireVectors(t, []string{"hello"}, 8, vs)
	require.Equal(t, 2, srv.Requests())
	require.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues(kindNetwork)))

	// Nobody listening: retried, then a clear error.
	dead := newFake(t, openaitest.Config{})
	o = newOpenAI(t, dead, OpenAIConfig{MaxAttempts: 2})
	dead.Close()
	_, err = o.Embed(context.Background(), []string{"hello"})
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorContains(t, err, "gave up after 2 attempts: network error")
}

func TestOpenAIBadResponse(t *testing.T) {
	tests := []struct {
		name   string
		cfg    OpenAIConfig
		fault  openaitest.Fault
		inputs int
		want   string
	}{
		{"malformed JSON", OpenAIConfig{}, openaitest.Fault{Body: `{"object":"list","data":[{"index":0,"embedding":[0.1,`}, 1, "malformed response"},
		{"not JSON", OpenAIConfig{}, openaitest.Fault{Body: `<html>gateway</html>`}, 1, "malformed response"},
		{"wrong type", OpenAIConfig{}, openaitest.Fault{Body: `{"data":[{"index":0,"embedding":"abc"}]}`}, 1, "malformed response"},
		{"float32 overflow", OpenAIConfig{}, openaitest.Fault{Body: `{"data":[{"index":0,"embedding":[1e39]}]}`}, 1, "malformed response"},
		{"one vector missing", OpenAIConfig{}, openaitest.Fault{DropVector: true}, 3, "2 vectors for 3 texts"},
		{"no data", OpenAIConfig{}, openaitest.Fault{Body: `{"object":"list","data":[]}`}, 2, "0 vectors for 2 texts"},
		{"index out of range", OpenAIConfig{}, openaitest.Fault{Body: `{"data":[{"index":1,"embedding":[1]}]}`}, 1, "vector index 1 out of range"},
		{"duplicate index", OpenAIConfig{}, openaitest.Fault{DuplicateIndex: true}, 3, "appears twice"},
		{"empty vector", OpenAIConfig{}, openaitest.Fault{Body: `{"data":[{"index":0,"embedding":[]}]}`}, 1, "vector 0 is empty"},
		{"inconsistent dimension", OpenAIConfig{}, openaitest.Fault{ShortVector: true}, 3, "has dimension 7, want 8 as in the other vectors of the response"},
		{"dimension other than configured", OpenAIConfig{Dimensions: 4}, openaitest.Fault{Body: `{"data":[{"index":0,"embedding":[1,2,3]}]}`}, 1, "vector 0 has dimension 3, want 4 as in the configured dimensions"},
		{"NaN in base64", OpenAIConfig{EncodingFormat: "base64"}, openaitest.Fault{NaN: true}, 2, "non-finite value (NaN)"},
		{"NaN literal in JSON", OpenAIConfig{}, openaitest.Fault{NaN: true}, 2, "malformed response"},
		{"bad base64", OpenAIConfig{EncodingFormat: "base64"}, openaitest.Fault{Body: `{"data":[{"index":0,"embedding":"!!!"}]}`}, 1, "malformed response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, openaitest.Config{Fault: func(int) openaitest.Fault { return tt.fault }})
			m := NewMetrics()
			tt.cfg.Metrics = m
			if tt.cfg.EncodingFormat == "" {
				// Hand-written float bodies: not to be taken for a server
				// without base64.
				tt.cfg.EncodingFormat = "float"
			}
			o := newOpenAI(t, srv, tt.cfg)
			vs, err := o.Embed(context.Background(), texts(tt.inputs))
			require.Nil(t, vs, "nothing returned from a bad response")
			require.ErrorIs(t, err, ErrBadResponse)
			require.ErrorContains(t, err, tt.want)
			require.True(t, strings.HasPrefix(err.Error(), "embed: openai: "), err.Error())
			require.Equal(t, 1, srv.Requests(), "not retried")
			require.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues(kindBadResponse)))
		})
	}
}

func TestOpenAIDimensionChange(t *testing.T) {
	srv := newFake(t, openaitest.Config{Fault: openaitest.Script(openaitest.Fault{},
		openaitest.Fault{Body: `{"data":[{"index":0,"embedding":[1,2,3]}]}`})})
	o := newOpenAI(t, srv, OpenAIConfig{EncodingFormat: "float"})
	_, err := o.Embed(context.Background(), []string{"a"})
	require.NoError(t, err)
	require.Equal(t, 8, o.Dimension())
	_, err = o.Embed(context.Background(), []string{"b"})
	require.ErrorIs(t, err, ErrBadResponse)
	require.ErrorContains(t, err, "vector 0 has dimension 3, want 8 as in earlier responses")
	require.Equal(t, 8, o.Dimension())
}

func TestOpenAIPermanentErrors(t *testing.T) {
	tests := []struct {
		name  string
		srv   openaitest.Config
		cfg   OpenAIConfig
		kind  error
		want  string
		label string
	}{
		{"401 wrong key", openaitest.Config{}, OpenAIConfig{APIKey: "sk-wrong-key-abcdef"}, ErrUnauthorized,
			"embed: openai: 401 unauthorized: check the API key: Incorrect API key provided.", kindUnauthorized},
		{"403", openaitest.Config{Fault: func(int) openaitest.Fault { return openaitest.Fault{Status: 403, Message: "no access"} }}, OpenAIConfig{}, ErrUnauthorized,
			"embed: openai: 403 forbidden: the API key has no access to this model or resource: no access", kindUnauthorized},
		{"404 unknown model", openaitest.Config{Model: "text-embedding-3-small"}, OpenAIConfig{Model: "text-embedding-4"}, ErrModelNotFound,
			`404 not found: model "text-embedding-4" unknown at`, kindModelNotFound},
		{"400", openaitest.Config{Fault: func(int) openaitest.Fault {
			return openaitest.Fault{Status: 400, Message: "This model's maximum context length is 8192 tokens"}
		}}, OpenAIConfig{}, ErrBadRequest, "embed: openai: 400 bad request: This model's maximum context length is 8192 tokens", kindBadRequest},
		{"422 batch too large (TEI)", openaitest.Config{MaxBatch: 2}, OpenAIConfig{}, ErrBadRequest,
			"422 unprocessable entity: batch size 3 > maximum allowed batch size 2", kindBadRequest},
		{"413", openaitest.Config{Fault: func(int) openaitest.Fault { return openaitest.Fault{Status: 413} }}, OpenAIConfig{}, ErrBadRequest,
			"413 request entity too large: request too large: lower MaxBatch or MaxBatchTokens", kindBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, tt.srv)
			m := NewMetrics()
			tt.cfg.Metrics = m
			o := newOpenAI(t, srv, tt.cfg)
			vs, err := o.Embed(context.Background(), texts(3))
			require.Nil(t, vs)
			require.ErrorIs(t, err, tt.kind)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "gave up", "permanent: no retry")
			require.Equal(t, 1, srv.Requests(), "exactly one request")
			require.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues(tt.label)))
			require.Zero(t, testutil.ToFloat64(m.retries))
		})
	}
}

func TestOpenAIKeyNeverShown(t *testing.T) {
	// A server that echoes the key in its error message.
	srv := newFake(t, openaitest.Config{Fault: func(int) openaitest.Fault {
		return openaitest.Fault{Status: 401, Message: "Incorrect API key provided: " + testKey}
	}})
	var logs bytes.Buffer
	cfg := OpenAIConfig{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	o := newOpenAI(t, srv, cfg)
	_, err := o.Embed(context.Background(), []string{"hello"})
	require.ErrorIs(t, err, ErrUnauthorized)
	require.NotContains(t, err.Error(), testKey)
	require.Contains(t, err.Error(), "Incorrect API key provided: [redacted]")

	cfg.APIKey = testKey
	cfg.BaseURL = "https://user:password@example.com/v1"
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg, "key", cfg.APIKey)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", cfg, "raw", fmt.Sprintf("%v %+v %#v %s %q %x", cfg, cfg, cfg, cfg.APIKey, cfg.APIKey, cfg.APIKey))
	js, jerr := json.Marshal(struct{ Key Secret }{cfg.APIKey})
	require.NoError(t, jerr)
	for _, out := range []string{logs.String(), string(js), fmt.Sprint(cfg), fmt.Sprintf("%#v", cfg)} {
		require.NotContains(t, out, testKey)
		require.NotContains(t, out, "password")
	}
	require.Contains(t, logs.String(), redacted)
	require.Equal(t, "", Secret("").String(), "an empty key shows as empty")
	require.Equal(t, testKey, cfg.APIKey.Reveal())
}

func TestOpenAIKeySources(t *testing.T) {
	srv := newFake(t, openaitest.Config{})
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(file, []byte("  "+testKey+"\n"), 0o600))

	o := newOpenAI(t, srv, OpenAIConfig{APIKeyFile: file})
	_, err := o.Embed(context.Background(), []string{"from a file"})
	require.NoError(t, err)

	t.Setenv("RAGD_TEST_KEY", testKey)
	o, err = NewOpenAI(OpenAIConfig{BaseURL: srv.BaseURL(), HTTPClient: srv.Client(), APIKeyEnv: "RAGD_TEST_KEY"})
	require.NoError(t, err)
	_, err = o.Embed(context.Background(), []string{"from the environment"})
	require.NoError(t, err)

	_, err = NewOpenAI(OpenAIConfig{APIKeyFile: filepath.Join(dir, "missing")})
	require.ErrorContains(t, err, "embed: openai: API key file")

	// No key at all: no Authorization header, and the server's 401 says so.
	o, err = NewOpenAI(OpenAIConfig{BaseURL: srv.BaseURL(), HTTPClient: srv.Client(), APIKeyEnv: "RAGD_TEST_NO_SUCH_VARIABLE"})
	require.NoError(t, err)
	_, err = o.Embed(context.Background(), []string{"no key"})
	require.ErrorIs(t, err, ErrUnauthorized)
	require.Empty(t, srv.Log()[len(srv.Log())-1].Header.Get("Authorization"))
}

func TestOpenAIAzure(t *testing.T) {
	srv := newFake(t, openaitest.Config{})
	o := newOpenAI(t, srv, OpenAIConfig{BaseURL: srv.URL, APIType: APITypeAzure, Model: "my-deployment"})
	vs, err := o.Embed(context.Background(), []string{"hello"})
	require.NoError(t, err)
	requireVectors(t, []string{"hello"}, 8, vs)
	r := srv.Log()[0]
	require.Equal(t, "/openai/deployments/my-deployment/embeddings", r.Path)
	require.Equal(t, "api-version="+DefaultAzureAPIVersion, r.RawQuery)
	require.Equal(t, testKey, r.Header.Get("api-key"))
	require.Empty(t, r.Header.Get("Authorization"))
}

func TestOpenAICancel(t *testing.T) {
	t.Run("during backoff", func(t *testing.T) {
		srv := newFake(t, openaitest.Config{Fault: func(int) openaitest.Fault {
			return openaitest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30"}
		}})
		o := newOpenAI(t, srv, OpenAIConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := o.Embed(ctx, []string{"hello"})
		require.ErrorIs(t, err, context.Canceled)
		require.Less(t, time.Since(start), time.Second)
		require.Equal(t, 1, srv.Requests())
	})
	t.Run("deadline shorter than Retry-After", func(t *testing.T) {
		srv := newFake(t, openaitest.Config{Fault: func(int) openaitest.Fault {
			return openaitest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30"}
		}})
		o := newOpenAI(t, srv, OpenAIConfig{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := o.Embed(ctx, []string{"hello"})
		require.ErrorIs(t, err, ErrRateLimited, "fails at once with the cause, not after waiting for the deadline")
		require.ErrorContains(t, err, "past the deadline")
		require.Less(t, time.Since(start), time.Second)
	})
	t.Run("during a request", func(t *testing.T) {
		srv := newFake(t, openaitest.Config{Latency: 10 * time.Second})
		o := newOpenAI(t, srv, OpenAIConfig{MaxBatch: 1})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		vs, err := o.Embed(ctx, texts(8))
		require.Nil(t, vs)
		require.ErrorIs(t, err, context.Canceled)
		require.Less(t, time.Since(start), time.Second)
	})
	t.Run("already cancelled", func(t *testing.T) {
		srv := newFake(t, openaitest.Config{})
		o := newOpenAI(t, srv, OpenAIConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := o.Embed(ctx, []string{"hello"})
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, srv.Requests())
	})
}

func TestOpenAIFirstErrorCancelsTheRest(t *testing.T) {
	// Request 1 fails at once with 401; the others are slow and must be
	// abandoned rather than waited for.
	srv := newFake(t, openaitest.Config{Fault: func(n int) openaitest.Fault {
		if n == 1 {
			return openaitest.Fault{Status: 401}
		}
		return openaitest.Fault{Delay: 10 * time.Second}
	}})
	o := newOpenAI(t, srv, OpenAIConfig{MaxBatch: 1, Concurrency: 1})
	start := time.Now()
	_, err := o.Embed(context.Background(), texts(6))
	require.ErrorIs(t, err, ErrUnauthorized)
	require.Less(t, time.Since(start), 2*time.Second)
}

func TestOpenAIConcurrencyLimit(t *testing.T) {
	srv := newFake(t, openaitest.Config{Latency: 20 * time.Millisecond, MaxInFlight: 3})
	o := newOpenAI(t, srv, OpenAIConfig{MaxBatch: 2, Concurrency: 3})
	ts := texts(40)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for g := range 3 { // concurrent calls share the limit
		wg.Go(func() {
			vs, err := o.Embed(context.Background(), ts)
			if err == nil && len(vs) != len(ts) {
				err = errors.New("wrong count")
			}
			errs[g] = err
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Zero(t, srv.Violations())
	require.Equal(t, 3, srv.MaxInFlightSeen())
	require.Equal(t, 60, srv.Requests())
}

func TestOpenAIProbe(t *testing.T) {
	srv := newFake(t, openaitest.Config{Dimension: 24})
	o := newOpenAI(t, srv, OpenAIConfig{})
	d, err := o.Probe(context.Background())
	require.NoError(t, err)
	require.Equal(t, 24, d)
	d, err = o.Probe(context.Background())
	require.NoError(t, err)
	require.Equal(t, 24, d)
	require.Equal(t, 1, srv.Requests(), "probed once")
	require.Equal(t, "openai "+srv.BaseURL(), o.Provider())
}

func TestOpenAIConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  OpenAIConfig
		want string // "" = valid
	}{
		{"zero", OpenAIConfig{}, ""},
		{"ollama", OpenAIConfig{BaseURL: "http://localhost:11434/v1", Model: "nomic-embed-text"}, ""},
		{"azure", OpenAIConfig{BaseURL: "https://x.openai.azure.com", APIType: APITypeAzure}, ""},
		{"not a URL", OpenAIConfig{BaseURL: "localhost:11434"}, "not an http(s) URL"},
		{"ftp", OpenAIConfig{BaseURL: "ftp://x/v1"}, "not an http(s) URL"},
		{"query", OpenAIConfig{BaseURL: "http://x/v1?a=b"}, "query"},
		{"api type", OpenAIConfig{APIType: "anthropic"}, "API type"},
		{"key twice", OpenAIConfig{APIKey: "k", APIKeyFile: "f"}, "both an API key and an API key file"},
		{"dimensions", OpenAIConfig{Dimensions: -1}, "dimensions -1"},
		{"encoding", OpenAIConfig{EncodingFormat: "int8"}, "encoding format"},
		{"timeout", OpenAIConfig{Timeout: -time.Second}, "timeout"},
		{"max batch", OpenAIConfig{MaxBatch: -1}, "max batch -1"},
		{"tokens", OpenAIConfig{MaxBatchTokens: -1}, "max batch tokens"},
		{"concurrency", OpenAIConfig{Concurrency: 5000}, "concurrency"},
		{"attempts", OpenAIConfig{MaxAttempts: -1}, "max attempts"},
		{"backoff", OpenAIConfig{BackoffBase: time.Second, BackoffMax: time.Millisecond}, "backoff"},
		{"retry-after", OpenAIConfig{MaxRetryAfter: -1}, "max retry-after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tt.want)
			_, err = NewOpenAI(tt.cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
	d := DefaultOpenAIConfig()
	require.Equal(t, DefaultOpenAIBaseURL, d.BaseURL)
	require.Equal(t, DefaultOpenAIModel, d.Model)
	require.Equal(t, 32, d.MaxBatch)
	require.Equal(t, 4, d.Concurrency)
	require.Equal(t, 5, d.MaxAttempts)
	require.Empty(t, d.APIVersion)
	require.Equal(t, DefaultAzureAPIVersion, OpenAIConfig{APIType: APITypeAzure}.withDefaults().APIVersion)
}

func TestOpenAIBackoff(t *testing.T) {
	o := &OpenAI{cfg: OpenAIConfig{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}}
	for attempt, ceil := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 80: time.Second} {
		var most time.Duration
		for range 200 {
			d := o.backoff(attempt)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, ceil)
			most = max(most, d)
		}
		require.Greater(t, most, ceil/2, "attempt %d: jitter spans the range", attempt)
	}
}

func TestProviderMessage(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"error":{"message":"Incorrect API key","type":"invalid_request_error"}}`, "Incorrect API key"},
		{`{"error":"model \"x\" not found, try pulling it first"}`, `model "x" not found, try pulling it first`},
		{`{"message":"bad things"}`, "bad things"},
		{`{"detail":[{"msg":"field required"}]}`, `[{"msg":"field required"}]`},
		{"<html>\n<body>502 Bad Gateway</body>\n</html>", "<html> <body>502 Bad Gateway</body> </html>"},
		{"", ""},
		{"\xff\xfe", ""},
		{strings.Repeat("x", 400), strings.Repeat("x", 300) + "…"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ProviderMessage([]byte(tt.body)), tt.body)
	}
}
