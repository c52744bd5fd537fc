package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/ragd/ragd/hnsw"
	"github.com/ragd/ragd/index/filter"
	"github.com/ragd/ragd/index/store"
	"github.com/ragd/ragd/index/text"
)

// shard binds a store (the source of truth) and the indexes derived from
// it over the same documents: the HNSW graph (vectors), the text index
// (BM25) and the metadata index (filters), plus the bitmap of live document
// numbers. A write commits to the store first and is then applied to the
// derived indexes in change-log order, so none is ever ahead of the store.
//
// A shard is safe for concurrent use; searches take no shard-wide lock.
// Lock order: wmu, then applyMu, then pendMu or liveMu; snapMu and
// compactMu are taken alone.
type shard struct {
	id    int
	dir   string
	cfg   CollectionConfig
	icfg  Config
	log   *slog.Logger
	store *store.Store
	graph *hnsw.Graph // nil for a text-only collection
	text  *text.Index
	meta  *filter.Index
	// wake asks the index's maintenance goroutine to look at the shard
	// (tombstones were made, a repair is pending); it never blocks.
	wake func()

	// wmu: every write holds it shared from its commit until it is applied;
	// a DeleteByFilter batch holds it exclusively, so that no other write
	// of the shard falls between its match and its delete.
	wmu sync.RWMutex

	liveMu sync.RWMutex
	live   *roaring.Bitmap // numbers of live documents; guarded by liveMu

	// applyMu serialises the application of committed changes to the
	// derived indexes, in sequence order: writers whose changes commit out
	// of turn park them in pending until the earlier ones are applied.
	applyMu sync.Mutex
	applied atomic.Uint64       // last sequence applied; written under applyMu
	waiters *sync.Cond          // on applyMu; broadcast when applied moves
	pendMu  sync.Mutex          // guards pending; taken after applyMu if both
	pending map[uint64]*applied // first sequence → batch

	// dirty holds the documents whose committed changes the graph or the
	// text index may lack: applying them failed, and so did the repair
	// from the store; the maintenance goroutine retries. Guarded by
	// applyMu. While it is not empty the text index records no sequence
	// past textHold, and no graph snapshot is written, so a restart
	// replays them.
	dirty      map[uint32]struct{}
	textHold   uint64       // guarded by applyMu
	unrepaired atomic.Int64 // len(dirty), for readers without applyMu
	// applyFailures counts the batches whose application to the derived
	// indexes failed; applyRepairs those brought in step from the store.
	applyFailures, applyRepairs atomic.Uint64

	snapMu   sync.Mutex // one snapshot at a time
	graphSeq uint64     // sequence in the graph's last snapshot; guarded by snapMu

	// compactMu serialises the compaction steps of the maintenance
	// goroutine and of Collection.Compact; guards compactFrom.
	compactMu   sync.Mutex
	compactFrom time.Time // start of the cycle in progress
}

// applied is one committed write on its way to the derived indexes.
type applied struct {
	changes []store.Change
	docs    []prepared // per change: the document of a put

	// parts are the writers' batches merged into this one (see takeRun);
	// err is what applying the batch gave, set before applied moves past it.
	parts []*applied
	err   error
}

func (a *applied) lastSeq() uint64 { return a.changes[len(a.changes)-1].Seq }

const (
	graphFile = "graph.hnsw"
	storeFile = "store.db"
	textDir   = "text"
)

// openShard opens (or creates) a shard and brings its derived indexes up to
// the store: from their snapshots plus the change log when it can, by a
// rebuild from the store when a snapshot is missing, damaged or too old.
func openShard(dir string, id int, cfg CollectionConfig, icfg Config, wake func()) (*shard, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create shard directory: %w", err)
	}
	s := &shard{
		id:      id,
		dir:     dir,
		cfg:     cfg,
		icfg:    icfg,
		log:     icfg.Logger.With("collection", cfg.Name, "shard", id),
		wake:    wake,
		meta:    filter.New(),
		live:    roaring.New(),
		pending: make(map[uint64]*applied),
		dirty:   make(map[uint32]struct{}),
	}
	s.waiters = sync.NewCond(&s.applyMu)
	start := time.Now()
	st, err := store.Open(filepath.Join(dir, storeFile), store.Config{NoSync: icfg.NoSync, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.store = st
	if err := s.recover(); err != nil {
		return nil, errors.Join(err, s.closeFiles())
	}
	s.log.Info("shard open", "docs", s.live.GetCardinality(), "seq", s.applied.Load(), "dur", time.Since(start))
	return s, nil
}

// allow evaluates a filter to the bitmap of live documents it admits.
func (s *shard) allow(f *filter.Filter) (*roaring.Bitmap, error) {
	s.liveMu.RLock()
	defer s.liveMu.RUnlock()
	b, err := s.meta.Eval(f, s.live)
	if err != nil {
		return nil, fmt.Errorf("%w: filter: %v", ErrInvalidArgument, err)
	}
	return b, nil
}

// vectorLeg returns the shard's depth nearest documents.
func (s *shard) vectorLeg(q []float32, depth, ef int, allow *roaring.Bitmap) ([]candidate, error) {
	if s.graph == nil {
		return nil, nil
	}
	var a hnsw.AllowList
	if allow != nil {
		a = allow
	}
	res, err := s.graph.Search(q, depth, ef, a)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	out := make([]candidate, len(res))
	for i, r := range res {
		out[i] = candidate{num: r.Key}
		out[i].score, out[i].raw = s.vectorScore(r.Dist)
	}
	return out, nil
}

// vectorScore turns a graph distance into a score (higher is better) and
// the raw figure a hit shows: cosine similarity, dot product, or Euclidean
// distance (with minus that distance as the score).
func (s *shard) vectorScore(dist float32) (score, raw float64) {
	d := float64(dist)
	switch s.cfg.Metric {
	case Cosine:
		return 1 - d, 1 - d
	case Dot:
		return -d, -d
	default:
		e := math.Sqrt(max(d, 0))
		return -e, e
	}
}

// textLeg returns the shard's depth best documents by BM25 under the
// collection-wide statistics.
func (s *shard) textLeg(terms []string, global text.Stats, depth int, allow *roaring.Bitmap) ([]candidate, error) {
	var a text.Allow
	if allow != nil {
		a = allow
	}
	hits, err := s.text.Search(terms, global, depth, a)
	if err != nil {
		return nil, err
	}
	out := make([]candidate, len(hits))
	for i, h := range hits {
		out[i] = candidate{num: h.Num, score: h.Score, raw: h.Score}
	}
	return out, nil
}

// getByNums loads documents by number in one read transaction. A document
// deleted since the search found it comes back with an empty ID.
func (s *shard) getByNums(nums []uint32, withVectors bool) ([]Document, error) {
	out := make([]Document, len(nums))
	err := s.store.View(func(r *store.Reader) error {
		for i, n := range nums {
			d, ok, err := r.GetByNum(n)
			if err != nil {
				return err
			}
			if ok {
				out[i] = toDocument(d, withVectors)
			}
		}
		return nil
	})
	return out, err
}

// snapshot writes the graph if it changed since its last snapshot, then
// truncates the change log below what both derived indexes hold.
func (s *shard) snapshot() error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	seq := s.applied.Load()
	if n := s.unrepaired.Load(); n > 0 {
		// The graph may lack committed changes: a snapshot would make a
		// restart skip them, and the log must keep them.
		s.log.Warn("snapshot deferred: documents await repair", "docs", n)
		return nil
	}
	if s.graph != nil && seq != s.graphSeq {
		start := time.Now()
		var app [8]byte
		binary.LittleEndian.PutUint64(app[:], seq)
		if err := s.graph.Save(filepath.Join(s.dir, graphFile), app[:]); err != nil {
			return fmt.Errorf("snapshot graph: %w", err)
		}
		s.graphSeq = seq
		s.log.Info("graph snapshot written", "seq", seq, "vectors", s.graph.Len(), "dur", time.Since(start))
	}
	// The text index persists in the background: wait until what it holds
	// is on disk before the log forgets it.
	upTo := s.text.Seq()
	if err := s.text.Flush(); err != nil {
		return fmt.Errorf("flush text index: %w", err)
	}
	if s.graph != nil {
		upTo = min(upTo, s.graphSeq)
	}
	floor, err := s.store.LogFloor()
	if err != nil {
		return err
	}
	if upTo > floor {
		if err := s.store.TruncateLog(upTo); err != nil {
			return fmt.Errorf("truncate change log: %w", err)
		}
	}
	return nil
}

func (s *shard) closeFiles() error {
	var errs []error
	if s.text != nil {
		errs = append(errs, s.text.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// needsCompaction reports whether the shard's graph has a compaction cycle
// in progress or enough tombstones for the policy to start one.
func (s *shard) needsCompaction() bool {
	if s.graph == nil {
		return false
	}
	st := s.graph.Stats()
	if st.Compacting {
		return true
	}
	ratio := s.icfg.CompactTombstoneRatio
	return ratio >= 0 && st.Deleted >= s.icfg.CompactMinTombstones &&
		float64(st.Deleted) >= ratio*float64(st.Live+st.Deleted)
}

// compactStep does one bounded step of the graph's compaction (of at most
// slots slots; 0 means no bound), starting a cycle if none is in progress
// and there are tombstones, and reports whether the cycle is over.
func (s *shard) compactStep(slots int) (reclaimed int, done bool) {
	if s.graph == nil {
		return 0, true
	}
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	before := s.graph.Stats()
	if !before.Compacting {
		s.compactFrom = time.Now()
	}
	reclaimed, done = s.graph.CompactStep(slots)
	if done && (before.Compacting || reclaimed > 0) {
		st := s.graph.Stats()
		s.log.Info("graph compacted", "reclaimed", reclaimed, "vectors", st.Live,
			"tombstones", st.Deleted, "dur", time.Since(s.compactFrom))
	}
	return reclaimed, done
}

// deleteMatching deletes, in one transaction, the documents of batch that
// match f, and returns how many it deleted. It holds wmu exclusively: the
// writes before it are applied, so the metadata index matches the store,
// and none can commit between the match and the delete.
func (s *shard) deleteMatching(ctx context.Context, f *filter.Filter, batch *roaring.Bitmap) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.liveMu.RLock()
	u := roaring.And(batch, s.live)
	matched, err := s.meta.Eval(f, u)
	s.liveMu.RUnlock()
	if err != nil {
		return 0, fmt.Errorf("%w: filter: %v", ErrInvalidArgument, err)
	}
	if matched.IsEmpty() {
		return 0, nil
	}
	ops := make([]store.Op, 0, matched.GetCardinality())
	err = s.store.View(func(r *store.Reader) error {
		for it := matched.Iterator(); it.HasNext(); {
			id, ok, err := r.ID(it.Next())
			if err != nil {
				return err
			}
			if ok {
				ops = append(ops, store.Op{Kind: store.OpDelete, ID: id})
			}
		}
		return nil
	})
	if err != nil || len(ops) == 0 {
		return 0, err
	}
	changes, err := s.writeLocked(ctx, ops, make([]prepared, len(ops)))
	n := 0
	for _, c := range changes {
		if c.Existed {
			n++
		}
	}
	return n, err
}
