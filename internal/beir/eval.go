package beir

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Cut-offs of the metrics Evaluate computes.
const (
	CutNDCG   = 10
	CutMAP    = 100
	CutRecall = 100
	CutMRR    = 10
)

// Scored is one retrieved document and its score.
type Scored struct {
	ID    string
	Score float64
}

// Run maps a query id to the documents retrieved for it. Only the scores
// decide the order (see TRECOrder), not the order of the slice.
type Run map[string][]Scored

// Scores holds the four metrics of one query, or their means.
type Scores struct {
	NDCG10    float64 // nDCG@10, graded gain
	MAP100    float64 // average precision over the top 100
	Recall100 float64 // recall of the top 100
	MRR10     float64 // reciprocal rank of the first relevant document within 10
}

// Metrics is the result of Evaluate.
type Metrics struct {
	Mean     Scores            // means over the judged queries
	PerQuery map[string]Scores // one entry per judged query
	Judged   int               // number of judged queries: the denominator of Mean
	// Missing lists the judged queries absent from the run (or with no
	// documents), which score 0: shorter ids first, then bytewise, so numeric
	// ids are in numeric order.
	Missing []string
	// Unjudged is the number of run queries without judgements, which are
	// ignored.
	Unjudged int
}

// Evaluate scores run against qrels (query id → document id → grade) with
// trec_eval's definitions; see the package comment. A document listed more
// than once for a query counts once, at its best position (trec_eval
// rejects such runs; ReadTREC and WriteTREC do too). A NaN score ranks below
// every other.
func Evaluate(run Run, qrels map[string]map[string]int) Metrics {
	m := Metrics{PerQuery: make(map[string]Scores, len(qrels))}
	qids := make([]string, 0, len(qrels))
	for qid, judged := range qrels {
		if len(judged) > 0 {
			qids = append(qids, qid)
		}
	}
	slices.SortFunc(qids, compareQueryIDs) // a fixed summation order: the same bits every time
	for _, qid := range qids {
		hits := run[qid]
		if len(hits) == 0 {
			m.Missing = append(m.Missing, qid)
		}
		s := EvaluateQuery(hits, qrels[qid])
		m.PerQuery[qid] = s
		m.Mean.NDCG10 += s.NDCG10
		m.Mean.MAP100 += s.MAP100
		m.Mean.Recall100 += s.Recall100
		m.Mean.MRR10 += s.MRR10
	}
	m.Judged = len(qids)
	if m.Judged > 0 {
		n := float64(m.Judged)
		m.Mean.NDCG10 /= n
		m.Mean.MAP100 /= n
		m.Mean.Recall100 /= n
		m.Mean.MRR10 /= n
	}
	for qid, hits := range run {
		if len(qrels[qid]) == 0 && len(hits) > 0 {
			m.Unjudged++
		}
	}
	return m
}

// EvaluateQuery scores the documents retrieved for one query against its
// judgements (document id → grade). The hits are ranked by TRECOrder on a
// copy; hits is not modified.
func EvaluateQuery(hits []Scored, judged map[string]int) Scores {
	ranked := TRECOrder(hits)
	var s Scores

	nrel := 0
	var ideal []int
	for _, g := range judged {
		if g >= 1 {
			nrel++
			ideal = append(ideal, g)
		}
	}
	if nrel == 0 {
		return s // every metric divides by the relevant documents or their ideal DCG
	}

	slices.SortFunc(ideal, func(a, b int) int { return cmp.Compare(b, a) })
	var idcg float64
	for i, g := range ideal[:min(len(ideal), CutNDCG)] {
		idcg += float64(g) / math.Log2(float64(i+2))
	}
	var dcg float64
	for i, h := range ranked[:min(len(ranked), CutNDCG)] {
		if g := judged[h.ID]; g > 0 {
			dcg += float64(g) / math.Log2(float64(i+2))
		}
	}
	s.NDCG10 = dcg / idcg

	found := 0
	var sumPrec float64
	for i, h := range ranked[:min(len(ranked), max(CutMAP, CutRecall))] {
		if judged[h.ID] >= 1 {
			found++
			if i < CutMAP {
				sumPrec += float64(found) / float64(i+1)
			}
			if i < CutRecall {
				s.Recall100 = float64(found) / float64(nrel)
			}
		}
	}
	s.MAP100 = sumPrec / float64(nrel)

	for i, h := range ranked[:min(len(ranked), CutMRR)] {
		if judged[h.ID] >= 1 {
			s.MRR10 = 1 / float64(i+1)
			break
		}
	}
	return s
}

// TRECOrder returns a copy of hits in trec_eval's order: score descending,
// ties by document id descending (byte order, which for UTF-8 is code-point
// order, as Python compares strings), NaN scores last. A document listed
// more than once keeps only its first position in that order.
func TRECOrder(hits []Scored) []Scored {
	out := slices.Clone(hits)
	slices.SortFunc(out, compareTREC)
	seen := make(map[string]struct{}, len(out))
	return slices.DeleteFunc(out, func(h Scored) bool {
		if _, dup := seen[h.ID]; dup {
			return true
		}
		seen[h.ID] = struct{}{}
		return false
	})
}

// compareTREC orders by score descending, then id descending. cmp.Compare
// puts NaN below every number and equates it with NaN, so the order is total.
func compareTREC(a, b Scored) int {
	if c := cmp.Compare(b.Score, a.Score); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// compareQueryIDs orders shorter ids first, then bytewise, so that numeric
// ids come out in numeric order (ireval.py's order).
func compareQueryIDs(a, b string) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}
