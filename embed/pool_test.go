package embed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/ragd/ragd/embed/openaitest"
	"github.com/stretchr/testify/require"
)

func newPool(t testing.TB, inner Embedder, cfg PoolConfig) *Pool {
	t.Helper()
	p, err := NewPool(inner, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

// gateEmbedder records its calls and holds each one until release is
// closed, or gets a token, or its ctx ends; it answers with Hash vectors.
type gateEmbedder struct {
	hash    *Hash
	entered chan struct{} // one token per call
	release chan struct{}
	pass    func(texts []string) bool // if set and true, the call is not held

	mu    sync.Mutex
	calls [][]string
}

func newGate(t testing.TB) *gateEmbedder {
	return &gateEmbedder{hash: newHash(t, HashConfig{Dimension: 16}), entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (g *gateEmbedder) Dimension() int { return g.hash.Dimension() }
func (g *gateEmbedder) Model() string  { return g.hash.Model() }
func (g *gateEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	g.mu.Lock()
	g.calls = append(g.calls, append([]string(nil), texts...))
	g.mu.Unlock()
	g.entered <- struct{}{}
	if g.pass != nil && g.pass(texts) {
		return g.hash.Embed(ctx, texts)
	}
	select {
	case <-g.release:
		return g.hash.Embed(ctx, texts)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *gateEmbedder) Calls() [][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]string(nil), g.calls...)
}

type result struct {
	vs  [][]float32
	err error
}

func embedAsync(p Embedder, ctx context.Context, texts ...string) chan result {
	ch := make(chan result, 1)
	go func() {
		vs, err := p.Embed(ctx, texts)
		ch <- result{vs, err}
	}()
	return ch
}

func TestPoolOrder(t *testing.T) {
	h := newHash(t, HashConfig{Dimension: 32})
	p := newPool(t, h, PoolConfig{Workers: 3, MaxBatch: 16, QueueSize: 4, BatchWindow: time.Millisecond})
	require.Equal(t, 32, p.Dimension())
	require.Equal(t, h.Model(), p.Model())
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for g := range errs {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 10 {
				ts := make([]string, 1+rng.IntN(70))
				for i := range ts {
					ts[i] = passage(rng.IntN(200))[:20+rng.IntN(100)]
				}
				got, err := p.Embed(context.Background(), ts)
				if err == nil {
					want, _ := h.Embed(context.Background(), ts)
					if !equalBits(got, want) {
						err = fmt.Errorf("goroutine %d: vectors out of order", g)
					}
				}
				if err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Zero(t, p.QueueDepth())
	vs, err := p.Embed(context.Background(), nil)
	require.NoError(t, err)
	require.Empty(t, vs)
}

func TestPoolMicroBatching(t *testing.T) {
	srv := newFake(t, openaitest.Config{})
	o := newOpenAI(t, srv, OpenAIConfig{MaxBatch: 64})
	p := newPool(t, o, PoolConfig{Workers: 1, MaxBatch: 64, BatchWindow: 300 * time.Millisecond})
	const callers = 32
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			<-start
			text := fmt.Sprintf("query %d", i)
			vs, err := p.Embed(context.Background(), []string{text})
			if err == nil && !equalBits(vs, [][]float32{openaitest.Vector(text, 8)}) {
				err = fmt.Errorf("caller %d got another vector", i)
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	// 32 one-text calls within the window share one request (a slow start
	// of a goroutine under -race may cost a second one).
	require.LessOrEqual(t, srv.Requests(), 2, "requests: %d", srv.Requests())
	require.Equal(t, callers, srv.Texts())

	// A call larger than MaxBatch is split, and its full batches go
	// without waiting for the window.
	before := srv.Requests()
	ts := texts(128)
	began := time.Now()
	vs, err := p.Embed(context.Background(), ts)
	require.NoError(t, err)
	requireVectors(t, ts, 8, vs)
	require.Equal(t, before+2, srv.Requests())
	require.Less(t, time.Since(began), 250*time.Millisecond, "did not wait for the window")
}

func TestPoolDedupe(t *testing.T) {
	srv := newFake(t, openaitest.Config{})
	o := newOpenAI(t, srv, OpenAIConfig{})
	p := newPool(t, o, PoolConfig{BatchWindow: 50 * time.Millisecond})

	ts := []string{"a", "b", "a", "a", "b"}
	vs, err := p.Embed(context.Background(), ts)
	require.NoError(t, err)
	requireVectors(t, ts, 8, vs)
	require.Equal(t, []string{"a", "b"}, srv.Log()[0].Input, "each distinct text once")
	vs[0][0] = 42 // each slot is its own slice
	require.Equal(t, openaitest.Vector("a", 8), vs[2])
	require.Equal(t, openaitest.Vector("a", 8), vs[3])

	// Across concurrent callers within one window.
	a := embedAsync(p, context.Background(), "same", "other")
	b := embedAsync(p, context.Background(), "same")
	ra, rb := <-a, <-b
	require.NoError(t, ra.err)
	require.NoError(t, rb.err)
	requireVectors(t, []string{"same", "other"}, 8, ra.vs)
	requireVectors(t, []string{"same"}, 8, rb.vs)
	require.Equal(t, 2, srv.Requests())
	require.ElementsMatch(t, []string{"same", "other"}, srv.Log()[1].Input)
}

func TestPoolBackPressure(t *testing.T) {
	g := newGate(t)
	m := NewMetrics()
	p := newPool(t, g, PoolConfig{Workers: 1, QueueSize: 1, MaxBatch: 1, BatchWindow: -1, Metrics: m})
	ctx := context.Background()

	a := embedAsync(p, ctx, "alpha") // taken by the worker, held in the embedder
	<-g.entered
	b := embedAsync(p, ctx, "bravo") // taken by the dispatcher, waiting for the worker
	require.Eventually(t, func() bool { return p.QueueDepth() == 0 }, time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)  // let b be dequeued, if it was not yet
	c := embedAsync(p, ctx, "charlie") // in the queue, which is now full
	require.Eventually(t, func() bool { return p.QueueDepth() == 1 }, time.Second, time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(m.queueDepth))

	// A fourth call blocks until its deadline: back-pressure.
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Embed(dctx, []string{"d"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	require.Equal(t, 1, p.QueueDepth(), "the refused call left nothing queued")

	close(g.release)
	for _, ch := range []chan result{a, b, c} {
		r := <-ch
		require.NoError(t, r.err)
		require.Len(t, r.vs, 1)
	}
	require.Len(t, g.Calls(), 3, "d was never embedded")
	require.Zero(t, p.QueueDepth())
	require.Zero(t, testutil.ToFloat64(m.queueDepth))
}

func TestPoolClose(t *testing.T) {
	g := newGate(t)
	p, err := NewPool(g, PoolConfig{Workers: 1, QueueSize: 4, MaxBatch: 1, BatchWindow: -1})
	require.NoError(t, err)
	ctx := context.Background()
	inFlight := embedAsync(p, ctx, "a")
	<-g.entered
	var queued []chan result
	for _, s := range []string{"b", "c", "d", "e"} {
		queued = append(queued, embedAsync(p, ctx, s))
	}
	require.Eventually(t, func() bool { return p.QueueDepth() >= 3 }, time.Second, time.Millisecond)

	start := time.Now()
	require.NoError(t, p.Close())
	require.Less(t, time.Since(start), time.Second)
	for _, ch := range append(queued, inFlight) {
		r := <-ch
		require.ErrorIs(t, r.err, ErrClosed)
		require.Nil(t, r.vs)
	}
	_, err = p.Embed(ctx, []string{"late"})
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, p.Close(), "idempotent")
	require.Len(t, g.Calls(), 1)
	require.Zero(t, p.QueueDepth())
}

func TestPoolCloseUnblocksProducers(t *testing.T) {
	g := newGate(t)
	p, err := NewPool(g, PoolConfig{Workers: 1, QueueSize: 1, MaxBatch: 2, BatchWindow: -1})
	require.NoError(t, err)
	// One call of 100 texts: 50 requests through a queue of 1.
	big := embedAsync(p, context.Background(), texts(100)...)
	<-g.entered
	require.NoError(t, p.Close())
	r := <-big
	require.ErrorIs(t, r.err, ErrClosed)
}

func TestPoolCallerCancel(t *testing.T) {
	g := newGate(t)
	p := newPool(t, g, PoolConfig{Workers: 1, MaxBatch: 8, BatchWindow: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	gone := embedAsync(p, ctx, "gone")
	stay := embedAsync(p, context.Background(), "stay")
	<-g.entered // one batch with both
	cancel()
	r := <-gone
	require.ErrorIs(t, r.err, context.Canceled)
	close(g.release)
	r = <-stay
	require.NoError(t, r.err, "the other caller of the batch is served")
	require.Len(t, r.vs, 1)

	// A batch whose callers have all gone is cancelled.
	g2 := newGate(t)
	p2 := newPool(t, g2, PoolConfig{Workers: 1})
	ctx, cancel = context.WithCancel(context.Background())
	ch := embedAsync(p2, ctx, "x")
	<-g2.entered
	cancel()
	require.ErrorIs(t, (<-ch).err, context.Canceled)
	// The worker is free again: a new call gets through once released.
	close(g2.release)
	vs, err := p2.Embed(context.Background(), []string{"y"})
	require.NoError(t, err)
	require.Len(t, vs, 1)
}

func TestPoolTextError(t *testing.T) {
	srv := newFake(t, openaitest.Config{})
	o := newOpenAI(t, srv, OpenAIConfig{})
	p := newPool(t, o, PoolConfig{MaxBatch: 4, BatchWindow: 50 * time.Millisecond, Workers: 1})
	// Both calls in one window; the second holds a blank text at its index 5.
	good := embedAsync(p, context.Background(), "fine", "also fine")
	bad := embedAsync(p, context.Background(), "a", "b", "c", "d", "e", " ", "g")
	rg, rb := <-good, <-bad
	require.NoError(t, rg.err)
	requireVectors(t, []string{"fine", "also fine"}, 8, rg.vs)
	require.ErrorIs(t, rb.err, ErrEmptyText)
	var te *TextError
	require.ErrorAs(t, rb.err, &te)
	require.Equal(t, 5, te.Index, "the index in the caller's texts")
}

func TestPoolInnerError(t *testing.T) {
	srv := newFake(t, openaitest.Config{})
	o := newOpenAI(t, srv, OpenAIConfig{APIKey: "sk-wrong-000000"})
	p := newPool(t, o, PoolConfig{BatchWindow: 30 * time.Millisecond})
	a := embedAsync(p, context.Background(), "x")
	b := embedAsync(p, context.Background(), "y")
	require.ErrorIs(t, (<-a).err, ErrUnauthorized)
	require.ErrorIs(t, (<-b).err, ErrUnauthorized)
}

func TestPoolConfig(t *testing.T) {
	h := newHash(t, HashConfig{})
	for _, cfg := range []PoolConfig{{Workers: -1}, {Workers: 5000}, {QueueSize: -1}, {MaxBatch: -2}, {QueryWorkers: 5000}, {QueryBurst: -1}} {
		_, err := NewPool(h, cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
	}
	_, err := NewPool(nil, PoolConfig{})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Equal(t, PoolConfig{Workers: 4, QueueSize: 256, MaxBatch: 64, BatchWindow: 2 * time.Millisecond, QueryWorkers: 1, QueryBurst: 4}, DefaultPoolConfig())
	p := newPool(t, h, PoolConfig{QueryWorkers: -1})
	vs, err := p.Embed(WithPriority(context.Background(), PriorityQuery), []string{"no query worker"})
	require.NoError(t, err, "queries go to Workers")
	require.Len(t, vs, 1)
}

func TestPriorityContext(t *testing.T) {
	ctx := context.Background()
	require.Equal(t, PriorityBulk, PriorityFrom(ctx))
	require.Equal(t, PriorityQuery, PriorityFrom(WithPriority(ctx, PriorityQuery)))
	require.Equal(t, PriorityBulk, PriorityFrom(WithPriority(WithPriority(ctx, PriorityQuery), PriorityBulk)))
	require.Equal(t, PriorityBulk, PriorityFrom(WithPriority(ctx, Priority(7))), "unknown: bulk")
	require.Equal(t, "query", PriorityQuery.String())
	require.Equal(t, "bulk", PriorityBulk.String())
	require.Equal(t, "Priority(7)", Priority(7).String())
}

// kinds maps the gate's calls to their first letters: "b" for a bulk
// text, "q" for a query.
func kinds(calls [][]string) string {
	var s []byte
	for _, c := range calls {
		s = append(s, c[0][0])
	}
	return string(s)
}

// TestPoolQueryPriority queues a bulk call of many texts behind a held
// batch, then a query: the query is embedded, and completes, before the
// queued bulk batches — at once on the query worker, or on the next free
// worker without one.
func TestPoolQueryPriority(t *testing.T) {
	for _, tc := range []struct {
		name         string
		queryWorkers int
	}{{"query worker", 1}, {"no query worker", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate(t)
			if tc.queryWorkers > 0 {
				// The query runs beside the held bulk batch: let it pass.
				g.pass = func(texts []string) bool { return texts[0] == "q" }
			}
			p := newPool(t, g, PoolConfig{Workers: 1, QueryWorkers: tc.queryWorkers, MaxBatch: 2, BatchWindow: -1})
			ctx := context.Background()
			bulkTexts := []string{"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"}
			bulk := embedAsync(p, ctx, bulkTexts...)
			<-g.entered // b0 b1, held
			query := embedAsync(p, WithPriority(ctx, PriorityQuery), "q")
			if tc.queryWorkers < 0 {
				// Wait for the dispatcher to hold the query, then let the
				// only worker go on.
				require.Eventually(t, func() bool { return p.taken[PriorityQuery].Load() == 1 }, 5*time.Second, time.Millisecond)
				g.release <- struct{}{}
			}
			<-g.entered
			require.Equal(t, []string{"q"}, g.Calls()[1], "the query goes before the queued bulk texts")
			if tc.queryWorkers < 0 {
				g.release <- struct{}{}
			}
			r := <-query
			require.NoError(t, r.err)
			requireHashVectors(t, g.hash, []string{"q"}, r.vs)
			select {
			case <-bulk:
				t.Fatal("the bulk call finished before the query")
			default:
			}
			close(g.release)
			r = <-bulk
			require.NoError(t, r.err)
			requireHashVectors(t, g.hash, bulkTexts, r.vs)
			require.Equal(t, "bqbbbb", kinds(g.Calls()))
		})
	}
}

// TestPoolQueryBurst floods the pool with queries while bulk work waits:
// Workers take QueryBurst query batches, then a bulk batch, and so on.
func TestPoolQueryBurst(t *testing.T) {
	g := newGate(t)
	p := newPool(t, g, PoolConfig{Workers: 1, QueryWorkers: -1, QueryBurst: 2, MaxBatch: 1, BatchWindow: -1})
	ctx := context.Background()
	bulk := embedAsync(p, ctx, "b0", "b1", "b2")
	<-g.entered // b0 held; b1 waits in a batch, b2 in the queue
	qctx := WithPriority(ctx, PriorityQuery)
	var queries []chan result
	for i := range 6 {
		queries = append(queries, embedAsync(p, qctx, fmt.Sprintf("q%d", i)))
	}
	// One query in a batch, five in the queue, b2 in the queue.
	require.Eventually(t, func() bool { return p.QueueDepth() == 6 && p.taken[PriorityQuery].Load() == 1 },
		5*time.Second, time.Millisecond)
	close(g.release)
	require.NoError(t, (<-bulk).err)
	for _, q := range queries {
		require.NoError(t, (<-q).err)
	}
	require.Equal(t, "bqqbqqbqq", kinds(g.Calls()))
}

func requireHashVectors(t *testing.T, h *Hash, texts []string, vs [][]float32) {
	t.Helper()
	want, err := h.Embed(context.Background(), texts)
	require.NoError(t, err)
	require.Equal(t, want, vs)
}
