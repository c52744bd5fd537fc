package embed

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/ragd/ragd/embed/openaitest"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	m := NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(m))

	// One chain: cache, pool, provider, all feeding m.
	srv := newFake(t, openaitest.Config{Fault: openaitest.Script(openaitest.Fault{Status: 500})})
	o := newOpenAI(t, srv, OpenAIConfig{Dimensions: 4, MaxBatch: 2, Metrics: m})
	p := newPool(t, o, PoolConfig{Metrics: m})
	c := openCache(t, filepath.Join(t.TempDir(), "cache.db"), CacheConfig{Metrics: m})
	e := c.Wrap(p)
	_, err := e.Embed(context.Background(), []string{"one text", "two texts", "three"})
	require.NoError(t, err)
	_, err = e.Embed(context.Background(), []string{"one text"})
	require.NoError(t, err)

	require.Equal(t, 3.0, testutil.ToFloat64(m.requests), "2 batches, one retried")
	require.Equal(t, 3.0, testutil.ToFloat64(m.texts))
	require.Equal(t, 1.0, testutil.ToFloat64(m.retries))
	require.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues(kindServerError)))
	require.Equal(t, 1.0, testutil.ToFloat64(m.cacheHits))
	require.Equal(t, 3.0, testutil.ToFloat64(m.cacheMisses))
	require.Zero(t, testutil.ToFloat64(m.queueDepth))
	require.Positive(t, testutil.ToFloat64(m.tokens))

	require.Equal(t, 3.0, testutil.ToFloat64(m.cacheEntries))
	require.Equal(t, float64(c.Stats().Bytes), testutil.ToFloat64(m.cacheBytes))
	require.Positive(t, testutil.ToFloat64(m.cacheBytes))
	require.Zero(t, testutil.ToFloat64(m.cacheEvictions))

	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Equal(t, 12+len(errorKinds), n, "every series, error kinds included, from the start")
	lint, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, lint)
}

func TestMetricsNil(t *testing.T) {
	var m *Metrics
	m.request(1)
	m.latency(time.Second)
	m.embedded(1, 1)
	m.failed(kindNetwork, true)
	m.queued(3)
	m.cache(1, 1)
	m.cacheEvicted(1)
	m.cacheSize(1, 1)
	ch := make(chan prometheus.Metric, 1)
	m.Collect(ch)
	d := make(chan *prometheus.Desc, 1)
	m.Describe(d)
	require.Empty(t, ch)
	require.Empty(t, d)
}
