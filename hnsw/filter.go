package hnsw

import (
	"sync/atomic"
)

// AllowList restricts a search to the keys it contains. *roaring.Bitmap
// (github.com/RoaringBitmap/roaring/v2) satisfies it, so the index layer
// passes the bitmap its metadata filter produced without copying.
type AllowList interface {
	Contains(key uint32) bool
	GetCardinality() uint64
	Iterate(cb func(key uint32) bool)
}

// searchFiltered returns the k nearest live nodes whose keys allow admits.
//
// A selective filter (at most FilterExactCount keys, or at most
// FilterExactFraction of the live nodes) is answered by an exact scan of the
// allowed nodes. A broader one walks the graph: allowed neighbours are
// scored as usual; a neighbour the filter rejects is not scored but looked
// through, its own allowed neighbours joining the candidates (the two-hop
// expansion of ACORN-1, Patel et al., 2024), so the walk keeps moving through
// regions the filter empties. If the walk still finds fewer than k nodes the
// exact scan answers, so k results come back whenever k allowed nodes exist.
func (g *Graph) searchFiltered(dst []Result, s *searcher, q []float32, k, ef int, allow AllowList) []Result {
	card := allow.GetCardinality()
	live := g.Len()
	if card == 0 || live == 0 {
		return dst
	}
	if card <= uint64(g.cfg.FilterExactCount) || float64(card) <= g.cfg.FilterExactFraction*float64(live) {
		return g.exactFiltered(dst, s, q, k, allow)
	}
	ep, top, ok := g.entryPoint()
	if !ok {
		return dst
	}
	ep, d := g.greedy(q, ep, g.distance(q, g.vec(ep)), top, 0)
	g.searchLayerFiltered(s, q, ep, d, ef, allow)
	if s.res.len() < k {
		return g.exactFiltered(dst, s, q, k, allow)
	}
	return g.appendResults(dst, s, k)
}

// exactFiltered scores every allowed live node.
func (g *Graph) exactFiltered(dst []Result, s *searcher, q []float32, k int, allow AllowList) []Result {
	ids := s.ids[:0]
	g.mu.Lock()
	allow.Iterate(func(key uint32) bool {
		if id, ok := g.mu.keys[key]; ok {
			ids = append(ids, id)
		}
		return true
	})
	g.mu.Unlock()
	s.ids = ids
	res := s.res[:0]
	for _, id := range ids {
		if !g.isReady(id) || g.isDeleted(id) {
			continue
		}
		if res.len() < k {
			res.push(item{g.distance(q, g.vec(id)), id})
			continue
		}
		bound := res.top().dist
		if d := g.distanceBounded(q, g.vec(id), bound); d < bound {
			res.replaceTop(item{d, id})
		}
	}
	s.res = res
	return g.appendResults(dst, s, k)
}

// searchLayerFiltered is searchLayer on level 0 with an allow-list.
func (g *Graph) searchLayerFiltered(s *searcher, q []float32, ep NodeID, epDist float32, ef int, allow AllowList) {
	s.startVisit(g.slotCap())
	cand, res := s.cand[:0], s.res[:0]
	s.visit(ep)
	cand.push(item{epDist, ep})
	if !g.isDeleted(ep) && allow.Contains(g.key(ep)) {
		res.push(item{epDist, ep})
	}
	consider := func(id NodeID) {
		var d float32
		if res.len() < ef {
			d = g.distance(q, g.vec(id))
		} else {
			bound := res.top().dist
			if d = g.distanceBounded(q, g.vec(id), bound); d >= bound {
				return
			}
		}
		cand.push(item{d, id})
		if !g.isDeleted(id) {
			res.pushBounded(item{d, id}, ef)
		}
	}
	for cand.len() > 0 {
		c := cand.pop()
		if res.len() >= ef && c.dist > res.top().dist {
			break
		}
		lk := g.links(c.id, 0)
		n := min(int(atomic.LoadUint32(&lk[0])), len(lk)-1)
		for i := 1; i <= n; i++ {
			id := NodeID(atomic.LoadUint32(&lk[i]))
			if s.visit(id) {
				continue
			}
			if allow.Contains(g.key(id)) {
				consider(id)
				continue
			}
			// Look through the rejected node to its allowed neighbours.
			lk2 := g.links(id, 0)
			n2 := min(int(atomic.LoadUint32(&lk2[0])), len(lk2)-1)
			for j := 1; j <= n2; j++ {
				id2 := NodeID(atomic.LoadUint32(&lk2[j]))
				if s.seen(id2) || !allow.Contains(g.key(id2)) {
					continue
				}
				s.visit(id2)
				consider(id2)
			}
		}
	}
	s.cand, s.res = cand, res
}
