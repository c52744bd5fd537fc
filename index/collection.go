package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/ragd/ragd/index/filter"
	"github.com/ragd/ragd/index/store"
	"golang.org/x/sync/errgroup"
)

// Collection is a set of documents of one shape, spread over shards. All
// methods are safe for concurrent use; searches run in parallel with writes.
type Collection struct {
	idx    *Index
	cfg    CollectionConfig
	dir    string
	shards []*shard

	// mu: operations hold it shared while they run; Close and Drop take it
	// exclusively, so they wait for in-flight operations and no new one
	// starts on closed shards.
	mu     sync.RWMutex
	closed bool // guarded by mu

	// fusion is the default fusion (cfg.Fusion as calibrated since); nil
	// for none.
	fusion atomic.Pointer[FusionDefault]
}

// Config returns the collection's configuration, with its current default
// fusion.
func (c *Collection) Config() CollectionConfig {
	cc := c.cfg.clone()
	cc.Fusion = nil
	if f := c.fusion.Load(); f != nil {
		x := *f
		cc.Fusion = &x
	}
	return cc
}

// Name returns the collection's name.
func (c *Collection) Name() string { return c.cfg.Name }

func (c *Collection) acquire() error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return fmt.Errorf("%w: collection %q", ErrClosed, c.cfg.Name)
	}
	return nil
}

func (c *Collection) release() { c.mu.RUnlock() }

// Upsert stores documents, replacing any with the same ID, and returns
// their IDs (generated where a document had none). It validates every
// document first: one bad document fails the call and nothing is written.
// The documents of each shard commit in one transaction (all or nothing per
// shard); it returns once every shard has committed (fsynced) and the
// documents are searchable. A shard failing after another committed returns
// an error naming it, with the other shards' documents stored.
func (c *Collection) Upsert(ctx context.Context, docs []Document) ([]string, error) {
	if err := c.acquire(); err != nil {
		return nil, err
	}
	defer c.release()
	ids := make([]string, len(docs))
	perShard := make([][]int, len(c.shards))
	preps := make([]prepared, len(docs))
	seen := make(map[string]int, len(docs))
	for i, d := range docs {
		if d.ID == "" {
			d.ID = newID()
		}
		if j, dup := seen[d.ID]; dup {
			return nil, fmt.Errorf("%w: documents[%d] and documents[%d] have the same id %q", ErrInvalidArgument, j, i, d.ID)
		}
		seen[d.ID] = i
		p, err := c.cfg.prepare(i, d)
		if err != nil {
			return nil, err
		}
		preps[i] = p
		ids[i] = d.ID
		s := shardOf(d.ID, len(c.shards))
		perShard[s] = append(perShard[s], i)
	}
	err := c.eachShard(ctx, perShard, func(ctx context.Context, sh *shard, idxs []int) error {
		ops := make([]store.Op, len(idxs))
		ps := make([]prepared, len(idxs))
		for j, i := range idxs {
			p := preps[i]
			ops[j] = store.Op{Kind: store.OpPut, Doc: store.Doc{
				ID: p.doc.ID, Text: p.doc.Text, Metadata: p.metadata, Vector: p.vector,
				Source: p.doc.Source, Chunk: int32(p.doc.Chunk),
			}}
			ps[j] = p
		}
		_, err := sh.write(ctx, ops, ps)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// eachShard runs fn for every shard with work, in parallel.
func (c *Collection) eachShard(ctx context.Context, perShard [][]int, fn func(context.Context, *shard, []int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.idx.cfg.SearchParallelism)
	for s, idxs := range perShard {
		if len(idxs) == 0 {
			continue
		}
		g.Go(func() error {
			if err := fn(gctx, c.shards[s], idxs); err != nil {
				return fmt.Errorf("shard %d: %w", s, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Get returns the document with the given ID.
func (c *Collection) Get(ctx context.Context, id string, withVector bool) (Document, error) {
	if err := c.acquire(); err != nil {
		return Document{}, err
	}
	defer c.release()
	if err := validateID(id); err != nil {
		return Document{}, err
	}
	d, ok, err := c.shards[shardOf(id, len(c.shards))].store.Get(id)
	if err != nil {
		return Document{}, err
	}
	if !ok {
		return Document{}, fmt.Errorf("%w: document %q", ErrNotFound, id)
	}
	return toDocument(d, withVector), nil
}

// Delete removes the documents with the given IDs and returns how many
// existed. Missing IDs are not an error.
func (c *Collection) Delete(ctx context.Context, ids []string) (int, error) {
	if err := c.acquire(); err != nil {
		return 0, err
	}
	defer c.release()
	perShard := make([][]int, len(c.shards))
	for i, id := range ids {
		if err := validateID(id); err != nil {
			return 0, fmt.Errorf("ids[%d]: %w", i, err)
		}
		s := shardOf(id, len(c.shards))
		perShard[s] = append(perShard[s], i)
	}
	var mu sync.Mutex
	deleted := 0
	err := c.eachShard(ctx, perShard, func(ctx context.Context, sh *shard, idxs []int) error {
		ops := make([]store.Op, len(idxs))
		for j, i := range idxs {
			ops[j] = store.Op{Kind: store.OpDelete, ID: ids[i]}
		}
		changes, err := sh.write(ctx, ops, make([]prepared, len(ops)))
		n := 0
		for _, ch := range changes {
			if ch.Existed {
				n++
			}
		}
		mu.Lock()
		deleted += n
		mu.Unlock()
		return err
	})
	return deleted, err
}

// DeleteByFilter removes every document the filter matches and returns how
// many. An empty filter matches everything.
//
// Each shard matches the filter on its metadata bitmaps (no document is
// read but for its ID) and deletes the matches in transactions of at most
// Config.DeleteBatch documents. Each batch is atomic with respect to the
// shard's other writes: it re-checks the match and deletes in one step, so
// a document changed since the first match so as not to match any more is
// not deleted, and documents added after the call began are left alone.
// The shards work in parallel; ctx is checked between batches, and an error
// returns the count deleted so far.
func (c *Collection) DeleteByFilter(ctx context.Context, f *filter.Filter) (int, error) {
	if f == nil {
		return 0, fmt.Errorf("%w: filter is required", ErrInvalidArgument)
	}
	if err := f.Validate(); err != nil {
		return 0, fmt.Errorf("%w: filter: %v", ErrInvalidArgument, err)
	}
	if err := c.acquire(); err != nil {
		return 0, err
	}
	c.release()
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.idx.cfg.SearchParallelism)
	for i, sh := range c.shards {
		g.Go(func() error {
			n, err := c.deleteByFilter(gctx, sh, f)
			total.Add(int64(n))
			if err != nil {
				return fmt.Errorf("shard %d: %w", i, err)
			}
			return nil
		})
	}
	err := g.Wait()
	return int(total.Load()), err
}

// deleteByFilter is DeleteByFilter on one shard.
func (c *Collection) deleteByFilter(ctx context.Context, sh *shard, f *filter.Filter) (int, error) {
	if err := c.acquire(); err != nil {
		return 0, err
	}
	cands, err := sh.allow(f)
	c.release()
	if err != nil {
		return 0, err
	}
	n := 0
	for !cands.IsEmpty() {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		batch := roaring.New()
		it := cands.Iterator()
		for i := 0; i < c.idx.cfg.DeleteBatch && it.HasNext(); i++ {
			batch.Add(it.Next())
		}
		cands.AndNot(batch)
		if err := c.acquire(); err != nil {
			return n, err
		}
		k, err := sh.deleteMatching(ctx, f, batch)
		c.release()
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Count returns the number of documents.
func (c *Collection) Count(ctx context.Context) (int, error) {
	if err := c.acquire(); err != nil {
		return 0, err
	}
	defer c.release()
	total := 0
	for _, sh := range c.shards {
		n, err := sh.store.Count()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// Stats are a collection's counts, summed over its shards.
type Stats struct {
	// Documents stored.
	Documents int
	// Vectors in the graphs: the documents that have a vector.
	Vectors int
	// Tombstones are the vectors deleted or replaced by an upsert that are
	// still in the graphs, awaiting compaction: searches walk through them
	// and they hold memory.
	Tombstones int
	// GraphBytes is the memory the graphs hold, reserved capacity included;
	// GraphUsedBytes the part their slots occupy (see hnsw.Stats).
	GraphBytes, GraphUsedBytes int64
	// Compacting is the number of shards with a compaction cycle in
	// progress.
	Compacting int
	// Compactions counts the compaction cycles finished since the
	// collection was opened, and Reclaimed the graph slots they freed.
	Compactions, Reclaimed uint64
	// ApplyFailures counts the committed write batches that failed to apply
	// to a graph or a text index since the collection was opened;
	// ApplyRepairs the repairs from the store that brought them back in
	// step (at once, or later in the background).
	ApplyFailures, ApplyRepairs uint64
	// Unrepaired is the number of stored documents that a graph or a text
	// index may not reflect yet: their repair failed and is being retried.
	Unrepaired int
}

// Stats returns the collection's counts, summed over its shards. It reads
// counters only: no lock that a search or a write waits for.
func (c *Collection) Stats(ctx context.Context) (Stats, error) {
	if err := c.acquire(); err != nil {
		return Stats{}, err
	}
	defer c.release()
	var st Stats
	for _, sh := range c.shards {
		if err := ctx.Err(); err != nil {
			return Stats{}, err
		}
		n, err := sh.store.Count()
		if err != nil {
			return Stats{}, err
		}
		st.Documents += n
		st.ApplyFailures += sh.applyFailures.Load()
		st.ApplyRepairs += sh.applyRepairs.Load()
		st.Unrepaired += int(sh.unrepaired.Load())
		if sh.graph == nil {
			continue
		}
		gs := sh.graph.Stats()
		st.Vectors += gs.Live
		st.Tombstones += gs.Deleted
		st.GraphBytes += gs.Bytes
		st.GraphUsedBytes += gs.UsedBytes
		if gs.Compacting {
			st.Compacting++
		}
		st.Compactions += gs.Compactions
		st.Reclaimed += gs.Reclaimed
	}
	return st, nil
}

// Compact compacts every shard's graph now, whatever Config's policy says:
// it finishes the cycle in progress and runs one over the tombstones left,
// in bounded steps, checking ctx between them. It returns the number of
// graph slots reclaimed. Searches and writes go on meanwhile.
func (c *Collection) Compact(ctx context.Context) (int, error) {
	total := 0
	for _, sh := range c.shards {
		for cycles := 0; cycles < 2; {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			if err := c.acquire(); err != nil {
				return total, err
			}
			n, done := sh.compactStep(c.idx.cfg.CompactStepSlots)
			c.release()
			total += n
			if done {
				cycles++
				if sh.graph == nil || sh.graph.Stats().Deleted == 0 {
					break
				}
			}
		}
	}
	return total, nil
}

// maintain does one round of the shards' background work: the repairs
// that failed before, and one compaction step on each shard whose policy
// asks for it. It reports whether a shard wants another step; the
// maintenance goroutine calls it round-robin over the collections until
// none does, so that a long compaction delays no other shard's. It returns
// early when stop is closed or the collection closes.
func (c *Collection) maintain(stop <-chan struct{}) (more bool) {
	for _, sh := range c.shards {
		select {
		case <-stop:
			return false
		default:
		}
		if err := c.acquire(); err != nil {
			return false
		}
		if sh.unrepaired.Load() > 0 {
			sh.repairDirty()
		}
		if sh.needsCompaction() {
			_, done := sh.compactStep(c.idx.cfg.CompactStepSlots)
			more = more || !done || sh.needsCompaction()
		}
		c.release()
	}
	return more
}

// MaxScanLimit bounds one page of Scan.
const MaxScanLimit = 10000

// Scan returns up to limit documents in ID order after the cursor (""
// starts at the beginning) and the cursor of the next page ("" at the end).
func (c *Collection) Scan(ctx context.Context, cursor string, limit int, withVectors bool) ([]Document, string, error) {
	if limit < 1 || limit > MaxScanLimit {
		return nil, "", fmt.Errorf("%w: limit %d out of range [1, %d]", ErrInvalidArgument, limit, MaxScanLimit)
	}
	if err := c.acquire(); err != nil {
		return nil, "", err
	}
	defer c.release()
	var all []store.Doc
	for _, sh := range c.shards {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		docs, _, err := sh.store.Scan(cursor, limit)
		if err != nil {
			return nil, "", err
		}
		all = append(all, docs...)
	}
	slices.SortFunc(all, func(a, b store.Doc) int { return strings.Compare(a.ID, b.ID) })
	next := ""
	if len(all) > limit {
		all = all[:limit]
		next = all[limit-1].ID
	} else if len(all) == limit {
		next = all[limit-1].ID // there may be more; the next page says
	}
	out := make([]Document, len(all))
	for i, d := range all {
		out[i] = toDocument(d, withVectors)
	}
	return out, next, nil
}

// close stops the collection: waits for in-flight operations, snapshots
// (unless it is being dropped) and closes every shard.
func (c *Collection) close(snapshot bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, sh := range c.shards {
		if snapshot {
			errs = append(errs, sh.snapshot())
		}
		errs = append(errs, sh.closeFiles())
	}
	return errors.Join(errs...)
}

// snapshot snapshots every shard (the background loop calls it).
func (c *Collection) snapshot() error {
	if err := c.acquire(); err != nil {
		return nil // closed or dropped: nothing to do
	}
	defer c.release()
	var errs []error
	for _, sh := range c.shards {
		errs = append(errs, sh.snapshot())
	}
	return errors.Join(errs...)
}

func toDocument(d store.Doc, withVector bool) Document {
	out := Document{ID: d.ID, Text: d.Text, Source: d.Source, Chunk: int(d.Chunk)}
	if len(d.Metadata) > 0 {
		_ = json.Unmarshal(d.Metadata, &out.Metadata) // validated on the way in
	}
	if withVector {
		out.Vector = d.Vector
	}
	return out
}
