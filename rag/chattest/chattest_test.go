package chattest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func post(t *testing.T, s *Server, body string, key string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.BaseURL()+"/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestWords(t *testing.T) {
	require.Equal(t, []string{"One ", "two  ", "three."}, Words("One two  three."))
	require.Equal(t, []string{" lead ", "x"}, Words(" lead x"))
	require.Nil(t, Words(""))
}

func TestAnswer(t *testing.T) {
	s := New(Config{APIKey: "k", Answer: func(r Request) string { return "You said: " + r.Content("user") }})
	defer s.Close()
	resp := post(t, s, `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":9,"temperature":0}`, "k")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got struct {
		Model   string `json:"model"`
		Choices []struct {
			Message      Message `json:"message"`
			FinishReason string  `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens, CompletionTokens int
		} `json:"usage"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Equal(t, "m", got.Model)
	require.Equal(t, "You said: hi", got.Choices[0].Message.Content)
	require.Equal(t, "stop", got.Choices[0].FinishReason)

	r := s.Last()
	require.Equal(t, 1, r.N)
	require.Equal(t, "be brief", r.Content("system"))
	require.Equal(t, 9, r.MaxTokens)
	require.NotNil(t, r.Temperature)
	require.Zero(t, *r.Temperature)
	require.Contains(t, string(r.Body), `"max_tokens":9`)

	resp = post(t, s, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "wrong")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestStream(t *testing.T) {
	s := New(Config{Answer: Fixed("a b c d")})
	defer s.Close()
	resp := post(t, s, `{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":3,"messages":[{"role":"user","content":"hi"}]}`, "")
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	require.Len(t, lines, 1+3+1+1+1, "role, three deltas (max_tokens), finish, usage, done")
	require.Contains(t, lines[0], `"role":"assistant"`)
	require.Contains(t, lines[1], `"content":"a "`)
	require.Contains(t, lines[4], `"finish_reason":"length"`)
	require.Contains(t, lines[5], `"choices":[]`)
	require.Contains(t, lines[5], `"completion_tokens":3`)
	require.Equal(t, "data: [DONE]", lines[6])
	require.True(t, s.Last().IncludeUsage)
}

func TestFaults(t *testing.T) {
	s := New(Config{Fault: Script(
		Fault{Status: 429, RetryAfter: "7", RetryAfterMs: "7000", Message: "slow down"},
		Fault{Body: "{oops"},
		Fault{Stall: true, AfterDeltas: 1},
	)})
	defer s.Close()
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	resp := post(t, s, body, "")
	require.Equal(t, 429, resp.StatusCode)
	require.Equal(t, "7", resp.Header.Get("Retry-After"))
	require.Equal(t, "7000", resp.Header.Get("Retry-After-Ms"))
	b, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(b), "slow down")

	resp = post(t, s, body, "")
	b, _ = io.ReadAll(resp.Body)
	require.Equal(t, "{oops", string(b))

	// A stalled stream holds until the client goes, and notices it.
	cctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, s.BaseURL()+"/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	resp, err = s.Client().Do(req)
	require.NoError(t, err)
	r := bufio.NewReader(resp.Body)
	for range 2 { // the role chunk and one delta
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(line, "data: "))
		_, _ = r.ReadString('\n')
	}
	cancel()
	resp.Body.Close()
	select {
	case n := <-s.Disconnected():
		require.Equal(t, 3, n)
	case <-time.After(30 * time.Second):
		t.Fatal("the disconnect was not noticed")
	}
	require.Equal(t, 1, s.Disconnects())
	require.Equal(t, 3, s.Requests())
	require.Len(t, s.Log(), 3)
}

func TestModelsAndPaths(t *testing.T) {
	s := New(Config{Models: []string{"a"}})
	defer s.Close()
	resp := post(t, s, `{"model":"b","messages":[{"role":"user","content":"hi"}]}`, "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp = post(t, s, `{"model":"a","messages":[]}`, "")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, err := s.Client().Get(s.BaseURL() + "/models")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
