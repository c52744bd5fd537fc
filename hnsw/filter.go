package hnsw

import ()

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
// An allow-list of at most FilterExactCount keys is answered by an exact
// scan of the allowed vectors. A larger one walks the graph (searchLayer):
// below FilterTwoHopBelow of the live vectors it looks through disallowed
// neighbours to their allowed neighbours (ACORN-1), above it scores them and
// walks on through them. If the walk still finds fewer than k nodes the
// exact scan answers, so k results come back whenever k allowed vectors
// exist.
func (g *Graph) searchFiltered(dst []Result, s *searcher, q []float32, k, ef int, allow AllowList) []Result {
	card := allow.GetCardinality()
	live := g.Len()
	if card == 0 || live == 0 {
		return dst
	}
	if card <= uint64(g.cfg.FilterExactCount) {
		return g.exactFiltered(dst, s, q, k, allow)
	}
	ep, top, ok := g.entryPoint()
	if !ok {
		return dst
	}
	ep, d := g.greedy(q, ep, g.distance(q, g.vec(ep)), top, 0)
	g.searchLayer(s, q, ep, d, ef, 0, allow, float64(card) < g.cfg.FilterTwoHopBelow*float64(live))
	if s.res.len() < k {
		return g.exactFiltered(dst, s, q, k, allow)
	}
	return g.appendResults(dst, s, k)
}

// exactFiltered scores every allowed live node.
func (g *Graph) exactFiltered(dst []Result, s *searcher, q []float32, k int, allow AllowList) []Result {
	s.ids = s.ids[:0]
	g.mu.Lock()
	allow.Iterate(s.collect) // appends the allowed keys' slots to s.ids
	g.mu.Unlock()
	ids := s.ids
	res := s.res[:0]
	for i := range min(len(ids), g.prefetchAhead) {
		g.prefetch(ids[i])
	}
	for i, id := range ids {
		if i+g.prefetchAhead < len(ids) {
			g.prefetch(ids[i+g.prefetchAhead])
		}
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
