package hnsw

import (
	"fmt"
	"sync/atomic"

	"github.com/ragd/ragd/simd"
)

// searcher is the per-search scratch space: a visited set stamped with an
// epoch so it needs no clearing between searches, the two heaps, and buffers.
// Searchers are pooled, so a search allocates nothing in steady state.
type searcher struct {
	visited []uint16
	epoch   uint16
	cand    minHeap
	res     maxHeap
	q       []float32 // the prepared (normalised) query or vector
	sorted  []item    // results or candidates, nearest first
	sel     []item    // neighbours chosen by the heuristic
	ids     []NodeID  // scratch list of slots
	// collect appends the slot of a live key to ids; made once per searcher
	// so that passing it to AllowList.Iterate allocates nothing. It takes no
	// lock.
	collect func(key uint32) bool
	batch   []NodeID // unvisited neighbours of the node being expanded
	// shrink and shrinkSel are addLink's scratch: it runs while sorted and
	// sel are in use by insert.
	shrink, shrinkSel []item
}

func (g *Graph) getSearcher() *searcher {
	if s, ok := g.searchers.Get().(*searcher); ok {
		return s
	}
	s := &searcher{
		q:      make([]float32, g.dim),
		cand:   make(minHeap, 0, 256),
		res:    make(maxHeap, 0, 256),
		sorted: make([]item, 0, 256),
		sel:    make([]item, 0, g.m0+1),
	}
	s.collect = func(key uint32) bool {
		if id, ok := g.keys.get(key); ok {
			s.ids = append(s.ids, id)
		}
		return true
	}
	return s
}

func (g *Graph) putSearcher(s *searcher) { g.searchers.Put(s) }

// startVisit begins a new visited set covering at least n slots.
func (s *searcher) startVisit(n int) {
	if len(s.visited) < n {
		s.visited = make([]uint16, n+n/4)
		s.epoch = 0
	}
	s.epoch++
	if s.epoch == 0 {
		clear(s.visited)
		s.epoch = 1
	}
}

// visit marks id and reports whether it was already visited.
func (s *searcher) visit(id NodeID) bool {
	if int(id) >= len(s.visited) {
		// The graph grew during this search.
		v := make([]uint16, int(id)+int(id)/4+1)
		copy(v, s.visited)
		s.visited = v
	}
	if s.visited[id] == s.epoch {
		return true
	}
	s.visited[id] = s.epoch
	return false
}

// prefetch starts loading the head of a node's vector into the cache.
func (g *Graph) prefetch(id NodeID) {
	simd.Prefetch(g.vec(id)[:g.prefetchFloats])
}

// Prefetch policy. A beam search scores the unvisited neighbours of the node
// it expands one after another, and each score waits on memory unless the
// vector was asked for early enough. The search asks for the first
// prefetchFloats of the vectors prefetchAhead positions ahead (the greedy
// descent likewise): whole short vectors (a 100-d vector is scored in a few
// nanoseconds, far less than one memory access, so only asking for many at
// once hides the latency) and the first kilobyte of long ones (the hardware
// prefetcher streams the rest while the kernel reads, and the bounded
// distance often stops early), keeping about prefetchLineBudget cache lines
// in flight. The neighbour list that follows the vector in its record is not
// asked for: most scored nodes are never expanded, and fetching their lists
// cost GloVe-100 12 % of its QPS. Measured with `ragctl bench ann` and
// `go test -bench Search ./hnsw` on MNIST-784 and GloVe-100: one vector
// ahead, as hnswlib does, cost GloVe a third of its QPS; whole 784-d vectors
// cost MNIST 30 %; 22–32 short vectors ahead beat 8–12 by 5 %.
const (
	prefetchMaxFloats  = 256
	prefetchLineBudget = 192
)

func prefetchPolicy(dim, m0 int) (floats, ahead int) {
	floats = min(dim, prefetchMaxFloats)
	lines := (floats*4 + 63) / 64
	return floats, max(2, min(m0, prefetchLineBudget/lines))
}

// seen reports whether id was visited, without marking it.
func (s *searcher) seen(id NodeID) bool {
	return int(id) < len(s.visited) && s.visited[id] == s.epoch
}

// slotCap returns an upper bound of the slots in use.
func (g *Graph) slotCap() int {
	n := 0
	for k := range g.chunks {
		if g.chunks[k].Load() == nil {
			break
		}
		n += (1 << g.baseShift) << k
	}
	return n
}

// greedy descends from level `from` down to level `to`+1, moving to the
// nearest neighbour on each level until no neighbour is nearer (the
// search with ef = 1 of the paper).
func (g *Graph) greedy(q []float32, cur NodeID, curDist float32, from, to int) (NodeID, float32) {
	for l := from; l > to; l-- {
		for changed := true; changed; {
			changed = false
			lk := g.links(cur, l)
			n := min(int(atomic.LoadUint32(&lk[0])), len(lk)-1)
			for i := 1; i <= min(n, g.prefetchAhead); i++ {
				g.prefetch(NodeID(atomic.LoadUint32(&lk[i])))
			}
			for i := 1; i <= n; i++ {
				if i+g.prefetchAhead <= n {
					g.prefetch(NodeID(atomic.LoadUint32(&lk[i+g.prefetchAhead])))
				}
				id := NodeID(atomic.LoadUint32(&lk[i]))
				if d := g.distanceBounded(q, g.vec(id), curDist); d < curDist {
					cur, curDist, changed = id, d, true
				}
			}
		}
	}
	return cur, curDist
}

// searchLayer is the beam search of the paper's algorithm 2 on one level,
// from one entry point. It leaves in s.res the ef nearest nodes that are not
// deleted and, when allow is not nil, whose keys it admits.
//
// Deleted and disallowed nodes are still walked through, so that neither
// tombstones nor a filter cut the graph: by default they are scored and
// expanded like any node. With twoHop (for selective filters, where most
// neighbours are disallowed) a disallowed neighbour is not scored; the
// search looks through it to its own allowed neighbours instead, the
// neighbour-list expansion of ACORN-1 (Patel et al., SIGMOD 2024).
func (g *Graph) searchLayer(s *searcher, q []float32, ep NodeID, epDist float32, ef, level int, allow AllowList, twoHop bool) {
	s.startVisit(g.slotCap())
	cand, res := s.cand[:0], s.res[:0]
	s.visit(ep)
	cand.push(item{epDist, ep})
	if g.eligible(ep, allow) {
		res.push(item{epDist, ep})
	}
	for cand.len() > 0 {
		c := cand.pop()
		if res.len() >= ef && c.dist > res.top().dist {
			break
		}
		lk := g.links(c.id, level)
		n := min(int(atomic.LoadUint32(&lk[0])), len(lk)-1)
		batch := s.batch[:0]
		for i := 1; i <= n; i++ {
			id := NodeID(atomic.LoadUint32(&lk[i]))
			if s.visit(id) {
				continue
			}
			if !twoHop || allow.Contains(g.key(id)) {
				batch = append(batch, id)
				continue
			}
			lk2 := g.links(id, level)
			n2 := min(int(atomic.LoadUint32(&lk2[0])), len(lk2)-1)
			for j := 1; j <= n2; j++ {
				id2 := NodeID(atomic.LoadUint32(&lk2[j]))
				if !s.seen(id2) && allow.Contains(g.key(id2)) {
					s.visit(id2)
					batch = append(batch, id2)
				}
			}
		}
		s.batch = batch
		for i := range min(len(batch), g.prefetchAhead) {
			g.prefetch(batch[i])
		}
		for i, id := range batch {
			if i+g.prefetchAhead < len(batch) {
				g.prefetch(batch[i+g.prefetchAhead])
			}
			var d float32
			if res.len() < ef {
				d = g.distance(q, g.vec(id))
			} else {
				bound := res.top().dist
				if d = g.distanceBounded(q, g.vec(id), bound); d >= bound {
					continue
				}
			}
			cand.push(item{d, id})
			if g.eligible(id, allow) {
				res.pushBounded(item{d, id}, ef)
			}
		}
	}
	s.cand, s.res = cand, res
}

// eligible reports whether a node may be a result: not deleted, and admitted
// by allow when there is one.
func (g *Graph) eligible(id NodeID, allow AllowList) bool {
	return !g.isDeleted(id) && (allow == nil || allow.Contains(g.key(id)))
}

// Search returns the k nearest live vectors to q, nearest first, walking the
// graph with a beam of width ef (0 means Config.EfSearch; at least k is
// used). When allow is not nil only keys it contains are returned (see
// AllowList). Search is safe for concurrent use; it allocates only the
// returned slice (SearchAppend allocates nothing).
func (g *Graph) Search(q []float32, k, ef int, allow AllowList) ([]Result, error) {
	return g.SearchAppend(make([]Result, 0, k), q, k, ef, allow)
}

// maxK bounds k and ef: a beam wider than this is a mistake, not a search.
const maxK = 1 << 16

// SearchAppend is Search appending the results to dst; with a dst of
// capacity k it allocates nothing in steady state.
func (g *Graph) SearchAppend(dst []Result, q []float32, k, ef int, allow AllowList) ([]Result, error) {
	if k < 1 || k > maxK {
		return dst, fmt.Errorf("%w: k %d out of range [1, %d]", ErrInvalidArgument, k, maxK)
	}
	if ef < 0 || ef > maxK {
		return dst, fmt.Errorf("%w: ef %d out of range [0, %d]", ErrInvalidArgument, ef, maxK)
	}
	if ef == 0 {
		ef = g.cfg.EfSearch
	}
	ef = max(ef, k)
	s := g.getSearcher()
	defer g.putSearcher(s)
	g.orderMu.RLock()
	defer g.orderMu.RUnlock()
	defer g.grace.exit(g.grace.enter())
	q, err := g.prepare(q, s.q)
	if err != nil {
		return dst, err
	}
	if allow != nil {
		return g.searchFiltered(dst, s, q, k, ef, allow), nil
	}
	ep, top, ok := g.entryPoint()
	if !ok {
		return dst, nil
	}
	ep, d := g.greedy(q, ep, g.distance(q, g.vec(ep)), top, 0)
	g.searchLayer(s, q, ep, d, ef, 0, nil, false)
	return g.appendResults(dst, s, k), nil
}

// appendResults appends the k nearest of s.res to dst, nearest first.
func (g *Graph) appendResults(dst []Result, s *searcher, k int) []Result {
	for s.res.len() > k {
		s.res.pop()
	}
	n := s.res.len()
	start := len(dst)
	for range n {
		dst = append(dst, Result{})
	}
	for i := n - 1; i >= 0; i-- {
		it := s.res.pop()
		dst[start+i] = Result{Key: g.key(it.id), Dist: it.dist}
	}
	return dst
}
