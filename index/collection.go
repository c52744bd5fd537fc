package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

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
}

// Config returns the collection's configuration.
func (c *Collection) Config() CollectionConfig { return c.cfg }

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
	var ids []string
	for _, sh := range c.shards {
		b, err := sh.allow(f)
		if err != nil {
			c.release()
			return 0, err
		}
		nums := b.ToArray()
		docs, err := sh.getByNums(nums, false)
		if err != nil {
			c.release()
			return 0, err
		}
		for _, d := range docs {
			if d.ID != "" {
				ids = append(ids, d.ID)
			}
		}
	}
	c.release()
	return c.Delete(ctx, ids)
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

// Stats are a collection's counts.
type Stats struct {
	// Documents stored.
	Documents int
	// Vectors in the graphs: the documents that have a vector.
	Vectors int
}

// Stats returns the collection's counts, summed over its shards.
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
		if sh.graph != nil {
			st.Vectors += sh.graph.Len()
		}
	}
	return st, nil
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
