package index

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/ragd/ragd/hnsw"
	"github.com/ragd/ragd/index/filter"
	"github.com/ragd/ragd/index/text"
	"golang.org/x/sync/errgroup"
)

// SearchBatch runs many searches over the collection at once and returns
// their responses in order. Each response is the one Search would give for
// that request, except that a vector leg answered by an exact scan (below)
// is exact where a graph walk would approximate.
//
// What the requests share is done once: each distinct filter is evaluated
// once per shard, and the BM25 statistics of every query term are gathered
// in one pass per shard. Vector legs over a shard small enough, or under
// an allowed set small enough, that scoring every vector costs less than a
// graph walk (hnsw.Graph.ExactCheaper) run together as one matrix product
// per shard and filter (hnsw.Graph.SearchExact); the others walk the graph,
// several at once. Requests may mix modes, filters and k.
//
// A request that fails validation fails the batch, with an error that
// names its position; nothing is searched.
func (c *Collection) SearchBatch(ctx context.Context, reqs []SearchRequest) ([]*SearchResponse, error) {
	start := time.Now()
	if err := c.acquire(); err != nil {
		return nil, err
	}
	defer c.release()
	checked := make([]SearchRequest, len(reqs))
	for i, r := range reqs {
		r, err := c.check(r)
		if err != nil {
			return nil, fmt.Errorf("searches[%d]: %w", i, err)
		}
		checked[i] = r
	}
	reqs = checked

	// The distinct filters, and the terms of each text leg.
	filterOf := make([]int, len(reqs)) // index into filters, −1 for none
	var filters []*filter.Filter
	seen := make(map[string]int)
	terms := make([][]string, len(reqs))
	var allTerms []string
	for i, r := range reqs {
		filterOf[i] = -1
		if r.Filter != nil {
			key := filterKey(r.Filter, i)
			f, ok := seen[key]
			if !ok {
				f = len(filters)
				seen[key] = f
				filters = append(filters, r.Filter)
			}
			filterOf[i] = f
		}
		if r.Mode != ModeVector {
			terms[i] = c.shards[0].text.Terms(r.Text)
			allTerms = append(allTerms, terms[i]...)
		}
	}
	slices.Sort(allTerms)
	allTerms = slices.Compact(allTerms)

	n := len(c.shards)
	allow := make([][]*roaring.Bitmap, n) // [shard][filter]
	stats := make([]text.Stats, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.idx.cfg.SearchParallelism)
	for si, sh := range c.shards {
		g.Go(func() error {
			allow[si] = make([]*roaring.Bitmap, len(filters))
			for fi, f := range filters {
				if err := gctx.Err(); err != nil {
					return err
				}
				b, err := sh.allow(f)
				if err != nil {
					return err
				}
				allow[si][fi] = b
			}
			if len(allTerms) > 0 {
				st, err := sh.text.Stats(allTerms)
				if err != nil {
					return fmt.Errorf("shard %d: %w", si, err)
				}
				stats[si] = st
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var global text.Stats
	for _, st := range stats {
		global.Add(st)
	}

	// The legs: per shard, exact groups as one batch each, the rest one
	// task per leg.
	vecs := make([][][]candidate, len(reqs)) // [request][shard]
	txts := make([][][]candidate, len(reqs))
	for i := range reqs {
		vecs[i] = make([][]candidate, n)
		txts[i] = make([][]candidate, n)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(c.idx.cfg.SearchParallelism)
	for si, sh := range c.shards {
		allowOf := func(i int) *roaring.Bitmap {
			if filterOf[i] < 0 {
				return nil
			}
			return allow[si][filterOf[i]]
		}
		// Exact groups: the requests whose vector leg over this shard is
		// cheaper scanned, grouped by filter (−1: none).
		exact := make(map[int][]int)
		for i, r := range reqs {
			a := allowOf(i)
			if a != nil && a.IsEmpty() {
				continue
			}
			if r.Mode != ModeText && sh.graph != nil {
				rows := sh.graph.Len()
				if a != nil {
					rows = int(min(a.GetCardinality(), uint64(rows)))
				}
				if sh.graph.ExactCheaper(rows, r.Ef) {
					exact[filterOf[i]] = append(exact[filterOf[i]], i)
				} else {
					g.Go(func() error {
						if err := gctx.Err(); err != nil {
							return err
						}
						v, err := sh.vectorLeg(r.Vector, r.Depth, r.Ef, a)
						if err != nil {
							return fmt.Errorf("searches[%d]: shard %d: %w", i, si, err)
						}
						vecs[i][si] = v
						return nil
					})
				}
			}
			if r.Mode != ModeVector && len(terms[i]) > 0 {
				g.Go(func() error {
					if err := gctx.Err(); err != nil {
						return err
					}
					t, err := sh.textLeg(terms[i], global, r.Depth, a)
					if err != nil {
						return fmt.Errorf("searches[%d]: shard %d: %w", i, si, err)
					}
					txts[i][si] = t
					return nil
				})
			}
		}
		for fi, group := range exact {
			var a *roaring.Bitmap
			if fi >= 0 {
				a = allow[si][fi]
			}
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				res, err := sh.exactLegs(gctx, reqs, group, a)
				if err != nil {
					return fmt.Errorf("shard %d: %w", si, err)
				}
				for j, i := range group {
					vecs[i][si] = res[j]
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// Fusing and loading the hits (decoding stored documents is most of a
	// small search's time) run for several searches at once.
	out := make([]*SearchResponse, len(reqs))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(c.idx.cfg.SearchParallelism)
	for i, r := range reqs {
		g.Go(func() error {
			hits, err := c.fuseLegs(r, vecs[i], txts[i])
			if err != nil {
				return fmt.Errorf("searches[%d]: %w", i, err)
			}
			loaded, err := c.load(gctx, hits, r.IncludeVectors)
			if err != nil {
				return fmt.Errorf("searches[%d]: %w", i, err)
			}
			out[i] = &SearchResponse{Hits: loaded, Took: time.Since(start)}
			out[i].describeFusion(r)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// exactLegs answers the vector legs of reqs[group] over the shard by one
// exact batch scan, each cut to its request's depth.
func (s *shard) exactLegs(ctx context.Context, reqs []SearchRequest, group []int, allow *roaring.Bitmap) ([][]candidate, error) {
	qs := make([][]float32, len(group))
	depth := 0
	for j, i := range group {
		qs[j] = reqs[i].Vector
		depth = max(depth, reqs[i].Depth)
	}
	var a hnsw.AllowList
	if allow != nil {
		a = allow
	}
	res, err := s.graph.SearchExact(ctx, qs, depth, a)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	out := make([][]candidate, len(group))
	for j, i := range group {
		rs := res[j][:min(len(res[j]), reqs[i].Depth)]
		cs := make([]candidate, len(rs))
		for k, r := range rs {
			cs[k] = candidate{num: r.Key}
			cs[k].score, cs[k].raw = s.vectorScore(r.Dist)
		}
		out[j] = cs
	}
	return out, nil
}

// filterKey identifies a filter by its JSON form, so that requests that
// send the same filter share its evaluation; a filter that does not encode
// gets a key of its own.
func filterKey(f *filter.Filter, i int) string {
	b, err := json.Marshal(f)
	if err != nil {
		return "\x00" + strconv.Itoa(i)
	}
	return string(b)
}
