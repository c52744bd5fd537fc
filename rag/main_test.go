package rag

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/rag/chattest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testKey = "sk-test-0123456789abcdef"

var ctx = context.Background()

// searcher is an in-memory Searcher returning fixed hits (cut to K).
type searcher struct {
	hits []index.Hit
	err  error

	mu   sync.Mutex
	reqs []index.SearchRequest
}

func (s *searcher) Search(ctx context.Context, req index.SearchRequest) (*index.SearchResponse, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.err != nil {
		return nil, s.err
	}
	hits := s.hits
	if req.K > 0 && len(hits) > req.K {
		hits = hits[:req.K]
	}
	return &index.SearchResponse{Hits: hits}, nil
}

func (s *searcher) last() index.SearchRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

// hit is a search hit of a document with metadata given as key, value
// pairs.
func hit(id, text string, score float64, kv ...any) index.Hit {
	h := index.Hit{Document: index.Document{ID: id, Text: text}, Score: score}
	if len(kv) > 0 {
		h.Metadata = map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			h.Metadata[kv[i].(string)] = kv[i+1]
		}
	}
	return h
}

// newFake starts a fake chat endpoint that checks testKey and closes with
// t.
func newFake(t testing.TB, cfg chattest.Config) *chattest.Server {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	s := chattest.New(cfg)
	t.Cleanup(s.Close)
	return s
}

// newEngine returns an engine on srv (no LLM when srv is nil) with tiny
// backoffs, so that retries cost no test time.
func newEngine(t testing.TB, srv *chattest.Server, cfg Config) *Engine {
	t.Helper()
	if srv != nil {
		if cfg.BaseURL == "" {
			cfg.BaseURL = srv.BaseURL()
		}
		if cfg.APIKey == "" {
			cfg.APIKey = testKey
		}
		if cfg.HTTPClient == nil {
			cfg.HTTPClient = srv.Client()
		}
		if cfg.Model == "" {
			cfg.Model = "gpt-4o-mini"
		}
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	}
	e, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func ptr[T any](v T) *T { return &v }
