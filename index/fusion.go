package index

import (
	"cmp"
	"math"
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
	// FusionDBSF is distribution-based score fusion (as Qdrant's dbsf):
	// like FusionRelative, but each leg's scores are normalised by their
	// distribution over the leg's candidates, mean − 3σ to mean + 3σ mapped
	// to [0, 1], so that one outlying score does not squash the rest.
	FusionDBSF Fusion = "dbsf"
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
// depend on how documents are spread over shards or numbered in them.
// Without idsOf (one shard) it orders them by document number instead,
// which needs no store read.
type tieBreaker struct {
	idsOf func(shard int, nums []uint32) ([]string, error)
	err   error // the first lookup error
}

// sortTied sorts xs best first by better (< 0: a before b); the groups
// that better cannot order and that begin among the first limit are then
// ordered by the tie-breaker, their IDs read in one store read per shard.
func sortTied[T any](xs []T, limit int, better func(a, b T) int, key func(T) (shard int, num uint32), t *tieBreaker) {
	slices.SortFunc(xs, better)
	type group struct{ i, j int }
	var groups []group
	want := make(map[int][]uint32)
	for i := 0; i < len(xs) && i < limit; {
		j := i + 1
		for j < len(xs) && better(xs[i], xs[j]) == 0 {
			j++
		}
		if j-i > 1 {
			groups = append(groups, group{i, j})
			if t.idsOf != nil {
				for _, x := range xs[i:j] {
					s, num := key(x)
					want[s] = append(want[s], num)
				}
			}
		}
		i = j
	}
	if len(groups) == 0 {
		return
	}
	ids := make(map[uint64]string)
	for s, nums := range want {
		got, err := t.idsOf(s, nums)
		if err != nil {
			if t.err == nil {
				t.err = err
			}
			continue // such ties fall back to shard and number order
		}
		for i, n := range nums {
			ids[uint64(s)<<32|uint64(n)] = got[i]
		}
	}
	for _, g := range groups {
		slices.SortFunc(xs[g.i:g.j], func(a, b T) int {
			as, an := key(a)
			bs, bn := key(b)
			if t.idsOf != nil {
				if c := cmp.Compare(ids[uint64(as)<<32|uint64(an)], ids[uint64(bs)<<32|uint64(bn)]); c != 0 {
					return c
				}
			}
			return cmp.Or(cmp.Compare(as, bs), cmp.Compare(an, bn))
		})
	}
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
	norm := minMax
	if f == FusionDBSF {
		norm = distribution
	}
	vecNorm := norm(vec)
	txtNorm := norm(txt)
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
	sortTied(out, k, func(a, b *fused) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(bestRank(a), bestRank(b)))
	}, func(h *fused) (int, uint32) { return h.shard, h.num }, tb)
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

// distribution returns the normalisation of distribution-based score
// fusion: (s − (μ − 3σ)) / 6σ over the leg's candidates, so that most
// scores fall in [0, 1] (a few outliers beyond). When every candidate scores
// the same, each gets 1, as with minMax.
func distribution(c []candidate) func(float64) float64 {
	if len(c) == 0 {
		return func(float64) float64 { return 0 }
	}
	var sum float64
	for _, x := range c {
		sum += x.score
	}
	mean := sum / float64(len(c))
	var ss float64
	for _, x := range c {
		d := x.score - mean
		ss += d * d
	}
	sd := math.Sqrt(ss / float64(len(c)))
	if !(sd > 1e-12*math.Max(1, math.Abs(mean))) {
		return func(float64) float64 { return 1 }
	}
	lo := mean - 3*sd
	return func(s float64) float64 { return (s - lo) / (6 * sd) }
}
