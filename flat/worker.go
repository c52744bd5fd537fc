package flat

import (
	"context"
	"math"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/ragd/ragd/simd"
)

// worker is one goroutine's scratch space, kept with its call in the pool.
type worker struct {
	c   *call
	ctx context.Context

	panels []float32 // packed queries of the block, 64-byte aligned
	bound  []float32 // per query of the block: the k-th best key so far
	rowBuf []float32 // gathered rows of one tile
	alpha  []float32
	beta   []float32
	out    []float32
	masks  []uint32
	tileID []uint32
	tile   simd.Tile
	merge  []cand
	done   int // tiles done, for the periodic ctx check
}

// ctxEvery is the number of tiles between checks of the context.
const ctxEvery = 1024

// item searches the queries of block qb against the rows of shard sh.
func (w *worker) item(qb, sh int) {
	c := w.c
	q0, q1 := qb*c.block, min(c.nq, (qb+1)*c.block)
	r0, r1 := sh*c.rows/c.shards, (sh+1)*c.rows/c.shards
	if c.direct {
		w.direct(q0, q1, sh, r0, r1)
		return
	}
	w.tilesFor(q0, q1, sh, r0, r1)
}

// top returns the heap of query qi for shard sh.
func (c *call) top(qi, sh int) *topK { return &c.tops[qi*c.shards+sh] }

// tiles walks the admitted rows r0 to r1 (positions in c.ids, or row
// numbers) in tiles of up to R rows: in place when R consecutive rows lie
// in one chunk, copied into the worker's rowBuf (and padded with zeros)
// otherwise.
type tiles struct {
	w      *worker
	R      int
	a, r1  int // next position, end
	ci     int // chunk of the next row (row numbers only)
	rows   []float32
	ahead  []float32 // the following tile's rows when they lie in place
	stride int
	n      int
	ids    []uint32
}

func (w *worker) tiles(r0, r1, R int) tiles {
	w.rowBuf = grow(w.rowBuf, R*w.c.v.Dim)
	w.tileID = grow(w.tileID, R)
	return tiles{w: w, R: R, a: r0, r1: r1, ids: w.tileID}
}

// next moves to the next tile and reports whether there is one.
func (t *tiles) next() bool {
	if t.a >= t.r1 {
		return false
	}
	c := t.w.c
	v := c.v
	dim := v.Dim
	t.ahead = nil
	if c.useIDs {
		n := min(t.R, t.r1-t.a)
		for j, id := range c.ids[t.a : t.a+n] {
			t.ids[j] = id
			copy(t.w.rowBuf[j*dim:(j+1)*dim], v.rowAt(c.starts, int(id)))
		}
		// Ask for the next tile's rows while this one is scored.
		for _, id := range c.ids[t.a+n : min(t.r1, t.a+2*n)] {
			simd.Prefetch(v.rowAt(c.starts, int(id)))
		}
		t.a += n
		return t.pad(n)
	}
	for t.a >= c.starts[t.ci+1] {
		t.ci++
	}
	s0, s1 := c.starts[t.ci], c.starts[t.ci+1]
	n := min(t.R, t.r1-t.a, s1-t.a)
	for j := range n {
		t.ids[j] = uint32(t.a + j)
	}
	stride := v.stride()
	o := (t.a - s0) * stride
	t.a += n
	if t.a+t.R <= min(t.r1, s1) {
		t.ahead = v.Chunks[t.ci][o+t.R*stride : o+(2*t.R-1)*stride+dim]
	}
	if n == t.R {
		t.rows, t.stride, t.n = v.Chunks[t.ci][o:o+(t.R-1)*stride+dim], stride, n
		return true
	}
	for j := range n {
		src := v.Chunks[t.ci][o+j*stride:]
		copy(t.w.rowBuf[j*dim:(j+1)*dim], src[:dim])
	}
	return t.pad(n)
}

// pad completes a gathered tile of n rows with zeros.
func (t *tiles) pad(n int) bool {
	dim := t.w.c.v.Dim
	clear(t.w.rowBuf[n*dim:])
	t.rows, t.stride, t.n = t.w.rowBuf, dim, n
	return true
}

// tilesFor runs the matrix-product path: the block's queries packed into
// panels, then for each tile of rows each panel in turn, the tile staying
// in L1 while the panels come from L2.
func (w *worker) tilesFor(q0, q1, sh, r0, r1 int) {
	c := w.c
	dim := c.v.Dim
	R, L := simd.TileShape()
	nqb := q1 - q0
	np := ceilDiv(nqb, L)
	w.panels = alignedGrow(w.panels, np*dim*L)
	for p := range np {
		a, b := q0+p*L, min(q1, q0+(p+1)*L)
		simd.PackPanel(w.panels[p*dim*L:(p+1)*dim*L], c.queries[a*dim:b*dim], dim)
	}
	w.bound = grow(w.bound, np*L)
	for i := range w.bound {
		w.bound[i] = nan
		if i < nqb {
			w.bound[i] = c.top(q0+i, sh).worst()
		}
	}
	w.alpha, w.beta = grow(w.alpha, R), grow(w.beta, R)
	w.out, w.masks = grow(w.out, R*L), grow(w.masks, R)

	tl := &w.tile
	*tl = simd.Tile{Dim: dim, Alpha: w.alpha, Beta: w.beta, Out: w.out, Masks: w.masks}
	for t := w.tiles(r0, r1, R); t.next(); {
		if w.tick() {
			return
		}
		w.coefficients(t.rows, t.stride, t.n, t.ids)
		tl.Rows, tl.Stride, tl.Next = t.rows, t.stride, nil
		for p := range np {
			tl.Panel = w.panels[p*dim*L : (p+1)*dim*L]
			tl.Bound = w.bound[p*L : (p+1)*L]
			if p == np-1 {
				tl.Next = t.ahead
			}
			if simd.ScoreTile(tl) == 0 {
				continue
			}
			for r := range t.n {
				for m := w.masks[r]; m != 0; m &= m - 1 {
					i := bits.TrailingZeros32(m)
					h := c.top(q0+p*L+i, sh)
					h.push(cand{w.out[r*L+i], t.ids[r]})
					if h.full() {
						tl.Bound[i] = h.h[0].key
					}
				}
			}
		}
	}
}

// tick counts a tile and, every ctxEvery tiles, checks the context and
// the other workers; it reports whether to stop.
func (w *worker) tick() bool {
	w.done++
	if w.done%ctxEvery != 0 {
		return false
	}
	if err := w.ctx.Err(); err != nil {
		w.c.fail(err)
	}
	return w.c.stop.Load()
}

// coefficients sets alpha and beta of the tile's rows so that
// alpha·(row·q) + beta orders rows like the metric's distance (NaN beta
// for excluded rows and the padding).
func (w *worker) coefficients(rows []float32, stride, n int, ids []uint32) {
	c := w.c
	v := c.v
	dim := v.Dim
	ex := c.req.Exclude
	if c.useIDs {
		ex = nil // applied when the ids were collected
	}
	for r := range w.alpha {
		if r >= n || ex != nil && ex(ids[r]) {
			w.alpha[r], w.beta[r] = 0, nan
			continue
		}
		norm := func() float32 {
			if v.Norms != nil {
				return v.Norms[ids[r]]
			}
			row := rows[r*stride : r*stride+dim]
			return simd.Dot(row, row)
		}
		switch {
		case c.req.Metric == L2:
			w.alpha[r], w.beta[r] = -2, norm()
		case c.req.Metric == Cosine && !v.Unit:
			a := float32(0)
			if nn := norm(); nn > 0 {
				a = float32(-1 / math.Sqrt(float64(nn)))
			}
			w.alpha[r], w.beta[r] = a, 0
		default:
			w.alpha[r], w.beta[r] = -1, 0
		}
	}
}

// direct runs the path for a few queries: each row scored against each
// query with the single-vector kernels (bounded for L2 and unit Cosine),
// every row read once for all of them.
func (w *worker) direct(q0, q1, sh, r0, r1 int) {
	c := w.c
	dim := c.v.Dim
	ex := c.req.Exclude
	if c.useIDs {
		ex = nil // applied when the ids were collected
	}
	for t := w.tiles(r0, r1, directRows); t.next(); {
		if w.tick() {
			return
		}
		for r := range t.n {
			id := t.ids[r]
			if ex != nil && ex(id) {
				continue
			}
			row := t.rows[r*t.stride : r*t.stride+dim]
			for qi := q0; qi < q1; qi++ {
				h := c.top(qi, sh)
				q := c.queries[qi*dim : (qi+1)*dim]
				var d float32
				switch c.req.Metric {
				case L2:
					d = simd.L2SquaredBounded(q, row, h.worst())
				case Cosine:
					if c.v.Unit {
						d = 0.5 * simd.L2SquaredBounded(q, row, 2*h.worst())
					} else {
						d = 1 - simd.Cosine(q, row)
					}
				default:
					d = -simd.Dot(q, row)
				}
				if d == d { // not NaN
					h.push(cand{d, id})
				}
			}
		}
	}
}

// directRows is the direct path's tile: rows gathered (from an allow-list)
// in groups this size, the next group prefetched meanwhile.
const directRows = 8

// alignedGrow returns a slice of n floats starting on a 64-byte boundary,
// reusing s when it is one.
func alignedGrow(s []float32, n int) []float32 {
	if cap(s) >= n && uintptr(unsafe.Pointer(unsafe.SliceData(s)))%64 == 0 {
		return s[:n]
	}
	b := make([]float32, n+16)
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) % 64 / 4)
	return b[skip : skip+n : skip+n]
}

// sortCands sorts by (key, id).
func sortCands(a []cand) {
	if len(a) <= 16 {
		for i := 1; i < len(a); i++ {
			for j := i; j > 0 && a[j].less(a[j-1]); j-- {
				a[j], a[j-1] = a[j-1], a[j]
			}
		}
		return
	}
	slices.SortFunc(a, func(x, y cand) int {
		switch {
		case x.less(y):
			return -1
		case y.less(x):
			return 1
		}
		return 0
	})
}

// sortUnique sorts ids ascending and drops duplicates.
func sortUnique(ids *[]uint32) {
	slices.Sort(*ids)
	*ids = slices.Compact(*ids)
}
