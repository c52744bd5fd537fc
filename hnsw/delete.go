package hnsw

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Delete removes key from the graph. The vector stops appearing in results
// at once; its node stays in the graph as a tombstone that searches walk
// through until Compact repairs its neighbours' links and reclaims the slot.
func (g *Graph) Delete(key uint32) error {
	g.writeMu.RLock()
	defer g.writeMu.RUnlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	id, ok := g.mu.keys[key]
	if !ok {
		return fmt.Errorf("%w: %d", ErrNotFound, key)
	}
	delete(g.mu.keys, key)
	g.mu.deleted++
	g.setDeleted(id, true)
	return nil
}

// Compact repairs the graph around deleted nodes and reclaims their slots
// for later Adds. Every live node that links to a deleted one gets a new
// neighbour list chosen by the heuristic from its live neighbours and the
// live neighbours of the deleted ones (the consolidation of FreshDiskANN,
// Singh et al., 2021); then no link points at a deleted node and its slot is
// free. It returns the number of slots reclaimed.
//
// Searches run during Compact (they see each node's list either before or
// after its repair); Add, Delete and Save wait for it.
func (g *Graph) Compact() int {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()

	g.mu.Lock()
	next := g.mu.next
	nDeleted := g.mu.deleted
	g.mu.Unlock()
	if nDeleted == 0 {
		return 0
	}

	// Repair the live nodes in parallel: each worker rewrites only the lists
	// of the nodes it owns, reading the (unchanging) lists of deleted nodes.
	workers := runtime.GOMAXPROCS(0)
	var nextNode atomic.Uint32
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := g.getSearcher()
			defer g.putSearcher(s)
			for {
				id := NodeID(nextNode.Add(1) - 1)
				if id >= next {
					return
				}
				if g.isDeleted(id) || !g.inUse(id) {
					continue
				}
				for l := g.level(id); l >= 0; l-- {
					g.repair(s, id, l)
				}
			}
		}()
	}
	wg.Wait()

	// A deleted entry point gives way to the live node of highest level.
	ep, _, ok := g.entryPoint()
	if ok && g.isDeleted(ep) {
		best, bestLevel := noNode, -1
		for id := range next {
			if !g.isDeleted(id) && g.inUse(id) && g.level(id) > bestLevel {
				best, bestLevel = id, g.level(id)
			}
		}
		g.epMu.Lock()
		g.setEntryPoint(best, bestLevel)
		g.epMu.Unlock()
	}

	// No link reaches a deleted node any more, but a search that started
	// before the repair may still hold one: wait for those before reuse.
	g.reclaimMu.Lock()
	defer g.reclaimMu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	reclaimed := 0
	for id := range next {
		if !g.isDeleted(id) {
			continue
		}
		c, off := g.locate(id)
		lk := g.links(id, 0)
		for _, nb := range lk[1 : 1+lk[0]] {
			g.inDegree(NodeID(nb)).Add(-1)
		}
		atomic.StoreUint32(&lk[0], 0)
		c.upper[off] = nil
		c.levels[off] = 0
		c.keys[off] = 0
		g.setDeleted(id, false)
		g.setReady(id, false)
		g.setFree(id, true)
		g.mu.free = append(g.mu.free, id)
		reclaimed++
	}
	g.mu.deleted -= reclaimed
	// No link reaches a reclaimed slot any more (links between deleted
	// slots were just counted off).
	for _, id := range g.mu.free[len(g.mu.free)-reclaimed:] {
		g.inDegree(id).Store(0)
	}
	return reclaimed
}

// repair gives node id a new neighbour list at a level if it links to a
// deleted node.
func (g *Graph) repair(s *searcher, id NodeID, level int) {
	lk := g.links(id, level)
	n := int(atomic.LoadUint32(&lk[0]))
	hasDeleted := false
	for i := 1; i <= n; i++ {
		if g.isDeleted(NodeID(atomic.LoadUint32(&lk[i]))) {
			hasDeleted = true
			break
		}
	}
	if !hasDeleted {
		return
	}
	s.startVisit(g.slotCap())
	s.visit(id)
	v := g.vec(id)
	cands := s.sorted[:0]
	add := func(nb NodeID) {
		if s.visit(nb) || g.isDeleted(nb) {
			return
		}
		cands = append(cands, item{g.distance(v, g.vec(nb)), nb})
	}
	for i := 1; i <= n; i++ {
		nb := NodeID(atomic.LoadUint32(&lk[i]))
		if !g.isDeleted(nb) {
			add(nb)
			continue
		}
		// The deleted neighbour's own neighbours stand in for it; go one hop
		// further through deleted ones so heavy deletion does not strand id.
		dl := g.links(nb, level)
		dn := int(atomic.LoadUint32(&dl[0]))
		for j := 1; j <= dn; j++ {
			nb2 := NodeID(atomic.LoadUint32(&dl[j]))
			if !g.isDeleted(nb2) {
				add(nb2)
				continue
			}
			if s.visit(nb2) {
				continue
			}
			dl2 := g.links(nb2, level)
			dn2 := int(atomic.LoadUint32(&dl2[0]))
			for k := 1; k <= dn2; k++ {
				add(NodeID(atomic.LoadUint32(&dl2[k])))
			}
		}
	}
	slices.SortFunc(cands, cmpItem)
	s.sorted = cands
	maxN := len(lk) - 1
	sel := g.selectNeighbors(cands, maxN, s.sel[:0])
	// Fill the list up with the nearest candidates the heuristic passed over
	// (keepPrunedConnections in the paper): before the repair the list had
	// grown through back-links beyond what the heuristic keeps, and cutting
	// it down to the heuristic's choice would thin the graph.
	if len(sel) < maxN {
		for _, c := range cands {
			if len(sel) >= maxN {
				break
			}
			if !slices.ContainsFunc(sel, func(x item) bool { return x.id == c.id }) {
				sel = append(sel, c)
			}
		}
	}
	s.sel = sel
	g.setLinks(id, level, sel, &s.shrinkSel)
}
