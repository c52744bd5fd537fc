package hnsw

import (
	"context"
	"fmt"
	"math/bits"
	"sync"

	"github.com/ragd/ragd/flat"
)

// exactEngine runs the graph's exact searches: the matrix-product engine
// of package flat over the graph's own chunks, on every core.
var exactEngine = sync.OnceValue(func() *flat.Engine {
	e, err := flat.New(flat.Config{})
	if err != nil {
		panic(fmt.Sprintf("hnsw: flat engine with default config: %v", err)) // unreachable: the zero Config is valid
	}
	return e
})

// SearchExact returns, for each query, its k nearest live vectors among
// those allow admits (all live vectors when allow is nil), by scoring every
// one of them: the exact answer, up to rounding ties, that a graph walk
// approximates. The queries run as one batch through the matrix-product
// engine of package flat, over the graph's chunks in place, so a batch of
// queries costs little more than the memory traffic of one pass over the
// vectors. It is the cheaper search for small graphs and small allowed
// sets (see ExactCheaper); results and distances follow Search's
// conventions, nearest first.
//
// Like Search it runs alongside Add, Delete, Save and compaction: it reads
// only vectors whose slot was ready and live when it started (a vector
// added meanwhile is not seen, one deleted meanwhile may be returned, as by
// a walk in flight). It checks ctx between blocks of work.
func (g *Graph) SearchExact(ctx context.Context, queries [][]float32, k int, allow AllowList) ([][]Result, error) {
	if k < 1 || k > maxK {
		return nil, fmt.Errorf("%w: k %d out of range [1, %d]", ErrInvalidArgument, k, maxK)
	}
	out := make([][]Result, len(queries))
	if len(queries) == 0 {
		return out, nil
	}
	s := g.getSearcher()
	defer g.putSearcher(s)
	g.orderMu.RLock()
	defer g.orderMu.RUnlock()
	// No slot read below is reset or reused before exit (see graceGuard).
	defer g.grace.exit(g.grace.enter())

	qs := make([]float32, len(queries)*g.dim)
	for i, q := range queries {
		p, err := g.prepare(q, qs[i*g.dim:(i+1)*g.dim])
		if err != nil {
			return nil, fmt.Errorf("query %d: %w", i, err)
		}
		copy(qs[i*g.dim:], p) // p is the query itself when no copy was needed
	}

	g.mu.Lock()
	next := int(g.mu.next)
	g.mu.Unlock()
	rows, contiguous := g.searchableSlots(s, next, allow)
	v := flat.Vectors{Dim: g.dim, Stride: g.stride, Len: next, Unit: g.metric == Cosine}
	for k := range g.chunks {
		c := g.chunks[k].Load()
		if c == nil {
			break
		}
		v.Chunks = append(v.Chunks, c.nodes)
	}
	req := &flat.Request{Vectors: v, Metric: flat.Metric(g.metric), Queries: qs, K: k}
	if contiguous {
		// Every slot below next is ready and live: the rows are read in
		// place, with no list to gather them by.
		req.Vectors.Len = len(rows)
	} else {
		req.Allow = flat.IDs(rows)
	}
	var resp flat.Response
	if err := exactEngine().Search(ctx, req, &resp); err != nil {
		return nil, err
	}
	for i := range queries {
		hits := resp.Hits(i)
		res := make([]Result, len(hits))
		for j, h := range hits {
			res[j] = Result{Key: g.key(NodeID(h.ID)), Dist: h.Dist}
		}
		out[i] = res
	}
	return out, nil
}

// searchableSlots returns the slots below next that are ready and not
// deleted (and, with allow, hold an allowed key), ascending, in s.ids's
// storage; contiguous reports that they are exactly 0…len−1. Only such
// slots may be read while writers run: a slot that is not ready may be
// having its vector written.
func (g *Graph) searchableSlots(s *searcher, next int, allow AllowList) (rows []uint32, contiguous bool) {
	s.ids = s.ids[:0]
	ids := s.ids
	if allow != nil {
		allow.Iterate(s.collect) // appends the allowed keys' slots to s.ids
		ids = s.ids
		out := ids[:0]
		for _, id := range ids {
			if int(id) < next && g.isReady(id) && !g.isDeleted(id) {
				out = append(out, id)
			}
		}
		s.ids = out
		return nodeIDsAsUint32(out), false
	}
	for k := range g.chunks {
		c := g.chunks[k].Load()
		if c == nil {
			break
		}
		base := ((1 << k) - 1) << g.baseShift
		if base >= next {
			break
		}
		for w := range c.ready {
			word := c.ready[w].Load() &^ c.dead[w].Load()
			for word != 0 {
				b := bits.TrailingZeros64(word)
				word &= word - 1
				id := base + w*64 + b
				if id >= next {
					break
				}
				ids = append(ids, NodeID(id))
			}
		}
	}
	s.ids = ids
	n := len(ids)
	return nodeIDsAsUint32(ids), n > 0 && int(ids[n-1]) == n-1
}

// nodeIDsAsUint32 views slots as the uint32 row numbers flat takes.
func nodeIDsAsUint32(ids []NodeID) []uint32 {
	out := make([]uint32, len(ids))
	for i, id := range ids {
		out[i] = uint32(id)
	}
	return out
}

// ExactCheaper reports whether scoring rows vectors exactly, as part of a
// batch of queries (SearchExact), costs less per query than a walk with
// beam ef. A walk scores about ef·M0 vectors (fewer, as neighbours repeat)
// at random places in memory; the batched scan scores rows vectors in
// order, several queries per row read, at matrix-product speed. On MNIST
// (784-d, M 16, one thread) a walk at ef 100 took 0.33 ms and the batched
// scan of 60,000 rows 1.18 ms per query (bench/results/exact.md): the
// scan wins below ~17,000 rows, 5.3·ef·M0; the rule takes 4·ef·M0 so that
// dimensions where walks are cheaper per vector still fall on the right
// side.
func (g *Graph) ExactCheaper(rows, ef int) bool {
	if ef <= 0 {
		ef = g.cfg.EfSearch
	}
	return rows <= 4*ef*g.m0
}
