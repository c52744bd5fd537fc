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
	if _, ok := g.mu.keys[key]; ok {
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
	g.mu.keys[key] = id
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
		g.setLinks(id, l, s.sel)
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

// setLinks replaces a node's neighbour list at a level.
func (g *Graph) setLinks(id NodeID, level int, nbs []item) {
	mu := g.stripe(id)
	mu.Lock()
	lk := g.links(id, level)
	if level == 0 {
		for _, old := range lk[1 : 1+lk[0]] {
			g.inDegree(NodeID(old)).Add(-1)
		}
		for _, nb := range nbs {
			g.inDegree(nb.id).Add(1)
		}
	}
	for i, nb := range nbs {
		atomic.StoreUint32(&lk[1+i], uint32(nb.id))
	}
	atomic.StoreUint32(&lk[0], uint32(len(nbs)))
	mu.Unlock()
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
		sel = g.keepWaysIn(lk[1:1+n], list, sel, to)
	}
	s.shrink, s.shrinkSel = list, sel
	for i, nb := range sel {
		atomic.StoreUint32(&lk[1+i], uint32(nb.id))
	}
	atomic.StoreUint32(&lk[0], uint32(len(sel)))
}

// keepWaysIn settles the in-degree counts of a level-0 list that goes from
// old to sel (chosen by the heuristic among cands, which hold old's live
// entries and the new node to), and adjusts sel so that pruning orphans no
// node. The heuristic alone can leave an outlier with no in-link at all: it
// keeps a single neighbour for an outlier, and that neighbour's list may
// later prune it; nothing could then ever find it. So a link may only be
// dropped if its target keeps another (claimed atomically, so that two
// lists pruning concurrently cannot both drop a node's last two links),
// and the new node, which has no in-link yet, is kept if this list is its
// only chance. A node that must stay takes the place of the farthest chosen
// neighbour that can be dropped.
func (g *Graph) keepWaysIn(old []uint32, cands, sel []item, to NodeID) []item {
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
	var released []NodeID // old entries whose link is already counted off
	// evict frees a place in sel for keep: the farthest chosen entry that
	// can go (an old neighbour with another way in, or the new node if it
	// has one). It reports whether it found one.
	evict := func(keep item) bool {
		for j := len(sel) - 1; j >= 0; j-- {
			y := sel[j].id
			if y == to {
				if g.inDegree(to).Load() == 0 {
					continue
				}
			} else if !drop(y) {
				continue
			} else {
				released = append(released, y)
			}
			sel[j] = keep
			return true
		}
		return false
	}
	find := func(id NodeID) (item, bool) {
		for _, c := range cands {
			if c.id == id {
				return c, true
			}
		}
		return item{}, false
	}
	for _, o := range old {
		id := NodeID(o)
		switch {
		case containsID(sel, id), slices.Contains(released, id):
		case g.isDeleted(id):
			g.inDegree(id).Add(-1)
		case drop(id):
		default:
			// This list is id's last way in: keep it if there is room.
			if c, ok := find(id); !ok || !evict(c) {
				g.inDegree(id).Add(-1)
			}
		}
	}
	if !containsID(sel, to) && g.inDegree(to).Load() == 0 {
		if c, ok := find(to); ok {
			evict(c)
		}
	}
	if containsID(sel, to) {
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
