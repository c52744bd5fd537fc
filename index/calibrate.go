package index

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ragd/ragd/index/store"
	"github.com/ragd/ragd/simd"
)

// FusionDefault is a collection's default fusion: what a hybrid search
// that names neither a fusion nor an alpha uses. Calibrate chooses it.
type FusionDefault struct {
	Fusion Fusion  `json:"fusion"`
	Alpha  float64 `json:"alpha"`
	// CalibratedAt is when the choice was made; Queries the pseudo-queries
	// it was measured on; Documents the collection's size then.
	CalibratedAt time.Time `json:"calibrated_at"`
	Queries      int       `json:"queries"`
	Documents    int       `json:"documents"`
	// NDCG10 is the choice's mean nDCG@10 on the pseudo-queries, and
	// TextNDCG10 and VectorNDCG10 are those of the legs alone.
	NDCG10       float64 `json:"ndcg10"`
	TextNDCG10   float64 `json:"text_ndcg10"`
	VectorNDCG10 float64 `json:"vector_ndcg10"`
}

// EmbedFunc embeds texts with a collection's embedder: one vector of the
// collection's dimension per text, in order. The index never embeds by
// itself; the layer above passes its embedder in.
type EmbedFunc func(ctx context.Context, texts []string) ([][]float32, error)

// CalibrationConfig tunes Calibrate. The zero value takes the defaults.
type CalibrationConfig struct {
	// Queries is the number of pseudo-queries (at most one per document);
	// default 1000. Each costs two texts to embed and two searches; fewer
	// make the choice noisier: on Cranfield, CISI and CACM five seeds of
	// 300 chose alphas 0.1–0.3 apart (bench/results/fusion.md).
	Queries int
	// Seed chooses the documents and sentences; default 1. The same seed
	// over the same documents makes the same pseudo-queries.
	Seed uint64
	// Depth is how many candidates each leg takes, as a hybrid search's
	// Depth; default 100.
	Depth int
}

func (c CalibrationConfig) withDefaults() CalibrationConfig {
	if c.Queries == 0 {
		c.Queries = 1000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Depth == 0 {
		c.Depth = 100
	}
	return c
}

// MinCalibrationDocs is the fewest documents Calibrate works with: below
// it, too few pseudo-queries tell the fusions apart.
const MinCalibrationDocs = 50

// ErrTooFewDocuments is returned by Calibrate for a collection with fewer
// than MinCalibrationDocs documents, or too few sentences to ask about.
var ErrTooFewDocuments = errors.New("index: too few documents to calibrate")

// fusionCandidates are the fusions Calibrate weighs: distribution-based
// score fusion from BM25 alone (alpha 0) to the vector leg alone (alpha
// 1) in steps of 0.05.
//
// Why DBSF only: its normalisation (mean ± 3σ of each leg's candidates)
// does not let one outlying score squash the rest, as min-max does to a
// BM25 list whose top hit scores far above the others, so its quality
// changes slowly with alpha and an alpha a little off still fuses well.
// Measured on Cranfield, CISI and CACM with the local model (every alpha,
// both families, bench/results/fusion.md): DBSF's curve is the flatter one
// near its best, and when the calibration also chose between relative
// and DBSF, the pseudo-queries' small differences between the families
// were noise that sometimes picked the worse. RRF, which ignores scores,
// lost to BM25 by 0.006–0.12 on all three and is left to explicit requests.
func fusionCandidates() []FusionDefault {
	out := make([]FusionDefault, 0, 21)
	for i := 0; i <= 20; i++ {
		out = append(out, FusionDefault{Fusion: FusionDBSF, Alpha: float64(i) / 20})
	}
	return out
}

// Calibrate chooses the collection's default fusion from the collection
// itself, stores it in the catalog and returns it. It needs a collection
// with vectors and the embedder its documents were embedded with.
//
// The measure is the inverse cloze task (Lee, Chang and Toutanova, ACL
// 2019): a sentence drawn from a document is the query, and the rest of the
// document, the sentence taken out, is the one relevant answer. Taking the
// sentence out keeps the task honest for both legs — BM25 cannot match it
// word for word, the vector leg cannot find its own text — so each leg
// is measured on how well it finds a passage from a statement about it,
// which is what a user's question asks of it. For each pseudo-query both
// legs run over the collection as a search would (Depth candidates), with
// the document replaced by its remainder: re-embedded with embed for the
// vector leg, scored by text.Index.ScoreText under the collection's
// statistics for the text leg. Every candidate fusion (fusionCandidates)
// then ranks the two lists. The choice is the candidate with the best mean
// nDCG@10 among those significantly better than the stronger leg alone
// (chooseFusion), else that leg alone.
//
// Documents and sentences are drawn by a hash of cfg.Seed and the document
// ID, so the same seed over the same documents gives the same choice.
// Searches and writes go on meanwhile.
func (c *Collection) Calibrate(ctx context.Context, embed EmbedFunc, cfg CalibrationConfig) (*FusionDefault, error) {
	cfg = cfg.withDefaults()
	if c.cfg.Dimension == 0 {
		return nil, fmt.Errorf("%w: collection %q has no vectors: only BM25 runs", ErrInvalidArgument, c.cfg.Name)
	}
	if embed == nil {
		return nil, fmt.Errorf("%w: calibration needs the collection's embedder", ErrInvalidArgument)
	}
	if cfg.Queries < 1 || cfg.Queries > 10000 || cfg.Depth < 10 || cfg.Depth > c.idx.cfg.MaxK {
		return nil, fmt.Errorf("%w: calibration queries %d (want 1…10000) or depth %d (want 10…%d)", ErrInvalidArgument, cfg.Queries, cfg.Depth, c.idx.cfg.MaxK)
	}
	docs, err := c.Count(ctx)
	if err != nil {
		return nil, err
	}
	if docs < MinCalibrationDocs {
		return nil, fmt.Errorf("%w: %d documents, need %d", ErrTooFewDocuments, docs, MinCalibrationDocs)
	}
	qs, err := c.pseudoQueries(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if len(qs) < min(cfg.Queries, MinCalibrationDocs/2) {
		return nil, fmt.Errorf("%w: %d documents have a sentence to ask about", ErrTooFewDocuments, len(qs))
	}
	texts := make([]string, 0, 2*len(qs))
	for _, q := range qs {
		texts = append(texts, q.query, q.rest)
	}
	vecs := make([][]float32, 0, len(texts))
	for lo := 0; lo < len(texts); lo += 64 {
		vs, err := embed(ctx, texts[lo:min(lo+64, len(texts))])
		if err != nil {
			return nil, fmt.Errorf("index: calibrate: embed: %w", err)
		}
		if len(vs) != min(64, len(texts)-lo) {
			return nil, fmt.Errorf("index: calibrate: embedder returned %d vectors for %d texts", len(vs), min(64, len(texts)-lo))
		}
		vecs = append(vecs, vs...)
	}

	cands := fusionCandidates()
	gains := make([][]float64, len(cands)) // [candidate][query]
	var textSum, vecSum float64
	var textHits, vecHits int // pseudo-queries whose answer the leg alone puts in its top 10
	n := 0
	for i, q := range qs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		qv, rv := vecs[2*i], vecs[2*i+1]
		if len(qv) != c.cfg.Dimension || len(rv) != c.cfg.Dimension {
			return nil, fmt.Errorf("index: calibrate: embedder returned vectors of dimension %d, collection has %d", len(qv), c.cfg.Dimension)
		}
		vec, txt, target, err := c.calibrationLegs(ctx, q, qv, rv, cfg.Depth)
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return nil, err
		}
		n++
		tr, vr := rankIn(txt, target), rankIn(vec, target)
		textSum += gainAt(tr)
		vecSum += gainAt(vr)
		if tr > 0 {
			textHits++
		}
		if vr > 0 {
			vecHits++
		}
		tb := &tieBreaker{}
		for ci, cd := range cands {
			hits := fuse(vec, txt, cd.Fusion, cd.Alpha, 60, 10, tb)
			rank := 0
			for r, h := range hits {
				if h.shard == target.shard && h.num == target.num {
					rank = r + 1
					break
				}
			}
			gains[ci] = append(gains[ci], gainAt(rank))
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no pseudo-query could be embedded", ErrTooFewDocuments)
	}
	best := chooseFusion(cands, gains, textSum >= vecSum)
	// A leg that finds the answer no more often than chance would is
	// noise, whatever the pseudo-queries' small sample says about mixing
	// some of it in: it gets no weight.
	switch chance := float64(n) * 10 / float64(docs); {
	case !aboveChance(vecHits, chance) && aboveChance(textHits, chance):
		best = 0 // alpha 0: BM25 alone
	case !aboveChance(textHits, chance) && aboveChance(vecHits, chance):
		best = len(cands) - 1 // alpha 1: the vector leg alone
	}
	choice := cands[best]
	choice.CalibratedAt = time.Now().UTC().Truncate(time.Millisecond)
	choice.Queries = n
	choice.Documents = docs
	choice.NDCG10 = mean(gains[best])
	choice.TextNDCG10 = textSum / float64(n)
	choice.VectorNDCG10 = vecSum / float64(n)
	if err := c.idx.setFusionDefault(c, &choice); err != nil {
		return nil, err
	}
	c.idx.cfg.Logger.Info("fusion calibrated", "collection", c.cfg.Name, "fusion", choice.Fusion, "alpha", choice.Alpha,
		"queries", n, "ndcg10", round4(choice.NDCG10), "bm25_ndcg10", round4(choice.TextNDCG10), "vector_ndcg10", round4(choice.VectorNDCG10))
	out := choice
	return &out, nil
}

// significantZ is the paired z-score a fusion must show over the stronger
// leg alone to be chosen: a one-sided test at the 5 % level.
const significantZ = 1.645

// chooseFusion picks the candidate to use: the one with the best mean gain
// among those whose gain over the stronger leg alone is significant
// (significantZ, a paired test over the pseudo-queries), or the stronger
// leg alone when none is. Of candidates that tie, the one that leans least
// on the weaker leg wins.
//
// The test is what keeps a weak or redundant leg out: a leg that only
// repeats the other's evidence (a hashing embedder is BM25 without its
// weights) can look a little useful on a sample of pseudo-queries and then
// cost real queries more than it seemed to give. Measured with the hashing
// embedder on Cranfield, CISI and CACM: the best fusions there were 0.0008–
// 0.0055 nDCG@10 above BM25 on the pseudo-queries (z 0.5–1.4), and from
// 0.003 above to 0.02 below it on the real queries; with the local model
// the improvements that held on real queries showed z 1.9–5.6
// (bench/results/fusion.md).
func chooseFusion(cands []FusionDefault, gains [][]float64, textStronger bool) int {
	weak := func(f FusionDefault) float64 {
		if textStronger {
			return f.Alpha
		}
		return 1 - f.Alpha
	}
	// The stronger leg alone: alpha 0 (BM25) or 1 (vector).
	base := 0
	for ci, cd := range cands {
		if weak(cd) < weak(cands[base]) {
			base = ci
		}
	}
	best := base
	for ci := range cands {
		if ci == base {
			continue
		}
		d, se := pairedDiff(gains[ci], gains[base])
		if !(d > 0 && d >= significantZ*se) {
			continue
		}
		m, mb := mean(gains[ci]), mean(gains[best])
		if m > mb+1e-12 || m > mb-1e-12 && weak(cands[ci]) < weak(cands[best]) {
			best = ci
		}
	}
	return best
}

// pairedDiff returns the mean of a − b and its standard error.
func pairedDiff(a, b []float64) (mean, se float64) {
	n := float64(len(a))
	if n < 2 {
		return 0, 0
	}
	var sum float64
	for i := range a {
		sum += a[i] - b[i]
	}
	mean = sum / n
	var ss float64
	for i := range a {
		d := a[i] - b[i] - mean
		ss += d * d
	}
	return mean, math.Sqrt(ss/(n-1)) / math.Sqrt(n)
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// aboveChance reports whether a leg that put the answer in its top 10 for
// hits pseudo-queries did better than picking documents at random, which
// would do so expected times: more than three standard deviations above
// (a Poisson count).
func aboveChance(hits int, expected float64) bool {
	return float64(hits) > expected+3*math.Sqrt(expected)+1
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// gainAt is the nDCG@10 of a ranking whose one relevant document is at
// rank (1-based; 0: not in the top 10).
func gainAt(rank int) float64 {
	if rank < 1 || rank > 10 {
		return 0
	}
	return 1 / math.Log2(float64(rank)+1)
}

func rankIn(leg []candidate, target candidate) int {
	for i, c := range leg[:min(len(leg), 10)] {
		if c.shard == target.shard && c.num == target.num {
			return i + 1
		}
	}
	return 0
}

// pseudoQuery is one sentence taken out of a document, and what is left.
type pseudoQuery struct {
	id    string
	query string
	rest  string
}

// errSkip marks a pseudo-query that cannot be asked (its document was
// deleted meanwhile, or a vector has no direction).
var errSkip = errors.New("index: calibrate: skip the pseudo-query")

// calibrationLegs runs both legs for a pseudo-query, over the collection
// as it is (the legs of a hybrid Search, merged over shards, nothing
// loaded), then puts the document's remainder in place of the document:
// its vector score from rv, its BM25 score from ScoreText under the same
// statistics. It returns the legs, best first, cut to depth, and the
// remainder's candidate; errSkip when the query cannot be asked.
func (c *Collection) calibrationLegs(ctx context.Context, q pseudoQuery, qv, rv []float32, depth int) (vec, txt []candidate, target candidate, err error) {
	if err := c.acquire(); err != nil {
		return nil, nil, target, err
	}
	defer c.release()
	si := c.shardOf(q.id)
	sh := c.shards[si]
	num, ok, err := sh.numOf(q.id)
	if err != nil {
		return nil, nil, target, err
	}
	dist, okDist := vectorDistance(c.cfg.Metric, qv, rv)
	if !ok || !okDist {
		return nil, nil, target, errSkip // deleted meanwhile, or no direction
	}
	req, err := c.check(SearchRequest{Vector: qv, Text: q.query, Mode: ModeHybrid, K: 10, Depth: depth})
	if errors.Is(err, ErrInvalidArgument) {
		return nil, nil, target, errSkip // e.g. a zero query vector under cosine
	}
	if err != nil {
		return nil, nil, target, err
	}
	vecs, txts, global, err := c.legs(ctx, req)
	if err != nil {
		return nil, nil, target, err
	}
	tb := c.newTieBreaker()
	vec = mergeLeg(vecs, req.Depth, tb)
	txt = mergeLeg(txts, req.Depth, tb)
	if tb.err != nil {
		return nil, nil, target, tb.err
	}
	target = candidate{shard: si, num: num}
	target.score, target.raw = sh.vectorScore(dist)
	vec = withTarget(vec, target, req.Depth)

	txt = slices.DeleteFunc(txt, func(x candidate) bool { return x.shard == si && x.num == num })
	if terms := sh.text.Terms(q.query); len(terms) > 0 {
		score, err := sh.text.ScoreText(terms, q.rest, global)
		if err != nil {
			return nil, nil, target, err
		}
		if score > 0 {
			txt = withTarget(txt, candidate{shard: si, num: num, score: score, raw: score}, req.Depth)
		}
	}
	return vec, txt, target, nil
}

// withTarget replaces the target's entry in a leg (best first) by the
// target with its new score, in its place by score, cut to depth.
func withTarget(leg []candidate, target candidate, depth int) []candidate {
	leg = slices.DeleteFunc(leg, func(x candidate) bool { return x.shard == target.shard && x.num == target.num })
	at := len(leg)
	for i, x := range leg {
		if target.score > x.score {
			at = i
			break
		}
	}
	leg = slices.Insert(leg, at, target)
	if len(leg) > depth {
		leg = leg[:depth]
	}
	return leg
}

// vectorDistance is the graph's distance between a query and a vector,
// with the kernels the graph uses: squared Euclidean, 1 − cosine, or −dot.
// ok is false for a zero vector under cosine.
func vectorDistance(m Metric, q, v []float32) (float32, bool) {
	switch m {
	case L2:
		return simd.L2Squared(q, v), true
	case Dot:
		return -simd.Dot(q, v), true
	default:
		if simd.Dot(q, q) == 0 || simd.Dot(v, v) == 0 {
			return 0, false
		}
		return 1 - simd.Cosine(q, v), true
	}
}

// pseudoQueries draws cfg.Queries documents by a hash of the seed and their
// ID (a bottom-k sample: the same documents for the same seed whatever the
// order of the scan), and from each a sentence to ask about.
func (c *Collection) pseudoQueries(ctx context.Context, cfg CalibrationConfig) ([]pseudoQuery, error) {
	// Twice as many as needed: some documents have no usable sentence.
	want := 2 * cfg.Queries
	h := &sampleHeap{}
	cursor := ""
	for {
		page, next, err := c.Scan(ctx, cursor, 1000, false)
		if err != nil {
			return nil, err
		}
		for _, d := range page {
			x := sample{hash: seededHash(cfg.Seed, d.ID), id: d.ID, text: d.Text}
			switch {
			case h.Len() < want:
				heap.Push(h, x)
			case x.hash < (*h)[0].hash:
				(*h)[0] = x
				heap.Fix(h, 0)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	picked := slices.Clone(*h)
	slices.SortFunc(picked, func(a, b sample) int { return cmp.Compare(a.hash, b.hash) })
	var out []pseudoQuery
	for _, s := range picked {
		if len(out) == cfg.Queries {
			break
		}
		if q, ok := askAbout(s, cfg.Seed); ok {
			out = append(out, q)
		}
	}
	return out, nil
}

// Sentences that make a pseudo-query: long enough to say something, short
// enough to read as a question would; the rest of the document must still
// say something too.
const (
	minQueryWords = 5
	maxQueryWords = 40
	minRestWords  = 10
)

// askAbout picks one sentence of the document's text (by the seed) as the
// query, and returns it with the text that remains.
func askAbout(s sample, seed uint64) (pseudoQuery, bool) {
	spans := sentences(s.text)
	var ok []int
	words := len(strings.Fields(s.text))
	for i, sp := range spans {
		n := len(strings.Fields(s.text[sp[0]:sp[1]]))
		if n >= minQueryWords && n <= maxQueryWords && words-n >= minRestWords {
			ok = append(ok, i)
		}
	}
	if len(ok) == 0 {
		return pseudoQuery{}, false
	}
	sp := spans[ok[seededHash(seed+1, s.id)%uint64(len(ok))]]
	rest := strings.TrimSpace(s.text[:sp[0]] + " " + s.text[sp[1]:])
	return pseudoQuery{id: s.id, query: strings.TrimSpace(s.text[sp[0]:sp[1]]), rest: rest}, true
}

// sentences splits text into sentence spans: a sentence ends at '.', '!'
// or '?' followed by a space or the end, or at a line break that ends a
// paragraph or a heading (a blank line, or a line without end punctuation
// followed by one).
//
// Not UAX #29 (rivo/uniseg, which ingest's chunker uses): it does not break
// before a lowercase word, so lowercase text such as Cranfield's ("…
// slipstream . an experimental study …") would be one long sentence and
// give no pseudo-query.
func sentences(t string) [][2]int {
	var out [][2]int
	start := 0
	emit := func(end int) {
		if strings.TrimSpace(t[start:end]) != "" {
			out = append(out, [2]int{start, end})
		}
		start = end
	}
	for i := 0; i < len(t); {
		r, size := utf8.DecodeRuneInString(t[i:])
		j := i + size
		switch {
		case r == '.' || r == '!' || r == '?' || r == '。':
			if j == len(t) || unicode.IsSpace(rune(t[j])) {
				emit(j)
			}
		case r == '\n':
			// A blank line ends a paragraph; a single line break ends a
			// heading or a list item (lines that are not wrapped prose).
			if j < len(t) && (t[j] == '\n' || !wrapped(t[start:i])) {
				emit(j)
			}
		}
		i = j
	}
	emit(len(t))
	return out
}

// wrapped reports whether a line looks like wrapped prose that goes on
// after the line break: it ends with a letter, a digit or a comma and is
// long.
func wrapped(line string) bool {
	line = strings.TrimRightFunc(line, unicode.IsSpace)
	if len(line) < 40 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(line)
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == ',' || r == ';'
}

func seededHash(seed uint64, id string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(seed >> (8 * i))
	}
	_, _ = h.Write(b[:])
	_, _ = h.Write([]byte(id))
	x := h.Sum64()
	// fnv's high bits mix poorly for short inputs: finish with a splitmix
	// step so that the sample is uniform.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

type sample struct {
	hash uint64
	id   string
	text string
}

// sampleHeap is a max-heap by hash: the root is the sample to drop first.
type sampleHeap []sample

func (h sampleHeap) Len() int           { return len(h) }
func (h sampleHeap) Less(i, j int) bool { return h[i].hash > h[j].hash }
func (h sampleHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sampleHeap) Push(x any)        { *h = append(*h, x.(sample)) }
func (h *sampleHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// shardOf returns the shard of a document ID.
func (c *Collection) shardOf(id string) int { return shardOf(id, len(c.shards)) }

// numOf returns a document's number in the shard.
func (s *shard) numOf(id string) (num uint32, ok bool, err error) {
	err = s.store.View(func(r *store.Reader) error {
		num, ok, err = r.Num(id)
		return err
	})
	return num, ok, err
}
