package index

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/ragd/ragd/index/filter"
	"github.com/ragd/ragd/index/store"
	"github.com/ragd/ragd/index/text"
	"golang.org/x/sync/errgroup"
)

// Mode chooses the legs of a search.
type Mode string

// The modes.
const (
	ModeVector Mode = "vector"
	ModeText   Mode = "text"
	ModeHybrid Mode = "hybrid"
)

// SearchRequest is one query. Give Vector, Text or both; Mode defaults to
// hybrid when both are given, else to the leg that can run.
type SearchRequest struct {
	Vector []float32
	Text   string
	Mode   Mode
	// K is the number of hits; default 10, at most Config.MaxK.
	K int
	// Filter restricts every leg to the documents it matches.
	Filter *filter.Filter
	// Ef is the graph beam width; 0 uses the collection's ef_search (at
	// least the leg's depth is used).
	Ef int
	// Fusion of a hybrid search. When neither Fusion nor Alpha is given,
	// the collection's default (CollectionConfig.Fusion, set by Calibrate)
	// applies; without one, or when only Alpha is given, relative.
	Fusion Fusion
	// Alpha weighs the vector leg in relative and dbsf fusion, in [0, 1];
	// nil means the collection's default, else 0.5.
	Alpha *float64
	// RRFK is the k of reciprocal rank fusion; default 60.
	RRFK int
	// Depth is how many candidates each leg of a hybrid search takes before
	// fusing; default max(4·K, 100), at most Config.MaxK.
	Depth int
	// IncludeVectors returns each hit's stored vector.
	IncludeVectors bool

	calibrated bool // Fusion and Alpha came from the collection's default
}

// Hit is one search result.
type Hit struct {
	Document
	// Score orders the hits: the fused score of a hybrid search, the
	// similarity of a vector search (cosine similarity, dot product, or
	// minus the Euclidean distance), the BM25 score of a text search.
	Score float64
	// Scores and Ranks say what each leg found: its raw score (cosine
	// similarity, dot product or Euclidean distance; BM25) and the hit's
	// 1-based rank in the leg, nil and 0 where the leg did not find it.
	Scores LegScores
	Ranks  LegRanks
}

// LegScores are the raw scores of a hit in each leg.
type LegScores struct {
	Vector *float64 `json:"vector,omitempty"`
	Text   *float64 `json:"text,omitempty"`
}

// LegRanks are the ranks of a hit in each leg (0: not found by the leg).
type LegRanks struct {
	Vector int `json:"vector,omitempty"`
	Text   int `json:"text,omitempty"`
}

// SearchResponse holds the hits, best first.
type SearchResponse struct {
	Hits []Hit
	Took time.Duration
	// Fusion and Alpha are what a hybrid search fused its legs with (empty
	// for one leg); Calibrated says they are the collection's calibrated
	// default rather than the request's or the built-in one.
	Fusion     Fusion
	Alpha      float64
	Calibrated bool
}

// check validates a request and fills in its defaults.
func (c *Collection) check(req SearchRequest) (SearchRequest, error) {
	bad := func(format string, args ...any) (SearchRequest, error) {
		return req, fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
	}
	maxK := c.idx.cfg.MaxK
	if req.K == 0 {
		req.K = 10
	}
	if req.K < 1 || req.K > maxK {
		return bad("k %d out of range [1, %d]", req.K, maxK)
	}
	if req.Ef < 0 || req.Ef > maxK {
		return bad("ef %d out of range [0, %d]", req.Ef, maxK)
	}
	if req.Vector != nil {
		if c.cfg.Dimension == 0 {
			return bad("vector given to a text-only collection")
		}
		if len(req.Vector) != c.cfg.Dimension {
			return bad("vector has dimension %d, collection has %d", len(req.Vector), c.cfg.Dimension)
		}
		var ss float64
		for i, x := range req.Vector {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return bad("vector[%d] is %v", i, x)
			}
			ss += float64(x) * float64(x)
		}
		if c.cfg.Metric == Cosine && ss == 0 {
			return bad("zero vector has no direction under the cosine metric")
		}
	}
	switch req.Mode {
	case "":
		switch {
		case req.Vector != nil && req.Text != "":
			req.Mode = ModeHybrid
		case req.Vector != nil:
			req.Mode = ModeVector
		case req.Text != "":
			req.Mode = ModeText
		default:
			return bad("give a vector, a text or both")
		}
	case ModeVector:
		if req.Vector == nil {
			return bad("mode vector needs a vector")
		}
	case ModeText:
		if req.Text == "" {
			return bad("mode text needs a text")
		}
	case ModeHybrid:
		if req.Vector == nil || req.Text == "" {
			return bad("mode hybrid needs both a vector and a text")
		}
	default:
		return bad("mode %q (want vector, text or hybrid)", req.Mode)
	}
	req.calibrated = false
	if f := c.fusion.Load(); f != nil && req.Fusion == "" && req.Alpha == nil {
		a := f.Alpha
		req.Fusion, req.Alpha, req.calibrated = f.Fusion, &a, true
	}
	switch req.Fusion {
	case "":
		req.Fusion = FusionRelative
	case FusionRRF, FusionRelative, FusionDBSF:
	default:
		return bad("fusion %q (want relative, dbsf or rrf)", req.Fusion)
	}
	if req.Alpha == nil {
		a := 0.5
		req.Alpha = &a
	} else if a := *req.Alpha; math.IsNaN(a) || a < 0 || a > 1 {
		return bad("alpha %v out of range [0, 1]", a)
	}
	if req.RRFK == 0 {
		req.RRFK = 60
	}
	if req.RRFK < 1 || req.RRFK > 1<<20 {
		return bad("rrf_k %d out of range [1, 2^20]", req.RRFK)
	}
	if req.Depth == 0 {
		req.Depth = max(4*req.K, 100)
	}
	req.Depth = min(max(req.Depth, req.K), maxK)
	if req.Mode != ModeHybrid {
		req.Depth = req.K
	}
	if req.Filter != nil {
		if err := req.Filter.Validate(); err != nil {
			return bad("filter: %v", err)
		}
	}
	return req, nil
}

// Search runs a vector, text or hybrid search over every shard in
// parallel and merges the results exactly: the hits are those one shard
// holding every document would return (up to ties). A hybrid search fuses
// the merged legs, so ranks and normalisation are collection-wide.
func (c *Collection) Search(ctx context.Context, req SearchRequest) (*SearchResponse, error) {
	start := time.Now()
	if err := c.acquire(); err != nil {
		return nil, err
	}
	defer c.release()
	req, err := c.check(req)
	if err != nil {
		return nil, err
	}
	vecs, txts, _, err := c.legs(ctx, req)
	if err != nil {
		return nil, err
	}
	hits, err := c.fuseLegs(req, vecs, txts)
	if err != nil {
		return nil, err
	}
	out, err := c.load(ctx, hits, req.IncludeVectors)
	if err != nil {
		return nil, err
	}
	resp := &SearchResponse{Hits: out, Took: time.Since(start)}
	resp.describeFusion(req)
	return resp, nil
}

// legs runs a checked request's legs on every shard in parallel and
// returns each shard's candidates per leg (depth each) and the text leg's
// collection-wide statistics. The caller holds acquire.
func (c *Collection) legs(ctx context.Context, req SearchRequest) (vecs, txts [][]candidate, global text.Stats, err error) {
	n := len(c.shards)
	allow := make([]*roaring.Bitmap, n)
	vecs = make([][]candidate, n)
	txts = make([][]candidate, n)
	wantVec := req.Mode != ModeText
	wantText := req.Mode != ModeVector

	// Phase 1: filters, and the text leg's collection-wide statistics.
	var terms []string
	var stats []text.Stats
	if wantText {
		terms = c.shards[0].text.Terms(req.Text)
		stats = make([]text.Stats, n)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.idx.cfg.SearchParallelism)
	for i, sh := range c.shards {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			if req.Filter != nil {
				b, err := sh.allow(req.Filter)
				if err != nil {
					return err
				}
				allow[i] = b
			}
			if wantText && len(terms) > 0 {
				st, err := sh.text.Stats(terms)
				if err != nil {
					return fmt.Errorf("shard %d: %w", i, err)
				}
				stats[i] = st
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, text.Stats{}, err
	}
	for _, st := range stats {
		global.Add(st)
	}

	// Phase 2: the legs, per shard.
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(c.idx.cfg.SearchParallelism)
	for i, sh := range c.shards {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			if allow[i] != nil && allow[i].IsEmpty() {
				return nil
			}
			if wantVec {
				v, err := sh.vectorLeg(req.Vector, req.Depth, req.Ef, allow[i])
				if err != nil {
					return fmt.Errorf("shard %d: %w", i, err)
				}
				vecs[i] = v
			}
			if wantText && len(terms) > 0 {
				t, err := sh.textLeg(terms, global, req.Depth, allow[i])
				if err != nil {
					return fmt.Errorf("shard %d: %w", i, err)
				}
				txts[i] = t
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, text.Stats{}, err
	}
	return vecs, txts, global, nil
}

// describeFusion records how a hybrid search fused its legs.
func (r *SearchResponse) describeFusion(req SearchRequest) {
	if req.Mode != ModeHybrid {
		return
	}
	r.Fusion, r.Calibrated = req.Fusion, req.calibrated
	if req.Fusion != FusionRRF {
		r.Alpha = *req.Alpha
	}
}

// fuseLegs merges the shards' candidates of each leg and turns them into
// the request's K best hits: one leg's own order, or the fusion of both.
func (c *Collection) fuseLegs(req SearchRequest, vecs, txts [][]candidate) ([]fused, error) {
	tb := c.newTieBreaker()
	vec := mergeLeg(vecs, req.Depth, tb)
	txt := mergeLeg(txts, req.Depth, tb)

	var hits []fused
	switch req.Mode {
	case ModeVector:
		hits = single(vec, true)
	case ModeText:
		hits = single(txt, false)
	default:
		hits = fuse(vec, txt, req.Fusion, *req.Alpha, req.RRFK, req.K, tb)
	}
	if tb.err != nil {
		return nil, tb.err
	}
	if len(hits) > req.K {
		hits = hits[:req.K]
	}
	return hits, nil
}

// newTieBreaker orders ties across shards by document ID, so that results
// do not depend on how documents are spread; within one shard the document
// number (the order of first insertion) is as stable and costs no read.
func (c *Collection) newTieBreaker() *tieBreaker {
	if len(c.shards) == 1 {
		return &tieBreaker{}
	}
	return &tieBreaker{idsOf: c.idsOf}
}

// idsOf returns the IDs of documents of a shard by number ("" for one that
// is gone), in one store read.
func (c *Collection) idsOf(shard int, nums []uint32) ([]string, error) {
	ids := make([]string, len(nums))
	err := c.shards[shard].store.View(func(r *store.Reader) error {
		for i, n := range nums {
			id, _, err := r.ID(n)
			if err != nil {
				return err
			}
			ids[i] = id
		}
		return nil
	})
	return ids, err
}

// mergeLeg merges the shards' candidates of one leg, best first (ties by
// document ID), cut to depth. Each shard gave its own best depth, so the
// merge is exact.
func mergeLeg(per [][]candidate, depth int, tb *tieBreaker) []candidate {
	var all []candidate
	for i, cs := range per {
		for _, c := range cs {
			c.shard = i
			all = append(all, c)
		}
	}
	sortTied(all, depth, func(a, b candidate) int { return cmp.Compare(b.score, a.score) },
		func(c candidate) (int, uint32) { return c.shard, c.num }, tb)
	if len(all) > depth {
		all = all[:depth]
	}
	return all
}

// single turns one leg into hits scored by the leg itself.
func single(leg []candidate, vector bool) []fused {
	out := make([]fused, len(leg))
	for i, c := range leg {
		h := fused{shard: c.shard, num: c.num, score: c.score}
		if vector {
			h.vecRank, h.vecRaw = i+1, c.raw
		} else {
			h.textRank, h.txtRaw = i+1, c.raw
		}
		out[i] = h
	}
	return out
}

// load fetches the hits' documents, one read transaction per shard.
func (c *Collection) load(ctx context.Context, hits []fused, withVectors bool) ([]Hit, error) {
	out := make([]Hit, len(hits))
	byShard := make(map[int][]int)
	for i, h := range hits {
		byShard[h.shard] = append(byShard[h.shard], i)
	}
	for si, idxs := range byShard {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nums := make([]uint32, len(idxs))
		for j, i := range idxs {
			nums[j] = hits[i].num
		}
		docs, err := c.shards[si].getByNums(nums, withVectors)
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", si, err)
		}
		for j, i := range idxs {
			h := hits[i]
			if docs[j].ID == "" {
				continue // deleted since the legs ran
			}
			hit := Hit{Document: docs[j], Score: h.score}
			if h.vecRank > 0 {
				v := h.vecRaw
				hit.Scores.Vector, hit.Ranks.Vector = &v, h.vecRank
			}
			if h.textRank > 0 {
				v := h.txtRaw
				hit.Scores.Text, hit.Ranks.Text = &v, h.textRank
			}
			out[i] = hit
		}
	}
	return slices.DeleteFunc(out, func(h Hit) bool { return h.ID == "" }), nil
}
