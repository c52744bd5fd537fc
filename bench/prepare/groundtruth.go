package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ragd/ragd/simd"
)

// metric is how the ground truth ranks base rows; a smaller distance is
// nearer.
type metric int

const (
	// euclidean is the L2 distance sqrt(Σ (q−b)²).
	euclidean metric = iota
	// angular is the cosine distance 1 − q·b of vectors already normalised
	// to unit length (see normalized).
	angular
)

func (m metric) String() string {
	if m == angular {
		return "angular"
	}
	return "euclidean"
}

// How the ground truth is computed
//
// Every query is compared with every base row; the work is split into
// blocks of queries (one goroutine at a time owns a block) and, inside, into
// blocks of base rows small enough to stay in a core's L2 cache while every
// query of the block is compared with them. The comparison uses the
// project's float32 block kernels (simd.L2SquaredBlock, simd.DotBlock) and
// keeps, per query, the k+gtSlack rows with the smallest float32 key in a
// bounded max-heap.
//
// float32 sums can misorder rows whose distances are nearly equal, so the
// candidates are then re-ranked by a float64 key (exact for MNIST's integer
// pixels, within 1e-16 otherwise) with ties broken by lower id. That is only
// right if the true top k are all among the candidates, which is proven per
// query from a bound on the float32 error: every row that is not a
// candidate has a float32 key ≥ F, the largest candidate key, hence an
// exact key ≥ lowerBound(F); if the k-th exact key is strictly below that,
// no other row can be nearer or tie. A query where the proof fails (many
// rows tied with its k-th neighbour, e.g. duplicates) is rescanned over
// every base row in float64.

// gtSlack is how many candidates beyond k the float32 scan keeps per query.
// A rescan is needed only when the k-th nearest row is within float32 error
// of the (k+gtSlack)-th, which a few dozen extra rows make rare.
const gtSlack = 32

// Cache blocking: a block of base rows takes about baseBlockBytes, half of
// the 2 MiB L2 of current server cores, leaving room for the query block of
// at most maxQueryBlock rows (200 KB at MNIST's 784 dimensions).
const (
	baseBlockBytes = 1 << 20
	maxQueryBlock  = 64
)

// ulp32 is float32's unit roundoff, 2^-24.
const ulp32 = 1.0 / (1 << 24)

// progressEvery is how often groundTruth reports progress.
const progressEvery = 10 * time.Second

// gtInput is one ground-truth computation.
type gtInput struct {
	base, queries []float32 // row-major, dim values a row; normalised for angular
	dim, k        int
	metric        metric
	workers       int            // goroutines; at least 1
	progress      func(done int) // called every progressEvery from one goroutine; may be nil
	// blockRows is the number of base rows per cache block; 0 sizes blocks
	// to baseBlockBytes. Tests set it small to exercise the block edges.
	blockRows int
}

// gtResult is the exact top k of every query.
type gtResult struct {
	ids     []int32   // k per query: base row ids, nearest first, ties by lower id
	dists   []float32 // the matching distances
	rescans int       // queries whose candidates could not be proven and were rescanned in float64
}

// groundTruth computes the exact k nearest base rows of every query; see
// "How the ground truth is computed" above. It returns ctx.Err() if ctx is
// cancelled.
func groundTruth(ctx context.Context, in gtInput) (*gtResult, error) {
	dim := in.dim
	switch {
	case dim <= 0 || len(in.base)%dim != 0 || len(in.queries)%dim != 0:
		return nil, fmt.Errorf("ground truth: %d base and %d query values are not rows of dimension %d", len(in.base), len(in.queries), dim)
	case in.k <= 0 || len(in.base)/dim < in.k:
		return nil, fmt.Errorf("ground truth: k = %d with %d base rows", in.k, len(in.base)/dim)
	case in.workers < 1:
		return nil, fmt.Errorf("ground truth: %d workers", in.workers)
	}
	if i := slices.IndexFunc(in.base, notFinite); i >= 0 {
		return nil, fmt.Errorf("ground truth: base row %d has a non-finite value", i/dim)
	}
	if i := slices.IndexFunc(in.queries, notFinite); i >= 0 {
		return nil, fmt.Errorf("ground truth: query %d has a non-finite value", i/dim)
	}

	nq := len(in.queries) / dim
	g := &gtRun{
		gtInput:   in,
		nBase:     len(in.base) / dim,
		baseBlock: cmp.Or(in.blockRows, max(1, baseBlockBytes/(4*dim))),
		// Enough blocks that the goroutines finish together.
		queryBlock: min(maxQueryBlock, max(1, (nq+4*in.workers-1)/(4*in.workers))),
		res: &gtResult{
			ids:   make([]int32, nq*in.k),
			dists: make([]float32, nq*in.k),
		},
	}
	g.candidates = min(in.k+gtSlack, g.nBase)
	nBlocks := (nq + g.queryBlock - 1) / g.queryBlock

	stop := make(chan struct{})
	var reporter sync.WaitGroup
	if in.progress != nil {
		reporter.Go(func() {
			tick := time.NewTicker(progressEvery)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					in.progress(int(g.done.Load()))
				}
			}
		})
	}
	var workers sync.WaitGroup
	for range in.workers {
		workers.Go(func() { g.work(ctx, nBlocks) })
	}
	workers.Wait()
	close(stop)
	reporter.Wait()

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.res.rescans = int(g.rescans.Load())
	return g.res, nil
}

// gtRun is the shared state of one groundTruth call. The workers write
// disjoint rows of res.
type gtRun struct {
	gtInput
	nBase      int
	baseBlock  int // base rows per cache block
	queryBlock int // queries per unit of work
	candidates int // candidates kept per query: k+gtSlack, at most nBase

	next    atomic.Int64 // next query block to take
	done    atomic.Int64 // queries finished
	rescans atomic.Int64
	res     *gtResult
}

// work takes query blocks until none is left or ctx is cancelled.
func (g *gtRun) work(ctx context.Context, nBlocks int) {
	dim, nq := g.dim, len(g.queries)/g.dim
	heaps := make([]topHeap, g.queryBlock)
	for i := range heaps {
		heaps[i].items = make([]cand, 0, g.candidates)
	}
	var scratch []ranked
	keys := make([]float32, g.baseBlock)
	for ctx.Err() == nil {
		b := int(g.next.Add(1)) - 1
		if b >= nBlocks {
			return
		}
		q0, q1 := b*g.queryBlock, min(nq, (b+1)*g.queryBlock)
		hs := heaps[:q1-q0]
		for i := range hs {
			hs[i].reset(g.candidates)
		}
		for b0 := 0; b0 < g.nBase; b0 += g.baseBlock {
			b1 := min(g.nBase, b0+g.baseBlock)
			block := g.base[b0*dim : b1*dim]
			for i := range hs {
				scanBlock(g.metric, g.queries[(q0+i)*dim:(q0+i+1)*dim], block, keys[:b1-b0], int32(b0), &hs[i])
			}
		}
		for i := range hs {
			scratch = g.finish(q0+i, &hs[i], scratch)
		}
		g.done.Add(int64(q1 - q0))
	}
}

// scanBlock offers every row of block (ids from id0) to h by float32 key,
// computed into keys (len(block)/dim values) by one block-kernel call. This
// is the hot loop: after the kernel, one comparison per row.
func scanBlock(m metric, q, block, keys []float32, id0 int32, h *topHeap) {
	switch m {
	case euclidean:
		simd.L2SquaredBlock(q, block, keys)
	case angular:
		simd.DotBlock(q, block, keys)
		for i, d := range keys {
			keys[i] = -d
		}
	}
	for i, d := range keys {
		if d < h.limit {
			h.push(d, id0+int32(i))
		}
	}
}

// finish re-ranks query qi's candidates in float64, proves them complete or
// rescans, and writes its row of the result. scratch is reused memory.
func (g *gtRun) finish(qi int, h *topHeap, scratch []ranked) []ranked {
	dim, k := g.dim, g.k
	q := g.queries[qi*dim : (qi+1)*dim]
	r := scratch[:0]
	for _, c := range h.items {
		r = append(r, ranked{key: exactKey(g.metric, q, g.row(c.id)), id: c.id})
	}
	slices.SortFunc(r, compareRanked)

	complete := g.candidates == g.nBase || r[k-1].key < lowerBound(g.metric, dim, h.limit)
	if !complete {
		g.rescans.Add(1)
		r = r[:0]
		for id := range int32(g.nBase) {
			r = append(r, ranked{key: exactKey(g.metric, q, g.row(id)), id: id})
		}
		slices.SortFunc(r, compareRanked)
	}

	ids, dists := g.res.ids[qi*k:(qi+1)*k], g.res.dists[qi*k:(qi+1)*k]
	for i, c := range r[:k] {
		ids[i] = c.id
		dists[i] = float32(distance(g.metric, c.key))
	}
	return r
}

func (g *gtRun) row(id int32) []float32 {
	return g.base[int(id)*g.dim : (int(id)+1)*g.dim]
}

// exactKey is the float64 ranking key of b for query q: the squared L2
// distance, or minus the dot product for angular. Products of float32
// values are exact in float64, so only the sum rounds, at 2^-53.
func exactKey(m metric, q, b []float32) float64 {
	var s float64
	b = b[:len(q)]
	if m == angular {
		for i, x := range q {
			s += float64(x) * float64(b[i])
		}
		return -s
	}
	for i, x := range q {
		d := float64(x) - float64(b[i])
		s += d * d
	}
	return s
}

// distance turns a ranking key into the distance the ground-truth files
// record: sqrt of the squared L2 distance, or 1 − cos for angular.
func distance(m metric, key float64) float64 {
	if m == angular {
		return 1 + key
	}
	return math.Sqrt(key)
}

// lowerBound returns the smallest exact key a row can have whose float32 key
// (from any float32 kernel, whatever its order of summation) is f. A float32
// sum of n products, each rounded once (twice with L2's difference), is
// within γ·Σ|terms| of the exact sum, γ = (n+2)·2^-24 to first order
// (Higham, Accuracy and Stability of Numerical Algorithms, §3.1); the
// factor 2 below is margin for the second-order terms and then some. For L2
// the terms are the squares, so Σ|terms| is the exact key itself. For
// angular, Σ|q_i b_i| ≤ ‖q‖·‖b‖ ≤ 1 (plus rounding) for normalised vectors.
func lowerBound(m metric, dim int, f float32) float64 {
	gamma := 2 * float64(dim+2) * ulp32
	if m == angular {
		return float64(f) - gamma*1.001
	}
	return float64(f) / (1 + gamma)
}

// normalized returns a copy of data with every row scaled to unit length,
// computed exactly as gtgen does: the norm in float64, each value divided in
// float64 and rounded to float32. Zero rows stay zero.
func normalized(data []float32, dim int) []float32 {
	out := make([]float32, len(data))
	for i := 0; i < len(data); i += dim {
		v := data[i : i+dim]
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		s = math.Sqrt(s)
		for j, x := range v {
			if s > 0 {
				out[i+j] = float32(float64(x) / s)
			}
		}
	}
	return out
}

func notFinite(x float32) bool {
	return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0)
}

// ranked is a candidate with its float64 key.
type ranked struct {
	key float64
	id  int32
}

// compareRanked orders by key, then by lower id.
func compareRanked(a, b ranked) int {
	if c := cmp.Compare(a.key, b.key); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// cand is a row offered to a topHeap.
type cand struct {
	key float32
	id  int32
}

// topHeap keeps the n rows with the smallest keys offered to it: a max-heap
// on key, so items[0] is the worst kept row. Callers offer a row only if its
// key is below limit, which is +Inf until the heap is full and items[0].key
// after, so a rejected row costs one comparison. Rows with equal keys may
// be kept or dropped in any order; finish sorts that out.
type topHeap struct {
	items []cand
	n     int
	limit float32
}

func (h *topHeap) reset(n int) {
	h.items, h.n, h.limit = h.items[:0], n, float32(math.Inf(1))
}

// push adds a row whose key is below h.limit.
func (h *topHeap) push(key float32, id int32) {
	if len(h.items) < h.n {
		h.items = append(h.items, cand{key, id})
		for i := len(h.items) - 1; i > 0; { // sift up
			p := (i - 1) / 2
			if h.items[p].key >= h.items[i].key {
				break
			}
			h.items[p], h.items[i] = h.items[i], h.items[p]
			i = p
		}
		if len(h.items) == h.n {
			h.limit = h.items[0].key
		}
		return
	}
	h.items[0] = cand{key, id}
	for i, n := 0, len(h.items); ; { // sift down
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h.items[r].key > h.items[l].key {
			l = r
		}
		if h.items[i].key >= h.items[l].key {
			break
		}
		h.items[i], h.items[l] = h.items[l], h.items[i]
		i = l
	}
	h.limit = h.items[0].key
}
