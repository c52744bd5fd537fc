package embed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults and limits of PoolConfig.
const (
	defaultPoolWorkers     = 4
	defaultPoolQueueSize   = 256
	defaultPoolMaxBatch    = 64
	defaultPoolBatchWindow = 2 * time.Millisecond
	defaultPoolQueryWorker = 1
	defaultPoolQueryBurst  = 4
	maxPoolWorkers         = 1024
	maxPoolQueueSize       = 1 << 20
	maxPoolMaxBatch        = 1 << 16
)

// PoolConfig configures NewPool. The zero value is valid.
type PoolConfig struct {
	// Workers is the number of inner Embed calls in flight at once.
	// Default 4. In front of an OpenAI embedder, Workers × MaxBatch should
	// be about twice its Concurrency × OpenAIConfig.MaxBatch: half the
	// batches wait for the endpoint while the others are encoded and
	// decoded, else the endpoint idles.
	Workers int
	// QueueSize is the number of requests waiting for a worker, each of at
	// most MaxBatch texts (a larger Embed call takes several): when it is
	// full, Embed blocks — back-pressure on the producer, not unbounded
	// memory. Default 256, 16,384 texts at the default MaxBatch.
	QueueSize int
	// MaxBatch is the most distinct texts of one inner Embed call. Default
	// 64.
	MaxBatch int
	// BatchWindow is how long a batch that is not full waits for more
	// requests before it goes: concurrent small Embed calls (one query
	// each) then share one inner call. Default 2 ms, small next to a
	// provider's latency. Negative: no wait, a batch takes only what is
	// already queued.
	BatchWindow time.Duration
	// QueryWorkers is the number of extra workers that take only
	// PriorityQuery batches (see WithPriority): while bulk work holds every
	// one of Workers, a query still starts at once instead of waiting for
	// a bulk batch to end (with the local model, up to MaxBatch passages of
	// CPU time). Default 1. Negative: none; queries then go to the next
	// free worker, still ahead of every queued bulk batch.
	QueryWorkers int
	// QueryBurst bounds how long queries may keep bulk work waiting: while
	// a bulk batch is ready, Workers take at most QueryBurst query batches
	// in a row before they take it. Bulk work thus gets at least one batch
	// in QueryBurst+1 of Workers' under a flood of queries, and is never
	// starved. Default 4.
	QueryBurst int
	// Metrics, if set, tracks the queue depth.
	Metrics *Metrics
}

// DefaultPoolConfig returns the defaults.
func DefaultPoolConfig() PoolConfig { return PoolConfig{}.withDefaults() }

func (c PoolConfig) withDefaults() PoolConfig {
	if c.Workers == 0 {
		c.Workers = defaultPoolWorkers
	}
	if c.QueueSize == 0 {
		c.QueueSize = defaultPoolQueueSize
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = defaultPoolMaxBatch
	}
	if c.BatchWindow == 0 {
		c.BatchWindow = defaultPoolBatchWindow
	}
	if c.QueryWorkers == 0 {
		c.QueryWorkers = defaultPoolQueryWorker
	}
	if c.QueryBurst == 0 {
		c.QueryBurst = defaultPoolQueryBurst
	}
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// zero ones.
func (c PoolConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Workers < 1 || c.Workers > maxPoolWorkers:
		return fmt.Errorf("%w: pool: workers %d out of range [1, %d]", ErrInvalidConfig, c.Workers, maxPoolWorkers)
	case c.QueueSize < 1 || c.QueueSize > maxPoolQueueSize:
		return fmt.Errorf("%w: pool: queue size %d out of range [1, %d]", ErrInvalidConfig, c.QueueSize, maxPoolQueueSize)
	case c.MaxBatch < 1 || c.MaxBatch > maxPoolMaxBatch:
		return fmt.Errorf("%w: pool: max batch %d out of range [1, %d]", ErrInvalidConfig, c.MaxBatch, maxPoolMaxBatch)
	case c.QueryWorkers > maxPoolWorkers:
		return fmt.Errorf("%w: pool: query workers %d out of range [-1, %d]", ErrInvalidConfig, c.QueryWorkers, maxPoolWorkers)
	case c.QueryBurst < 1:
		return fmt.Errorf("%w: pool: query burst %d is less than 1", ErrInvalidConfig, c.QueryBurst)
	}
	return nil
}

// Pool is an Embedder in front of another, shared by the process: Embed
// calls queue their texts, and workers embed them in batches.
//
//   - Back-pressure: each queue is bounded (QueueSize requests); Embed
//     blocks while its queue is full, until there is room, ctx ends or the
//     pool closes.
//   - Micro-batching: a worker's batch gathers queued requests for up to
//     BatchWindow, up to MaxBatch distinct texts, so that many concurrent
//     one-text calls make one inner call; while every worker is busy it
//     goes on gathering, so that under load batches leave full.
//   - Priority: a call whose ctx carries PriorityQuery (WithPriority) goes
//     to a queue of its own, is batched only with other queries, and its
//     batch goes to the next free worker ahead of every bulk batch; the
//     QueryWorkers serve only such batches, so a query starts at once even
//     while bulk work holds every one of Workers. Bulk work is never
//     starved: while a bulk batch is ready, Workers take at most
//     QueryBurst query batches in a row before it. Calls without a
//     priority are bulk, served first come, first served.
//   - Dedupe: identical texts of a batch, from one call or several, are
//     embedded once; each caller still gets its own copy of the vector.
//   - Order: each caller gets one vector per text, in its order.
//   - Errors: a batch that fails fails every call in it with the inner
//     error, except a *TextError (a text the inner embedder rejects): the
//     calls holding that text fail with the TextError re-indexed to their
//     own texts, and the rest of the batch is retried without them.
//   - Cancellation: a caller whose ctx ends returns at once; its queued
//     requests are skipped, and an inner call is cancelled once every
//     caller in its batch has gone.
//
// Close stops the workers, cancels the inner calls in flight and fails
// the queued requests with ErrClosed. The inner Embedder is not closed:
// whoever made it owns it.
//
// Pool is safe for concurrent use.
type Pool struct {
	inner   Embedder
	cfg     PoolConfig
	metrics *Metrics
	queues  [numPriorities]chan *poolJob // by Priority
	batches chan *poolBatch              // to every worker
	queries chan *poolBatch              // query batches, to the QueryWorkers too
	ctx     context.Context              // lifecycle: cancelled by Close
	cancel  context.CancelFunc
	closing chan struct{} // closed first thing by Close
	once    sync.Once
	wg      sync.WaitGroup
	depth   atomic.Int64                // texts queued
	taken   [numPriorities]atomic.Int64 // jobs the dispatcher has taken, by priority (tests wait on it)

	mu struct {
		sync.RWMutex // held shared while an Embed call enqueues
		closed       bool
	}
}

var _ Embedder = (*Pool)(nil)

// poolCall is one Embed call.
type poolCall struct {
	ctx     context.Context // the caller's, also cancelled on the first failure
	cancel  context.CancelCauseFunc
	out     [][]float32 // the result; each job writes its own range
	pending atomic.Int64
	done    chan struct{} // closed when every job has delivered

	mu  sync.Mutex
	err error // guarded by mu: the first failure
}

func (c *poolCall) finish() {
	if c.pending.Add(-1) == 0 {
		close(c.done)
	}
}

func (c *poolCall) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.cancel(err)
}

func (c *poolCall) firstErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// poolJob is one queued request: texts = the call's texts[offset:offset+len].
type poolJob struct {
	call   *poolCall
	offset int
	texts  []string
}

// poolBatch is the jobs of one inner call and their distinct texts.
type poolBatch struct {
	jobs  []*poolJob
	texts []string       // distinct, in first-seen order
	index map[string]int // text -> position in texts
	due   time.Time      // end of the batch window
}

// NewPool starts a pool of workers in front of inner.
func NewPool(inner Embedder, cfg PoolConfig) (*Pool, error) {
	if inner == nil {
		return nil, fmt.Errorf("%w: pool: nil embedder", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Pool{
		inner:   inner,
		cfg:     cfg,
		metrics: cfg.Metrics,
		batches: make(chan *poolBatch),
		queries: make(chan *poolBatch),
		closing: make(chan struct{}),
	}
	for i := range p.queues {
		p.queues[i] = make(chan *poolJob, cfg.QueueSize)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	queryWorkers := max(cfg.QueryWorkers, 0)
	p.wg.Add(1 + cfg.Workers + queryWorkers)
	go p.dispatch()
	for range cfg.Workers {
		go p.work(p.batches)
	}
	for range queryWorkers {
		go p.work(p.queries)
	}
	return p, nil
}

// Dimension returns the inner embedder's.
func (p *Pool) Dimension() int { return p.inner.Dimension() }

// Model returns the inner embedder's.
func (p *Pool) Model() string { return p.inner.Model() }

// Provider returns the inner embedder's provider name (see Cache).
func (p *Pool) Provider() string { return providerOf(p.inner) }

// Probe returns the dimension, asking the inner embedder to learn it if
// it can (see Prober).
func (p *Pool) Probe(ctx context.Context) (int, error) { return probe(ctx, p.inner) }

// QueueDepth returns the number of texts waiting to be batched: in the
// queues, or in Embed calls blocked on a full one.
func (p *Pool) QueueDepth() int { return int(p.depth.Load()) }

// Embed queues texts and waits for their vectors (see Pool). The
// priority comes from ctx (see WithPriority).
func (p *Pool) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.RLock()
	if p.mu.closed {
		p.mu.RUnlock()
		return nil, ErrClosed
	}
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		p.mu.RUnlock()
		return out, nil
	}
	queue := p.queues[PriorityFrom(ctx)]
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	call := &poolCall{ctx: cctx, cancel: cancel, out: out, done: make(chan struct{})}
	call.pending.Store(int64((len(texts) + p.cfg.MaxBatch - 1) / p.cfg.MaxBatch))
enqueue:
	for lo := 0; lo < len(texts); lo += p.cfg.MaxBatch {
		hi := min(lo+p.cfg.MaxBatch, len(texts))
		p.queued(hi - lo)
		select {
		case queue <- &poolJob{call: call, offset: lo, texts: texts[lo:hi]}:
		case <-cctx.Done():
			p.queued(lo - hi)
			break enqueue
		case <-p.closing:
			p.queued(lo - hi)
			call.fail(ErrClosed)
			break enqueue
		}
	}
	p.mu.RUnlock()
	select {
	case <-call.done:
		return out, nil
	case <-cctx.Done():
		if err := call.firstErr(); err != nil {
			return nil, err
		}
		return nil, ctx.Err()
	}
}

func (p *Pool) queued(n int) {
	p.depth.Add(int64(n))
	p.metrics.queued(n)
}

// Close stops the pool (see Pool). It waits for the workers to return and
// is idempotent.
func (p *Pool) Close() error {
	p.once.Do(func() {
		close(p.closing) // wakes the Embed calls blocked on a full queue
		p.mu.Lock()      // waits for them to leave: no job is queued after this
		p.mu.closed = true
		p.mu.Unlock()
		p.cancel()
		p.wg.Wait()
		for _, q := range p.queues {
		drain:
			for {
				select {
				case j := <-q:
					p.queued(-len(j.texts))
					j.call.fail(ErrClosed)
				default:
					break drain
				}
			}
		}
	})
	return nil
}

// lane is the dispatcher's state for one priority: the batch it is
// gathering or offering to the workers, and a job that did not fit in it.
type lane struct {
	prio  Priority
	queue chan *poolJob
	batch *poolBatch // nil: none yet
	carry *poolJob   // starts the next batch
}

// full reports whether l's batch takes no more jobs.
func (l *lane) full(max int) bool {
	return l.carry != nil || l.batch != nil && len(l.batch.texts) >= max
}

// dispatch gathers queued jobs into batches, one per priority at a time,
// and hands them to the workers: query batches first, to any worker, and
// to the query workers alone; bulk batches to Workers when no query batch
// is ready, or after QueryBurst query batches in a row.
func (p *Pool) dispatch() {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var lanes [numPriorities]lane
	for i := range lanes {
		lanes[i].queue, lanes[i].prio = p.queues[i], Priority(i)
	}
	q, b := &lanes[PriorityQuery], &lanes[PriorityBulk]
	burst := 0 // query batches Workers took in a row while a bulk batch was ready
	// place puts j in l's batch, or makes it l's carry if it does not fit.
	place := func(l *lane, j *poolJob) {
		if j.call.ctx.Err() != nil { // skip the jobs of calls that have gone
			return
		}
		if l.batch == nil {
			l.batch = &poolBatch{index: make(map[string]int), due: time.Now().Add(p.cfg.BatchWindow)}
		}
		if !l.batch.add(j, p.cfg.MaxBatch) {
			l.carry = j
		}
	}
	take := func(l *lane, j *poolJob) {
		p.queued(-len(j.texts))
		p.taken[l.prio].Add(1)
		place(l, j)
	}
	// takeQueued takes one job already queued, if a lane has room, queries
	// first. The loop below takes them all before it offers a batch, so
	// that what it offers depends on the queues' contents and not on
	// which channel a select happens to pick.
	takeQueued := func() bool {
		for _, l := range []*lane{q, b} {
			if l.full(p.cfg.MaxBatch) {
				continue
			}
			select {
			case j := <-l.queue:
				take(l, j)
				return true
			default:
			}
		}
		return false
	}
	ready := func(l *lane, now time.Time) bool {
		return l.batch != nil && (p.cfg.BatchWindow <= 0 || l.full(p.cfg.MaxBatch) || !now.Before(l.batch.due))
	}
	for {
		for _, l := range []*lane{q, b} {
			if l.batch == nil && l.carry != nil {
				j := l.carry
				l.carry = nil
				place(l, j)
			}
		}
		if takeQueued() {
			continue
		}
		var now time.Time
		if p.cfg.BatchWindow > 0 {
			now = time.Now()
		}
		qReady, bReady := ready(q, now), ready(b, now)
		var toQueries, toAny chan *poolBatch
		var anyBatch *poolBatch
		if qReady {
			toQueries, toAny, anyBatch = p.queries, p.batches, q.batch
		}
		if bReady && (!qReady || burst >= p.cfg.QueryBurst) {
			toAny, anyBatch = p.batches, b.batch
		}
		var qIn, bIn chan *poolJob
		if !q.full(p.cfg.MaxBatch) {
			qIn = q.queue
		}
		if !b.full(p.cfg.MaxBatch) {
			bIn = b.queue
		}
		var wake <-chan time.Time
		if (q.batch != nil && !qReady) || (b.batch != nil && !bReady) {
			due := time.Time{}
			for _, l := range []*lane{q, b} {
				if l.batch != nil && !ready(l, now) && (due.IsZero() || l.batch.due.Before(due)) {
					due = l.batch.due
				}
			}
			timer.Reset(due.Sub(now))
			wake = timer.C
		}
		select {
		case j := <-qIn:
			take(q, j)
		case j := <-bIn:
			take(b, j)
		case toQueries <- q.batch:
			q.batch = nil
		case toAny <- anyBatch:
			if anyBatch == q.batch {
				q.batch = nil
				if bReady {
					burst++
				}
			} else {
				b.batch, burst = nil, 0
			}
		case <-wake:
		case <-p.ctx.Done():
			timer.Stop()
			for _, l := range []*lane{q, b} {
				if l.batch != nil {
					l.batch.fail(ErrClosed)
				}
				if l.carry != nil {
					l.carry.call.fail(ErrClosed)
				}
			}
			return
		}
		timer.Stop()
	}
}

// add puts j's texts in b unless b has jobs already and would then hold
// more than max distinct texts; it reports whether it did.
func (b *poolBatch) add(j *poolJob, max int) bool {
	before := len(b.texts)
	for _, t := range j.texts {
		if _, ok := b.index[t]; !ok {
			b.index[t] = len(b.texts)
			b.texts = append(b.texts, t)
		}
	}
	if len(b.jobs) > 0 && len(b.texts) > max {
		for _, t := range b.texts[before:] {
			delete(b.index, t)
		}
		b.texts = b.texts[:before]
		return false
	}
	b.jobs = append(b.jobs, j)
	return true
}

func (b *poolBatch) fail(err error) {
	for _, j := range b.jobs {
		j.call.fail(err)
	}
}

// work runs the batches of ch until the pool closes.
func (p *Pool) work(ch <-chan *poolBatch) {
	defer p.wg.Done()
	for {
		select {
		case b := <-ch:
			p.run(b)
		case <-p.ctx.Done():
			return
		}
	}
}

// run embeds one batch and delivers its vectors or its error.
func (p *Pool) run(b *poolBatch) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	// Cancel the inner call once every caller of the batch has gone.
	var live atomic.Int64
	live.Store(int64(len(b.jobs)))
	for _, j := range b.jobs {
		stop := context.AfterFunc(j.call.ctx, func() {
			if live.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	for len(b.jobs) > 0 {
		vs, err := p.inner.Embed(ctx, b.texts)
		if err == nil && len(vs) != len(b.texts) {
			err = fmt.Errorf("%w: pool: the embedder returned %d vectors for %d texts", ErrBadResponse, len(vs), len(b.texts))
		}
		if err == nil {
			b.deliver(vs)
			return
		}
		if p.ctx.Err() != nil {
			b.fail(ErrClosed)
			return
		}
		var te *TextError
		if !errors.As(err, &te) || te.Index < 0 || te.Index >= len(b.texts) {
			b.fail(err)
			return
		}
		// Fail the calls holding the rejected text, retry the others.
		bad := b.texts[te.Index]
		rest := &poolBatch{index: make(map[string]int)}
		for _, j := range b.jobs {
			if i := slices.Index(j.texts, bad); i >= 0 {
				j.call.fail(&TextError{Index: j.offset + i, Err: te.Err})
				continue
			}
			if j.call.ctx.Err() == nil {
				rest.add(j, len(b.texts))
			}
		}
		b = rest
	}
}

// deliver copies each job's vectors into its call's result.
func (b *poolBatch) deliver(vs [][]float32) {
	used := make([]bool, len(vs))
	for _, j := range b.jobs {
		if j.call.ctx.Err() != nil {
			continue
		}
		for i, t := range j.texts {
			k := b.index[t]
			v := vs[k]
			if used[k] {
				v = slices.Clone(v)
			}
			used[k] = true
			j.call.out[j.offset+i] = v
		}
		j.call.finish()
	}
}
