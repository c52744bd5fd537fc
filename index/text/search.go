package text

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	index "github.com/blevesearch/bleve_index_api"
)

// Allow restricts a search to the document numbers it contains.
// *roaring.Bitmap (github.com/RoaringBitmap/roaring/v2) satisfies it.
type Allow interface {
	Contains(num uint32) bool
}

// Hit is one search result.
type Hit struct {
	Num   uint32  // the document's number in the shard
	Score float64 // its BM25 score
}

// Stats are the collection statistics BM25 needs. Each shard's index
// reports its own with Stats; Add sums them into the statistics of the
// whole collection, exactly, so that every shard scores with the same idf
// and average length, as one index holding everything would (the
// distributed-frequency phase of Elasticsearch's dfs_query_then_fetch).
type Stats struct {
	Docs     uint64            // documents
	TotalLen uint64            // Σ document lengths, in tokens
	DF       map[string]uint64 // per query term: documents that contain it
}

// Add adds o into s.
func (s *Stats) Add(o Stats) {
	s.Docs += o.Docs
	s.TotalLen += o.TotalLen
	if s.DF == nil && o.DF != nil {
		s.DF = make(map[string]uint64, len(o.DF))
	}
	for t, n := range o.DF {
		s.DF[t] += n
	}
}

// Terms analyses query as documents are analysed and returns its terms in
// order, repeats kept: a term twice in the query counts twice in the
// score, as in Lucene (Anserini's bag-of-words query boosts a term by its
// count).
func (x *Index) Terms(query string) []string {
	ts := x.analyze(query)
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t.Term)
	}
	return out
}

// Stats returns this index's statistics for the given terms: its document
// count, total length and each distinct term's document frequency.
func (x *Index) Stats(terms []string) (Stats, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.mu.closed {
		return Stats{}, ErrClosed
	}
	r, err := x.bi.Reader()
	if err != nil {
		return Stats{}, fmt.Errorf("text: stats: %w", err)
	}
	st, err := x.stats(r, terms)
	return st, errors.Join(err, r.Close())
}

func (x *Index) stats(r index.IndexReader, terms []string) (Stats, error) {
	st := Stats{DF: make(map[string]uint64, len(terms))}
	var err error
	if st.Docs, err = r.DocCount(); err != nil {
		return Stats{}, fmt.Errorf("text: stats: %w", err)
	}
	total, err := r.GetInternal([]byte(keyTotalLen))
	if err != nil {
		return Stats{}, fmt.Errorf("text: stats: %w", err)
	}
	if len(total) != 8 {
		return Stats{}, &CorruptionError{Path: x.dir, Reason: "bad total length"}
	}
	st.TotalLen = binary.BigEndian.Uint64(total)
	for _, t := range terms {
		if _, ok := st.DF[t]; ok {
			continue
		}
		tfr, err := r.TermFieldReader(context.Background(), []byte(t), fieldText, false, false, false)
		if err != nil {
			return Stats{}, fmt.Errorf("text: stats: %w", err)
		}
		st.DF[t] = tfr.Count()
		if err := tfr.Close(); err != nil {
			return Stats{}, fmt.Errorf("text: stats: %w", err)
		}
	}
	return st, nil
}

// maxK bounds k: a larger k is a mistake, not a search.
const maxK = 1 << 20

// Search returns the k documents with the highest BM25 scores for terms
// (from Terms, repeats kept) under the statistics global (the sum of every
// shard's Stats for the same terms), best first, ties by number; fewer when
// fewer documents match. A document scores
//
//	Σ over query terms t   idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl))
//
// with idf(t) = ln(1 + (N − df(t) + 0.5)/(df(t) + 0.5)) (Lucene's, never
// negative), N = global.Docs, df from global.DF, avgdl = global.TotalLen/N,
// tf the term's count in the document and dl the document's length in
// tokens, both from this index. A nil allow admits every document;
// otherwise only the documents it contains are ranked, so k results come
// back whenever k allowed documents match.
func (x *Index) Search(terms []string, global Stats, k int, allow Allow) ([]Hit, error) {
	if k < 1 || k > maxK {
		return nil, fmt.Errorf("%w: k %d out of range [1, %d]", ErrInvalidArgument, k, maxK)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.mu.closed {
		return nil, ErrClosed
	}
	q, err := x.prepare(terms, global)
	if err != nil || len(q.terms) == 0 {
		return nil, err
	}
	r, err := x.bi.Reader()
	if err != nil {
		return nil, fmt.Errorf("text: search: %w", err)
	}
	hits, err := q.run(r, k, allow)
	return hits, errors.Join(err, r.Close())
}

// query is a search's terms and weights.
type query struct {
	terms  []string  // distinct, in order of first appearance
	weight []float64 // per term: count in the query · idf · (k1+1)
	k1     float64
	b      float64
	avgdl  float64
}

func (x *Index) prepare(terms []string, global Stats) (query, error) {
	q := query{k1: *x.cfg.K1, b: *x.cfg.B}
	if global.Docs == 0 {
		return q, nil // nothing anywhere
	}
	n := float64(global.Docs)
	q.avgdl = float64(global.TotalLen) / n
	if q.avgdl <= 0 {
		q.avgdl = 1 // only empty documents, which match nothing
	}
	var count []float64 // per distinct term: its count in the query
	var distinct []string
	at := make(map[string]int, len(terms))
	for _, t := range terms {
		if i, ok := at[t]; ok {
			count[i]++
			continue
		}
		at[t] = len(distinct)
		distinct = append(distinct, t)
		count = append(count, 1)
	}
	for i, t := range distinct {
		df, ok := global.DF[t]
		if !ok {
			return query{}, fmt.Errorf("%w: statistics lack term %q", ErrInvalidArgument, t)
		}
		if df == 0 {
			continue // matches no document anywhere
		}
		d := math.Min(float64(df), n) // a shard may have changed between the phases
		idf := math.Log(1 + (n-d+0.5)/(d+0.5))
		q.terms = append(q.terms, t)
		q.weight = append(q.weight, count[i]*idf*(q.k1+1))
	}
	return q, nil
}

// ScoreText returns the BM25 score that a document of the given text would
// get for terms (from Terms) under global, with this index's analyzer and
// parameters: what Search would give it were it indexed, the statistics
// left as they are. Calibration uses it to score a document with a passage
// taken out.
func (x *Index) ScoreText(terms []string, text string, global Stats) (float64, error) {
	q, err := x.prepare(terms, global)
	if err != nil || len(q.terms) == 0 {
		return 0, err
	}
	ts := x.analyze(text)
	if len(ts) == 0 {
		return 0, nil
	}
	tf := make(map[string]float64, len(q.terms))
	for _, t := range q.terms {
		tf[t] = 0
	}
	for _, t := range ts {
		if _, ok := tf[string(t.Term)]; ok {
			tf[string(t.Term)]++
		}
	}
	norm := q.k1 * (1 - q.b + q.b*float64(len(ts))/q.avgdl)
	score := 0.0
	for i, t := range q.terms {
		if f := tf[t]; f > 0 {
			score += q.weight[i] * f / (f + norm)
		}
	}
	return score, nil
}
