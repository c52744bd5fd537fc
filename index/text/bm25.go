package text

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// exhausted is the document number of a cursor past its last posting.
const exhausted = math.MaxUint64

// cursor walks one term's postings in one segment, in document order.
type cursor struct {
	it   segment.PostingsIterator
	p    segment.Posting // the current posting, valid until the iterator moves
	doc  uint64          // its document number in the segment, or exhausted
	w    float64         // the term's weight, count in the query · idf · (k1+1): a bound on its score
	term int             // the term's place in the query
}

func (c *cursor) set(p segment.Posting, err error) error {
	switch {
	case err != nil:
		return err
	case p == nil:
		c.p, c.doc = nil, exhausted
	default:
		c.p, c.doc = p, p.Number()
	}
	return nil
}

// part returns the term's part of the score of the current document, whose
// length normalisation k1·(1 − b + b·dl/avgdl) is norm.
func (c *cursor) part(norm float64) float64 {
	tf := float64(c.p.Frequency())
	return c.w * tf / (tf + norm)
}

func (c *cursor) next() error { return c.set(c.it.Next()) }

// advance moves to the first posting at or after doc, which must be above
// the current one.
func (c *cursor) advance(doc uint64) error { return c.set(c.it.Advance(doc)) }

// lenFromNorm recovers a document's length in tokens from the norm bleve
// reports with each posting. zap (v17, bleve 2.6's segment format) stores
// the length itself and reports float64(float32(1/√len)); rounding 1/norm²
// gives the length back exactly for every length below 6,660,631 tokens
// (checked exhaustively; see TestLenFromNorm), far beyond any text a shard
// indexes.
func lenFromNorm(norm float64) float64 {
	if !(norm > 0) || math.IsInf(norm, 0) {
		return 0
	}
	return math.Round(1 / (norm * norm))
}

// run scores every document that holds a query term. It reads the
// snapshot's segments one at a time — a document lives in exactly one —
// through zap's postings iterators, below scorch's term readers, which
// would convert every posting to a global number and a TermFieldDoc.
func (q *query) run(r index.IndexReader, k int, allow Allow) ([]Hit, error) {
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return nil, fmt.Errorf("text: search: unexpected reader type %T", r)
	}
	s := scorer{q: q, top: topK{k: k}, allow: allow, part: make([]float64, len(q.terms))}
	for _, ss := range snap.Segments() {
		if err := s.segment(ss); err != nil {
			return nil, err
		}
	}
	return s.top.sorted(), nil
}

// scorer holds a search's state across segments.
type scorer struct {
	q     *query
	top   topK
	allow Allow
	cur   []cursor  // the segment's cursors, by ascending weight
	bound []float64 // bound[i] = Σ cur[:i].w: the most cur[:i] can add to a score
	part  []float64 // per query term, its part of the current document's score
}

// segment opens the query terms' postings in segment ss, leaving out the
// documents deleted from it and the terms it lacks, and scores them.
func (s *scorer) segment(ss *scorch.SegmentSnapshot) error {
	if ss.Count() == 0 {
		return nil // every document deleted
	}
	dict, err := ss.Segment().Dictionary(fieldText)
	if err != nil {
		return fmt.Errorf("text: search: %w", err)
	}
	s.cur = s.cur[:0]
	for i, t := range s.q.terms {
		pl, err := dict.PostingsList([]byte(t), ss.Deleted(), nil)
		if err != nil {
			return fmt.Errorf("text: search: %w", err)
		}
		if pl.Count() == 0 {
			continue
		}
		c := cursor{it: pl.Iterator(true, true, false, nil), w: s.q.weight[i], term: i}
		if err := c.next(); err != nil {
			return fmt.Errorf("text: search: %w", err)
		}
		s.cur = append(s.cur, c)
	}
	slices.SortStableFunc(s.cur, func(a, b cursor) int { return cmp.Compare(a.w, b.w) })
	s.bound = append(s.bound[:0], 0)
	for _, c := range s.cur {
		s.bound = append(s.bound, s.bound[len(s.bound)-1]+c.w)
	}
	if err := s.score(ss); err != nil {
		return fmt.Errorf("text: search: %w", err)
	}
	return nil
}

// slack covers rounding: a score computed in another order than the
// bounds may exceed them by a few ulps.
const slack = 1 + 1e-9

// score scores the documents of one segment, document at a time, with
// MaxScore (Turtle & Flood, 1995): once the top k is full, the terms whose
// weights together cannot lift a document to the k-th score are
// "non-essential"; only documents holding an essential term are
// candidates, the non-essential postings are skipped to them, and a
// candidate is dropped as soon as its bound falls below the k-th score. The
// top k is the same as without pruning.
//
// A candidate is looked up (its number, the filter) only if its score can
// enter the top k. Each document's score is the sum of its terms' parts in
// query order, so it has the same bits however the index is split.
func (s *scorer) score(ss *scorch.SegmentSnapshot) error {
	q, cur := s.q, s.cur
	essential := 0 // cur[:essential] are non-essential
	for {
		if s.top.full() {
			theta := s.top.h[0].Score
			for essential < len(cur) && s.bound[essential+1]*slack < theta {
				essential++
			}
		}
		d := uint64(exhausted)
		for i := essential; i < len(cur); i++ {
			d = min(d, cur[i].doc)
		}
		if d == exhausted {
			return nil
		}
		var sum, norm float64
		first := true
		for i := essential; i < len(cur); i++ {
			c := &cur[i]
			if c.doc != d {
				continue
			}
			if first {
				// zap reports the norm with every posting of the document.
				norm = q.k1 * (1 - q.b + q.b*lenFromNorm(c.p.Norm())/q.avgdl)
				first = false
			}
			p := c.part(norm)
			s.part[c.term] = p
			sum += p
			if err := c.next(); err != nil {
				return err
			}
		}
		pruned := false
		for i := essential - 1; i >= 0; i-- {
			if (sum+s.bound[i+1])*slack < s.top.h[0].Score {
				pruned = true
				break
			}
			c := &cur[i]
			if c.doc < d {
				if err := c.advance(d); err != nil {
					return err
				}
			}
			if c.doc == d {
				p := c.part(norm)
				s.part[c.term] = p
				sum += p
			}
		}
		score := 0.0
		for t, p := range s.part {
			score += p
			s.part[t] = 0
		}
		if pruned || !s.top.mayAdmit(score) {
			continue
		}
		id, err := ss.DocID(d)
		if err != nil {
			return err
		}
		num, ok := parseDocID(id)
		if !ok {
			return fmt.Errorf("bad document ID %q", id)
		}
		if s.allow != nil && !s.allow.Contains(num) {
			continue
		}
		s.top.push(Hit{Num: num, Score: score})
	}
}

// topK keeps the k best hits in a binary heap whose root is the worst.
type topK struct {
	k int
	h []Hit
}

// worse reports whether a ranks below b: a lower score, or an equal score
// and a higher number.
func worse(a, b Hit) bool {
	return a.Score < b.Score || (a.Score == b.Score && a.Num > b.Num)
}

func (t *topK) full() bool { return len(t.h) == t.k }

// mayAdmit reports whether a hit with this score could enter the top k.
func (t *topK) mayAdmit(score float64) bool {
	return len(t.h) < t.k || score >= t.h[0].Score
}

func (t *topK) push(x Hit) {
	if len(t.h) < t.k {
		t.h = append(t.h, x)
		i := len(t.h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !worse(t.h[i], t.h[p]) {
				break
			}
			t.h[i], t.h[p] = t.h[p], t.h[i]
			i = p
		}
		return
	}
	if !worse(t.h[0], x) {
		return
	}
	t.h[0] = x
	i, n := 0, len(t.h)
	for {
		l, m := 2*i+1, i
		if l < n && worse(t.h[l], t.h[m]) {
			m = l
		}
		if r := l + 1; r < n && worse(t.h[r], t.h[m]) {
			m = r
		}
		if m == i {
			return
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

// sorted returns the hits best first, ties by number.
func (t *topK) sorted() []Hit {
	slices.SortFunc(t.h, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Num, b.Num)
	})
	return t.h
}
