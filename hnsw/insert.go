package hnsw

import (
	"fmt"
	"slices"
	"sync/atomic"
)

// Add inserts vec under the caller's key. The vector is copied (and
// normalised under Cosine). Add is safe for concurrent use: a parallel build
// calls it from one goroutine per core. It fails with ErrDuplicateKey when
// key is live; Delete it first to replace it.
func (g *Graph) Add(key uint32, vec []float32) error {
	if err := g.add(key, vec); err != nil {
		return err
	}
	g.maybeReorder()
	return nil
}

func (g *Graph) add(key uint32, vec []float32) error {
	s := g.getSearcher()
	defer g.putSearcher(s)
	g.writeMu.RLock()
	defer g.writeMu.RUnlock()
	// The insert walks the graph like a search: compaction must not reuse a
	// slot it holds.
	defer g.grace.exit(g.grace.enter())
	v, err := g.prepare(vec, s.q)
	if err != nil {
		return err
	}
	id, err := g.allocate(key)
	if err != nil {
		return err
	}
	level := g.randomLevel(key)
	c, off := g.locate(id)
	copy(g.vec(id), v)
	c.keys[off] = key
	c.levels[off] = uint8(level)
	c.upper[off] = g.newUpper(level)
	atomic.StoreUint32(&g.links(id, 0)[0], 0)
	g.setReady(id, true)
	g.insert(s, id, g.vec(id), level)
	return nil
}

// allocate reserves a slot for key: a reclaimed one if any, else a new one.
func (g *Graph) allocate(key uint32) (NodeID, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.keys.get(key); ok {
		return 0, fmt.Errorf("%w: %d", ErrDuplicateKey, key)
	}
	var id NodeID
	if n := len(g.mu.free); n > 0 {
		id = g.mu.free[n-1]
		g.mu.free = g.mu.free[:n-1]
		g.setFree(id, false)
	} else {
		if g.mu.next == noNode {
			return 0, ErrFull
		}
		id = g.mu.next
		g.mu.next++
		g.ensureSlot(id)
	}
	g.keys.set(key, id)
	g.live.Add(1)
	return id, nil
}

// insert links a stored node into the graph (the paper's algorithm 1).
func (g *Graph) insert(s *searcher, id NodeID, v []float32, level int) {
	ep, top, ok := g.entryPoint()
	if !ok || level > top {
		// The node may become the entry point: hold epMu through the insert,
		// as hnswlib does, so two new top nodes are not linked half-way.
		g.epMu.Lock()
		defer g.epMu.Unlock()
		ep, top, ok = g.entryPoint()
		if !ok {
			g.setEntryPoint(id, level)
			return
		}
		if level > top {
			defer g.setEntryPoint(id, level)
		}
	}
	cur, curDist := g.greedy(v, ep, g.distance(v, g.vec(ep)), top, level)
	for l := min(level, top); l >= 0; l-- {
		g.searchLayer(s, v, cur, curDist, g.cfg.EfConstruction, l, nil, false)
		s.sorted = s.res.drainAscending(s.sorted)
		if len(s.sorted) == 0 {
			continue // every node reachable here is deleted
		}
		// A new node picks M neighbours on every level (the paper's
		// algorithm 1, as hnswlib does); level 0 allows up to M0 = 2·M only
		// so that back-links from later nodes have room.
		s.sel = g.selectNeighbors(s.sorted, g.m, s.sel[:0])
		g.setLinks(id, l, s.sel, &s.shrinkSel)
		for _, nb := range s.sel {
			g.addLink(s, nb.id, id, nb.dist, l)
		}
		cur, curDist = s.sorted[0].id, s.sorted[0].dist
	}
}

// selectNeighbors is the paper's heuristic (algorithm 4, without extending
// the candidates or keeping pruned ones, as hnswlib does): walk the
// candidates nearest first and keep one only if it is nearer to the base
// than to every neighbour kept so far. This keeps links pointing in diverse
// directions, which is what lets clustered data stay navigable.
// cands must be sorted nearest first.
func (g *Graph) selectNeighbors(cands []item, maxN int, out []item) []item {
	if len(cands) <= maxN {
		return append(out, cands...)
	}
	for _, c := range cands {
		if len(out) >= maxN {
			break
		}
		vc := g.vec(c.id)
		good := true
		for _, r := range out {
			if g.distanceBounded(vc, g.vec(r.id), c.dist) < c.dist {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	return out
}

// setLinks gives node id the neighbour list nbs at a level. Other
// goroutines may have linked id to new nodes since the caller read the list
// (a node is found by searches before its own insert finishes): those links
// are kept while there is room, and at level 0 no link that is its
// target's last way in is dropped. scratch is the caller's buffer.
func (g *Graph) setLinks(id NodeID, level int, nbs []item, scratch *[]item) {
	mu := g.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	lk := g.links(id, level)
	old := lk[1 : 1+lk[0]]
	maxN := len(lk) - 1
	sel := append((*scratch)[:0], nbs[:min(len(nbs), maxN)]...)
	vf := g.vec(id)
	for _, o := range old {
		if len(sel) >= maxN {
			break
		}
		if nb := NodeID(o); !containsID(sel, nb) && !g.isDeleted(nb) {
			sel = append(sel, item{g.distance(vf, g.vec(nb)), nb})
		}
	}
	if level == 0 {
		sel = g.keepWaysIn(id, old, sel, noNode, 0)
	}
	*scratch = sel
	for i, nb := range sel {
		atomic.StoreUint32(&lk[1+i], uint32(nb.id))
	}
	atomic.StoreUint32(&lk[0], uint32(len(sel)))
}

// addLink adds the link from → to at a level; d is their distance. When
// from's list is full the heuristic chooses among the old neighbours and the
// new one; deleted neighbours are dropped on the way.
func (g *Graph) addLink(s *searcher, from, to NodeID, d float32, level int) {
	mu := g.stripe(from)
	mu.Lock()
	defer mu.Unlock()
	lk := g.links(from, level)
	n := int(lk[0])
	maxN := len(lk) - 1
	for i := 1; i <= n; i++ {
		if NodeID(lk[i]) == to {
			return
		}
	}
	if n < maxN {
		if level == 0 {
			g.inDegree(to).Add(1)
		}
		atomic.StoreUint32(&lk[1+n], uint32(to))
		atomic.StoreUint32(&lk[0], uint32(n+1))
		return
	}
	vf := g.vec(from)
	list := s.shrink[:0]
	for i := 1; i <= n; i++ {
		nb := NodeID(lk[i])
		if g.isDeleted(nb) {
			continue
		}
		list = append(list, item{g.distance(vf, g.vec(nb)), nb})
	}
	list = append(list, item{d, to})
	slices.SortFunc(list, cmpItem)
	sel := g.selectNeighbors(list, maxN, s.shrinkSel[:0])
	if level == 0 {
		sel = g.keepWaysIn(from, lk[1:1+n], sel, to, d)
	}
	s.shrink, s.shrinkSel = list, sel
	for i, nb := range sel {
		atomic.StoreUint32(&lk[1+i], uint32(nb.id))
	}
	atomic.StoreUint32(&lk[0], uint32(len(sel)))
}

// keepWaysIn settles the in-degree counts of a level-0 list of node from
// that goes from old to sel, and adjusts sel so that the change orphans no
// node. The heuristic alone can leave an outlier with no in-link at all: it
// keeps a single neighbour for an outlier, and that neighbour's list may
// later prune it; nothing could then ever find it. So a link may only be
// dropped if its target keeps another (claimed atomically, so that two
// lists pruning concurrently cannot both drop a node's last two links), and
// a new node to (noNode if none) at distance d, which may have no in-link
// yet, is kept if this list is its only chance. A node that must stay takes
// the place of the farthest chosen neighbour that can be dropped; only when
// every chosen one is some node's last way in does a node lose its link.
// Called with from's stripe lock held; sel is returned sorted by distance.
func (g *Graph) keepWaysIn(from NodeID, old []uint32, sel []item, to NodeID, d float32) []item {
	// The links sel adds count from now on, so that evicting one is a drop
	// like any other.
	for _, x := range sel {
		if !slices.Contains(old, uint32(x.id)) {
			g.inDegree(x.id).Add(1)
		}
	}
	// drop releases this list's link to id if another link to it remains.
	drop := func(id NodeID) bool {
		c := g.inDegree(id)
		for {
			v := c.Load()
			if v <= 1 {
				return false
			}
			if c.CompareAndSwap(v, v-1) {
				return true
			}
		}
	}
	var released []NodeID // entries of the first sel that evict dropped
	// evict frees a place in sel for keep: the farthest chosen entry that
	// can go. It reports whether it found one.
	evict := func(keep item) bool {
		for j := len(sel) - 1; j >= 0; j-- {
			if y := sel[j].id; drop(y) {
				released = append(released, y)
				sel[j] = keep
				return true
			}
		}
		return false
	}
	vf := g.vec(from)
	for _, o := range old {
		id := NodeID(o)
		switch {
		case containsID(sel, id), slices.Contains(released, id):
		case g.isDeleted(id):
			g.inDegree(id).Add(-1)
		case drop(id):
		default:
			// This list is id's last way in: keep it if there is room.
			if !evict(item{g.distance(vf, g.vec(id)), id}) {
				g.inDegree(id).Add(-1)
			}
		}
	}
	if to != noNode && !containsID(sel, to) && g.inDegree(to).Load() == 0 && evict(item{d, to}) {
		g.inDegree(to).Add(1)
	}
	slices.SortFunc(sel, cmpItem)
	return sel
}

func containsID(items []item, id NodeID) bool {
	for _, x := range items {
		if x.id == id {
			return true
		}
	}
	return false
}

func cmpItem(a, b item) int {
	switch {
	case a.dist < b.dist:
		return -1
	case a.dist > b.dist:
		return 1
	}
	return 0
}
