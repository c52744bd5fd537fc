package flat

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/ragd/ragd/simd"
)

var (
	inf = float32(math.Inf(1))
	nan = float32(math.NaN())
)

// Result is one hit: a row number and its distance to the query (squared
// Euclidean for L2, 1 − cosine for Cosine, −dot for Dot).
type Result struct {
	ID   uint32
	Dist float32
}

// Request is one exact batch search.
type Request struct {
	// Vectors are the rows searched.
	Vectors Vectors
	// Metric is the distance. Required.
	Metric Metric
	// Queries holds the queries back to back, Vectors.Dim floats each.
	Queries []float32
	// K is the number of results wanted per query; positive. A query gets
	// fewer when fewer rows are admitted.
	K int
	// Allow, if not nil, admits only the rows it holds (a filter's
	// allow-list). The search reads it once, into a list of row numbers.
	Allow AllowList
	// Exclude, if not nil, rules out the rows for which it returns true
	// (deleted rows). It is called once per row and block of queries, from
	// the search's goroutines at once: it must be safe for concurrent use.
	Exclude func(id uint32) bool
}

// Response holds the results of a Search. Its slices are reused by the
// next Search into the same Response, so a caller that searches in a loop
// allocates nothing once they have grown.
type Response struct {
	// K is the request's K.
	K int
	// Results holds K slots per query: query i's hits are
	// Results[i*K : i*K+Found[i]], nearest first, ties by lower ID.
	Results []Result
	// Found is the number of hits of each query: K, or fewer when fewer
	// rows were admitted.
	Found []int
	// Rows is the number of rows the queries were searched over:
	// Vectors.Len, or with an allow-list the allowed rows below Len that
	// Exclude keeps.
	Rows int
}

// Hits returns query i's results, nearest first.
func (r *Response) Hits(i int) []Result {
	return r.Results[i*r.K : i*r.K+r.Found[i]]
}

// Engine runs exact batch searches: the queries times the rows as a matrix
// product in cache-sized tiles (simd.ScoreTile), each score checked
// against its query's current k-th best, on Config.Threads cores. See the
// package documentation for the algorithm.
//
// An Engine is safe for concurrent use; each Search takes its own scratch
// space from a pool, so searches in a steady loop allocate nothing but
// their goroutines.
type Engine struct {
	cfg  Config
	pool sync.Pool // *call
}

// New returns an engine with cfg's defaults applied.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg.withDefaults()}, nil
}

// Config returns the engine's configuration, defaults applied.
func (e *Engine) Config() Config { return e.cfg }

// Search runs req and fills resp. Every query gets the min(K, admitted
// rows) nearest rows, exactly as a brute-force scan with the simd kernels
// would rank them up to rounding ties: the candidates are selected by
// their matrix-product scores and their distances then recomputed with
// simd.L2Squared, Dot or Cosine, the kernels hnsw uses. Queries are not
// checked for NaN or ±Inf (the index validates its input); rows whose
// score is NaN are never returned.
//
// Search checks ctx between blocks of work and returns ctx.Err() (with
// resp in an unspecified state) once it is done.
func (e *Engine) Search(ctx context.Context, req *Request, resp *Response) error {
	c, _ := e.pool.Get().(*call)
	if c == nil {
		c = new(call)
	}
	defer func() {
		c.release()
		e.pool.Put(c)
	}()
	if err := c.prepare(e, req, resp); err != nil {
		return err
	}
	if c.kk == 0 {
		return nil
	}
	if err := c.run(ctx); err != nil {
		return err
	}
	c.finish(resp)
	return nil
}

// call is the state of one Search, pooled.
type call struct {
	e       *Engine
	req     *Request
	v       *Vectors
	starts  []int
	ids     []uint32 // admitted rows when Allow is set
	useIDs  bool
	sorted  bool      // ids arrived ascending
	queries []float32 // prepared: the request's, or qbuf
	qbuf    []float32 // the queries normalised for Cosine
	nq      int
	rows    int // rows admitted
	kk      int // min(K, rows): heap capacity
	direct  bool
	block   int // queries per block
	blocks  int
	shards  int
	cands   []cand
	tops    []topK // per (query, shard)
	workers []*worker
	next    atomic.Int64
	stop    atomic.Bool
	err     error
	errOnce sync.Once
}

func (c *call) prepare(e *Engine, req *Request, resp *Response) error {
	*c = call{e: e, req: req, v: &req.Vectors, starts: c.starts, ids: c.ids, qbuf: c.qbuf,
		cands: c.cands, tops: c.tops, workers: c.workers}
	v := c.v
	var err error
	if c.starts, err = v.validate(c.starts); err != nil {
		return err
	}
	switch {
	case !req.Metric.valid():
		return fmt.Errorf("%w: unknown metric %d", ErrInvalidArgument, req.Metric)
	case req.K < 1:
		return fmt.Errorf("%w: k %d is not positive", ErrInvalidArgument, req.K)
	case len(req.Queries)%v.Dim != 0:
		return fmt.Errorf("%w: %d query floats are not a multiple of dimension %d", ErrDimensionMismatch, len(req.Queries), v.Dim)
	}
	c.nq = len(req.Queries) / v.Dim
	c.rows = v.Len
	if req.Allow != nil {
		c.collectIDs()
		c.rows = len(c.ids)
		c.useIDs = true
	}
	c.kk = min(req.K, c.rows)

	resp.K = req.K
	resp.Rows = c.rows
	resp.Results = grow(resp.Results, c.nq*req.K)
	resp.Found = grow(resp.Found, c.nq)
	clear(resp.Found)
	if c.kk == 0 || c.nq == 0 {
		c.kk = 0
		return nil
	}
	c.prepareQueries()
	c.plan()
	return nil
}

// collectIDs reads the allow-list into c.ids: ascending, unique, below
// Len, and not excluded.
func (c *call) collectIDs() {
	c.ids, c.sorted = c.ids[:0], true
	if list, ok := c.req.Allow.(IDs); ok {
		// No callback through the interface: nothing escapes.
		for _, id := range list {
			c.admit(id)
		}
	} else {
		c.req.Allow.Iterate(func(id uint32) bool {
			c.admit(id)
			return true
		})
	}
	if !c.sorted {
		sortUnique(&c.ids)
	}
}

// admit appends id to c.ids if it is below Len and not excluded.
func (c *call) admit(id uint32) {
	if int64(id) >= int64(c.v.Len) || c.req.Exclude != nil && c.req.Exclude(id) {
		return
	}
	if n := len(c.ids); n > 0 && id <= c.ids[n-1] {
		c.sorted = false
	}
	c.ids = append(c.ids, id)
}

// prepareQueries copies the queries, normalised for Cosine over unit rows
// the way hnsw normalises them (in float64), so that distances match the
// graph's. Over rows of any length, Cosine takes the queries as they are:
// the score −q·r/|r| ranks the rows of one query alike at any scale of q.
func (c *call) prepareQueries() {
	q := c.req.Queries
	if c.req.Metric != Cosine || !c.v.Unit {
		c.queries = q
		return
	}
	c.qbuf = grow(c.qbuf, len(q))
	c.queries = c.qbuf
	dim := c.v.Dim
	for i := range c.nq {
		src, dst := q[i*dim:(i+1)*dim], c.queries[i*dim:(i+1)*dim]
		var ss float64
		for _, x := range src {
			ss += float64(x) * float64(x)
		}
		scale := 1.0
		if ss > 0 {
			scale = 1 / math.Sqrt(ss)
		}
		for j, x := range src {
			dst[j] = float32(float64(x) * scale)
		}
	}
}

// plan cuts the work into items of (block of queries, shard of rows): as
// many query blocks as fit the cache budget, rebalanced so that each thread
// gets the same number, and when there are fewer blocks than threads the
// rows cut into shards, whose results are merged at the end.
func (c *call) plan() {
	threads := c.e.cfg.Threads
	_, lanes := simd.TileShape()
	c.direct = c.nq < c.e.cfg.SmallBatch
	if c.direct {
		c.block = c.nq
	} else {
		c.block = max(lanes, c.e.cfg.CacheBytes/(4*c.v.Dim)/lanes*lanes)
	}
	c.blocks = ceilDiv(c.nq, c.block)
	c.shards = 1
	switch {
	case c.blocks >= threads && !c.direct:
		// Even the blocks out over the threads.
		b := ceilDiv(c.blocks, threads) * threads
		c.block = ceilDiv(ceilDiv(c.nq, b), lanes) * lanes
		c.blocks = ceilDiv(c.nq, c.block)
	case c.blocks < threads:
		c.shards = min(ceilDiv(threads, c.blocks), max(1, c.rows/minShardRows))
	}
	shards := c.shards
	c.cands = grow(c.cands, c.nq*shards*c.kk)
	c.tops = grow(c.tops, c.nq*shards)
	for i := range c.tops {
		c.tops[i].reset(c.cands[i*c.kk : (i+1)*c.kk : (i+1)*c.kk])
	}
}

// minShardRows is the fewest rows worth a shard of their own.
const minShardRows = 256

// run works through the items on up to Threads goroutines, the caller's
// included.
func (c *call) run(ctx context.Context) error {
	items := c.blocks * c.shards
	threads := min(c.e.cfg.Threads, items)
	for len(c.workers) < threads {
		c.workers = append(c.workers, new(worker))
	}
	if threads == 1 {
		c.work(ctx, c.workers[0])
		return c.err
	}
	var wg sync.WaitGroup
	for t := 1; t < threads; t++ {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			c.work(ctx, w)
		}(c.workers[t])
	}
	c.work(ctx, c.workers[0])
	wg.Wait()
	return c.err
}

// work takes items until none is left or the search stops.
func (c *call) work(ctx context.Context, w *worker) {
	w.c = c
	w.ctx = ctx
	items := int64(c.blocks * c.shards)
	for !c.stop.Load() {
		i := c.next.Add(1) - 1
		if i >= items {
			return
		}
		if err := ctx.Err(); err != nil {
			c.fail(err)
			return
		}
		w.item(int(i)/c.shards, int(i)%c.shards)
	}
}

// fail records the first error and stops the other workers.
func (c *call) fail(err error) {
	c.errOnce.Do(func() { c.err = err })
	c.stop.Store(true)
}

// finish merges each query's shards, recomputes the distances of the
// candidates with the exact kernels, sorts them and writes the results.
func (c *call) finish(resp *Response) {
	w := c.workers[0]
	k, dim := c.req.K, c.v.Dim
	for qi := range c.nq {
		q := c.queries[qi*dim : (qi+1)*dim]
		all := w.merge[:0]
		for s := range c.shards {
			for _, cd := range c.tops[qi*c.shards+s].h {
				cd.key = c.distance(q, c.v.rowAt(c.starts, int(cd.id)))
				all = append(all, cd)
			}
		}
		sortCands(all)
		out := resp.Results[qi*k : (qi+1)*k]
		n := min(len(all), k)
		for i, cd := range all[:n] {
			out[i] = Result{ID: cd.id, Dist: cd.key}
		}
		resp.Found[qi] = n
		w.merge = all
	}
}

// release drops the references to the caller's data before the call goes
// back to the pool.
func (c *call) release() {
	for _, w := range c.workers {
		w.c, w.ctx, w.tile = nil, nil, simd.Tile{}
	}
	c.e, c.req, c.v, c.queries = nil, nil, nil, nil
}

// distance is the exact distance between a prepared query and a row, as
// hnsw computes it.
func (c *call) distance(q, row []float32) float32 {
	switch c.req.Metric {
	case L2:
		return simd.L2Squared(q, row)
	case Cosine:
		if c.v.Unit {
			return 0.5 * simd.L2Squared(q, row)
		}
		return 1 - simd.Cosine(q, row)
	}
	return -simd.Dot(q, row)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// grow returns s with length n, reallocated only when too short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
