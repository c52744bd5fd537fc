package index

import (
	"cmp"
	"slices"
)

// Fusion names how hybrid search combines its two legs.
type Fusion string

// The fusions.
const (
	// FusionRRF is reciprocal rank fusion (Cormack et al., 2009): a hit's
	// score is Σ 1/(RRFK + rank) over the legs that found it. It ignores the
	// legs' scores, so it needs no calibration, but it weighs a weak leg as
	// much as a strong one.
	FusionRRF Fusion = "rrf"
	// FusionRelative is relative-score fusion (as Weaviate's
	// relativeScoreFusion): each leg's scores are min-max normalised over its
	// candidates to [0, 1], and a hit's score is Alpha·vector + (1−Alpha)·text,
	// a leg that did not find it counting 0. Alpha lets a weak embedding
	// model be a light correction to BM25.
	FusionRelative Fusion = "relative"
)

// candidate is one hit of one leg, merged over shards.
type candidate struct {
	shard int
	num   uint32
	score float64 // higher is better: similarity, −distance, or BM25
	raw   float64 // what the hit shows for the leg: similarity, distance or BM25
}

func (a candidate) key() uint64 { return uint64(a.shard)<<32 | uint64(a.num) }

// tieBreaker orders tied candidates by document ID, so that results do not
// depend on how documents are spread over shards or numbered in them. It
// looks IDs up only for candidates that tie (warm reads a whole list's tied
// ones at once, one store read per shard) and remembers them. Without
// idsOf (one shard) it orders them by document number instead.
type tieBreaker struct {
	idsOf func(shard int, nums []uint32) ([]string, error)
	cache map[uint64]string
	err   error // the first lookup error
}

func newTieBreaker(idsOf func(shard int, nums []uint32) ([]string, error)) *tieBreaker {
	return &tieBreaker{idsOf: idsOf, cache: make(map[uint64]string)}
}

func tieKey(shard int, num uint32) uint64 { return uint64(shard)<<32 | uint64(num) }

func (t *tieBreaker) id(shard int, num uint32) string {
	k := tieKey(shard, num)
	if id, ok := t.cache[k]; ok {
		return id
	}
	t.lookup(shard, []uint32{num})
	return t.cache[k]
}

func (t *tieBreaker) lookup(shard int, nums []uint32) {
	ids, err := t.idsOf(shard, nums)
	if err != nil {
		if t.err == nil {
			t.err = err
		}
		ids = make([]string, len(nums))
	}
	for i, n := range nums {
		t.cache[tieKey(shard, n)] = ids[i]
	}
}

// warm looks up the IDs of the members of every tie group that begins
// among the first limit entries of a list of n sorted by score, best first.
func (t *tieBreaker) warm(n, limit int, score func(int) float64, key func(int) (int, uint32)) {
	if t.idsOf == nil {
		return
	}
	var want map[int][]uint32
	for i := 0; i < n && i < limit; {
		j := i + 1
		for j < n && score(j) == score(i) {
			j++
		}
		if j-i > 1 {
			if want == nil {
				want = make(map[int][]uint32)
			}
			for x := i; x < j; x++ {
				if s, num := key(x); t.cache[tieKey(s, num)] == "" {
					want[s] = append(want[s], num)
				}
			}
		}
		i = j
	}
	for s, nums := range want {
		t.lookup(s, nums)
	}
}

func (t *tieBreaker) compare(ashard int, anum uint32, bshard int, bnum uint32) int {
	if ashard == bshard && anum == bnum {
		return 0
	}
	if t.idsOf == nil {
		return cmp.Compare(anum, bnum)
	}
	return cmp.Compare(t.id(ashard, anum), t.id(bshard, bnum))
}

// byScore orders candidates best first, ties by document ID.
func (t *tieBreaker) byScore(a, b candidate) int {
	if c := cmp.Compare(b.score, a.score); c != 0 {
		return c
	}
	return t.compare(a.shard, a.num, b.shard, b.num)
}

// fused is a hybrid hit with what each leg said of it.
type fused struct {
	shard          int
	num            uint32
	score          float64
	vecRank        int // 1-based; 0 = not found by the leg
	textRank       int
	vecRaw, txtRaw float64
}

// fuse combines two ranked legs (best first) into at most k hits.
func fuse(vec, txt []candidate, f Fusion, alpha float64, rrfK int, k int, tb *tieBreaker) []fused {
	byKey := make(map[uint64]*fused, len(vec)+len(txt))
	out := make([]*fused, 0, len(vec)+len(txt))
	get := func(c candidate) *fused {
		if h, ok := byKey[c.key()]; ok {
			return h
		}
		h := &fused{shard: c.shard, num: c.num}
		byKey[c.key()] = h
		out = append(out, h)
		return h
	}
	vecNorm := minMax(vec)
	txtNorm := minMax(txt)
	for i, c := range vec {
		h := get(c)
		h.vecRank, h.vecRaw = i+1, c.raw
		if f == FusionRRF {
			h.score += 1 / float64(rrfK+i+1)
		} else {
			h.score += alpha * vecNorm(c.score)
		}
	}
	for i, c := range txt {
		h := get(c)
		h.textRank, h.txtRaw = i+1, c.raw
		if f == FusionRRF {
			h.score += 1 / float64(rrfK+i+1)
		} else {
			h.score += (1 - alpha) * txtNorm(c.score)
		}
	}
	// Ties: the better best rank across legs, then the document ID.
	byScoreRank := func(a, b *fused) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(bestRank(a), bestRank(b))
	}
	slices.SortFunc(out, byScoreRank)
	tb.warm(len(out), k, func(i int) float64 { return out[i].score }, func(i int) (int, uint32) { return out[i].shard, out[i].num })
	slices.SortFunc(out, func(a, b *fused) int {
		if c := byScoreRank(a, b); c != 0 {
			return c
		}
		return tb.compare(a.shard, a.num, b.shard, b.num)
	})
	if len(out) > k {
		out = out[:k]
	}
	res := make([]fused, len(out))
	for i, h := range out {
		res[i] = *h
	}
	return res
}

func bestRank(h *fused) int {
	r := 1 << 30
	if h.vecRank > 0 {
		r = h.vecRank
	}
	if h.textRank > 0 && h.textRank < r {
		r = h.textRank
	}
	return r
}

// minMax returns the min-max normalisation over a leg's candidates. When
// every candidate scores the same, each gets 1: the leg cannot tell them
// apart, and found them all.
func minMax(c []candidate) func(float64) float64 {
	if len(c) == 0 {
		return func(float64) float64 { return 0 }
	}
	lo, hi := c[0].score, c[0].score
	for _, x := range c {
		lo = min(lo, x.score)
		hi = max(hi, x.score)
	}
	if hi == lo {
		return func(float64) float64 { return 1 }
	}
	return func(s float64) float64 { return (s - lo) / (hi - lo) }
}
