package hnsw

import (
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// compaction is one compaction cycle in progress: the tombstones it
// reclaims (those deleted when it began) and how far its repair pass has
// come. Owned by whoever holds compactMu.
type compaction struct {
	doomed []uint64 // bitset over [0, end): the tombstones this cycle frees
	n      int      // number of doomed slots
	end    NodeID   // the slots in use when the cycle began are below end
	pos    NodeID   // next slot the repair pass looks at
}

func (c *compaction) has(id NodeID) bool {
	return id < c.end && c.doomed[id>>6]&(1<<(id&63)) != 0
}

// Compact runs a whole compaction at once: it finishes the cycle in
// progress, if any, then runs one over every tombstone, repairing on every
// core. It returns the number of slots reclaimed. Like CompactStep it runs
// alongside searches, Adds, Deletes and Save; a background compactor
// should call CompactStep instead, which bounds the work of each call.
func (g *Graph) Compact() int {
	g.compactMu.Lock()
	defer g.compactMu.Unlock()
	n := 0
	if g.cycle != nil {
		n += g.finishCycle(runtime.GOMAXPROCS(0))
	}
	if g.beginCycle() {
		n += g.finishCycle(runtime.GOMAXPROCS(0))
	}
	return n
}

// CompactStep does a bounded part of a compaction cycle and reports whether
// the cycle is over (done) and how many slots its last step reclaimed.
//
// A cycle is the consolidation of FreshDiskANN (Singh et al., 2021), done
// in place and in steps, as Weaviate's tombstone cleanup does: it begins
// with the tombstones of the moment (a call with no cycle in progress starts
// one, or reports done at once when there is no tombstone); each call then
// repairs the neighbour lists of up to budget slots, in slot order, giving
// every node that links to one of those tombstones a new list chosen by the
// heuristic from its live neighbours and the tombstones' live neighbours;
// the call that completes the pass moves the entry point off the
// tombstones, waits until no search or insert that began before the repair
// can still hold one (without blocking new ones), and frees their slots for
// reuse. Nodes deleted during a cycle are left to the next.
//
// Searches, Adds, Deletes and Save run alongside every step: a step holds
// no lock they wait for, except for an instant the allocation lock while it
// records the tombstones and frees their slots. Steps are serialised.
func (g *Graph) CompactStep(budget int) (reclaimed int, done bool) {
	g.compactMu.Lock()
	defer g.compactMu.Unlock()
	if g.cycle == nil && !g.beginCycle() {
		return 0, true
	}
	c := g.cycle
	to := c.end
	if budget > 0 && int(c.end-c.pos) > budget {
		to = c.pos + NodeID(budget)
	}
	g.writeMu.RLock()
	g.repairRange(c, c.pos, to, 1)
	g.writeMu.RUnlock()
	c.pos = to
	if c.pos < c.end {
		return 0, false
	}
	return g.reclaim(c), true
}

// beginCycle starts a cycle over the current tombstones, if there are any.
// Called with compactMu held.
func (g *Graph) beginCycle() bool {
	g.mu.Lock()
	if g.mu.deleted == 0 {
		g.mu.Unlock()
		return false
	}
	end := g.mu.next
	c := &compaction{end: end, doomed: make([]uint64, (end+63)/64)}
	// Read the tombstone bits a word at a time: chunks start at multiples
	// of 64 slots.
	for k := range g.chunks {
		ch := g.chunks[k].Load()
		base := NodeID((uint64(1)<<k - 1) << g.baseShift)
		if ch == nil || base >= end {
			break
		}
		for w := range ch.dead {
			first := base + NodeID(64*w)
			if first >= end {
				break
			}
			word := ch.dead[w].Load()
			c.doomed[first>>6] = word
			c.n += bits.OnesCount64(word)
		}
	}
	g.mu.Unlock()
	g.cycle = c
	g.compactingFlag.Store(true)
	// An insert that began before these nodes were deleted may still link
	// to one of them; one that begins now cannot (searches never return a
	// tombstone). Let the former finish before the repair pass.
	g.grace.synchronize()
	return true
}

// finishCycle runs the rest of the cycle's repair pass on workers
// goroutines and reclaims. Called with compactMu held.
func (g *Graph) finishCycle(workers int) int {
	c := g.cycle
	g.writeMu.RLock()
	g.repairRange(c, c.pos, c.end, workers)
	g.writeMu.RUnlock()
	c.pos = c.end
	return g.reclaim(c)
}

// repairRange repairs the slots in [from, to) that link to a doomed node.
// Each worker rewrites only the lists of the nodes it takes, reading the
// (unchanging) lists of the doomed nodes. Called with writeMu held shared.
func (g *Graph) repairRange(c *compaction, from, to NodeID, workers int) {
	var next atomic.Uint32
	next.Store(uint32(from))
	work := func() {
		s := g.getSearcher()
		defer g.putSearcher(s)
		for {
			id := NodeID(next.Add(1) - 1)
			if id >= to {
				return
			}
			// A slot not ready is being filled by an insert that began after
			// the cycle did: it links to no doomed node.
			if c.has(id) || !g.inUse(id) || !g.isReady(id) {
				continue
			}
			for l := g.level(id); l >= 0; l-- {
				g.repair(s, c, id, l)
			}
		}
	}
	if workers <= 1 || to-from < 256 {
		work()
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(work)
	}
	wg.Wait()
}

// reclaim ends a cycle whose repair pass is complete: no list links to a
// doomed node any more. It moves the entry point off the doomed nodes, waits
// for the searches and inserts that might still hold one, and frees their
// slots. Called with compactMu held.
func (g *Graph) reclaim(c *compaction) int {
	g.mu.Lock()
	next := g.mu.next
	g.mu.Unlock()
	g.epMu.Lock()
	if ep, _, ok := g.entryPoint(); ok && c.has(ep) {
		// The node of highest level takes over, a live one before a
		// tombstone that stays; none left empties the graph.
		best, bestLevel, bestLive := noNode, -1, false
		for id := range next {
			if c.has(id) || !g.inUse(id) || !g.isReady(id) {
				continue
			}
			l, live := g.level(id), !g.isDeleted(id)
			if l > bestLevel || (l == bestLevel && live && !bestLive) {
				best, bestLevel, bestLive = id, l, live
			}
		}
		g.setEntryPoint(best, bestLevel)
	}
	g.epMu.Unlock()

	// No link and no entry point leads to a doomed node now; a search or an
	// insert that began before may still hold one.
	g.grace.synchronize()

	// Save reads every slot in use: keep it out while the slots are reset.
	g.snapMu.Lock()
	ids := make([]NodeID, 0, c.n)
	for w, word := range c.doomed {
		for word != 0 {
			ids = append(ids, NodeID(w<<6|bits.TrailingZeros64(word)))
			word &= word - 1
		}
	}
	for _, id := range ids {
		ch, off := g.locate(id)
		lk := g.links(id, 0)
		for _, nb := range lk[1 : 1+lk[0]] {
			g.inDegree(NodeID(nb)).Add(-1)
		}
		atomic.StoreUint32(&lk[0], 0)
		if u := ch.upper[off]; u != nil {
			g.upperBytes.Add(-(24 + 4*int64(len(*u))))
		}
		ch.upper[off] = nil
		ch.levels[off] = 0
		ch.keys[off] = 0
		g.setReady(id, false)
	}
	// Links between doomed nodes were just counted off: none reaches them.
	for _, id := range ids {
		g.inDegree(id).Store(0)
	}
	g.mu.Lock()
	for _, id := range ids {
		g.setDeleted(id, false)
		g.setFree(id, true)
	}
	g.mu.free = append(g.mu.free, ids...)
	g.mu.deleted -= len(ids)
	g.mu.Unlock()
	g.snapMu.Unlock()

	g.cycle = nil
	g.compactingFlag.Store(false)
	g.compactions.Add(1)
	g.reclaimed.Add(uint64(len(ids)))
	return len(ids)
}

// repair gives node id a new neighbour list at a level if it links to a
// doomed node.
func (g *Graph) repair(s *searcher, c *compaction, id NodeID, level int) {
	lk := g.links(id, level)
	n := min(int(atomic.LoadUint32(&lk[0])), len(lk)-1)
	hasDoomed := false
	for i := 1; i <= n; i++ {
		if c.has(NodeID(atomic.LoadUint32(&lk[i]))) {
			hasDoomed = true
			break
		}
	}
	if !hasDoomed {
		return
	}
	s.startVisit(g.slotCap())
	s.visit(id)
	v := g.vec(id)
	cands := s.sorted[:0]
	add := func(nb NodeID) {
		if s.visit(nb) || g.isDeleted(nb) || !g.isReady(nb) {
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
		dn := min(int(atomic.LoadUint32(&dl[0])), len(dl)-1)
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
			dn2 := min(int(atomic.LoadUint32(&dl2[0])), len(dl2)-1)
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
