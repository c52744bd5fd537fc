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
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/ragd/ragd/hnsw"
	"github.com/ragd/ragd/index/filter"
	"github.com/ragd/ragd/index/store"
	"github.com/ragd/ragd/index/text"
	"golang.org/x/sync/errgroup"
)

// shard binds a store (the source of truth) and the indexes derived from
// it over the same documents: the HNSW graph (vectors), the text index
// (BM25) and the metadata index (filters), plus the bitmap of live document
// numbers. A write commits to the store first and is then applied to the
// derived indexes in change-log order, so none is ever ahead of the store.
//
// A shard is safe for concurrent use; searches take no shard-wide lock.
type shard struct {
	id    int
	dir   string
	cfg   CollectionConfig
	log   *slog.Logger
	store *store.Store
	graph *hnsw.Graph // nil for a text-only collection
	text  *text.Index
	meta  *filter.Index

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

	snapMu   sync.Mutex // one snapshot at a time
	graphSeq uint64     // sequence in the graph's last snapshot; guarded by snapMu
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
func openShard(dir string, id int, cfg CollectionConfig, icfg Config) (*shard, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create shard directory: %w", err)
	}
	s := &shard{
		id:      id,
		dir:     dir,
		cfg:     cfg,
		log:     icfg.Logger.With("collection", cfg.Name, "shard", id),
		meta:    filter.New(),
		live:    roaring.New(),
		pending: make(map[uint64]*applied),
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

// recover loads the metadata index from the store and brings the graph and
// the text index up to the store's last sequence.
func (s *shard) recover() error {
	last := s.store.LastSeq()
	floor, err := s.store.LogFloor()
	if err != nil {
		return err
	}
	// The three are independent: the metadata index and the live bitmap
	// from a scan of the store, the graph and the text index from their
	// snapshots (or rebuilt).
	var g errgroup.Group
	g.Go(func() error {
		err := s.store.View(func(r *store.Reader) error {
			return r.ForEachMetadata(func(num uint32, metadata []byte) error {
				s.live.Add(num)
				if metadata == nil {
					return nil
				}
				return s.meta.Add(num, metadata)
			})
		})
		if err != nil {
			return fmt.Errorf("load metadata: %w", err)
		}
		return nil
	})
	if s.cfg.Dimension > 0 {
		g.Go(func() error { return s.recoverGraph(last, floor) })
	}
	g.Go(func() error { return s.recoverText(last, floor) })
	if err := g.Wait(); err != nil {
		return err
	}
	s.applied.Store(last)
	return nil
}

func (s *shard) recoverGraph(last, floor uint64) error {
	path := filepath.Join(s.dir, graphFile)
	g, app, err := hnsw.Load(path)
	var seq uint64
	switch {
	case errors.Is(err, os.ErrNotExist):
		if last > 0 {
			s.log.Info("graph snapshot missing: rebuilding from the store", "path", path)
		}
		g = nil
	case err != nil:
		s.log.Warn("graph snapshot unusable: rebuilding from the store", "path", path, "err", err)
		g = nil
	case len(app) != 8:
		s.log.Warn("graph snapshot has no sequence: rebuilding from the store", "path", path)
		g = nil
	default:
		seq = binary.LittleEndian.Uint64(app)
		if c := g.Config(); c.Dim != s.cfg.Dimension || c.M != s.cfg.HNSW.M {
			s.log.Warn("graph snapshot does not match the collection: rebuilding", "path", path)
			g = nil
		} else if seq < floor || seq > last {
			s.log.Warn("graph snapshot is out of step with the change log: rebuilding", "path", path,
				"snapshot_seq", seq, "log_from", floor, "store_seq", last)
			g = nil
		}
	}
	if g == nil {
		return s.rebuildGraph(last)
	}
	s.graph = g
	s.graphSeq = seq
	// Replay: the documents touched after the snapshot take their current
	// state from the store (the log records which, the store holds what).
	touched, err := s.touchedSince(seq)
	if err != nil {
		return err
	}
	var adds []graphAdd
	for num := range touched {
		d, ok, err := s.store.GetByNum(num)
		if err != nil {
			return fmt.Errorf("replay graph: %w", err)
		}
		if err := s.graph.Delete(num); err != nil && !errors.Is(err, hnsw.ErrNotFound) {
			return fmt.Errorf("replay graph: %w", err)
		}
		if ok && d.Vector != nil {
			adds = append(adds, graphAdd{num, d.Vector})
		}
	}
	if err := s.addVectors(adds); err != nil {
		return fmt.Errorf("replay graph: %w", err)
	}
	if len(touched) > 0 {
		s.log.Info("graph replayed the change log", "from_seq", seq, "to_seq", last, "docs", len(touched))
	}
	return nil
}

// touchedSince returns the document numbers the change log names after seq.
func (s *shard) touchedSince(seq uint64) (map[uint32]struct{}, error) {
	touched := make(map[uint32]struct{})
	err := s.store.Changes(seq, func(c store.Change) error {
		touched[c.Num] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	return touched, nil
}

func (s *shard) rebuildGraph(last uint64) error {
	start := time.Now()
	n, err := s.store.Count()
	if err != nil {
		return err
	}
	g, err := hnsw.New(s.cfg.graphConfig(max(n, 1024)))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	// Insert on every core: a producer reads the store, workers add.
	type job struct {
		num uint32
		vec []float32
	}
	jobs := make(chan job, 1024)
	var wg sync.WaitGroup
	var addErr error
	var once sync.Once
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := g.Add(j.num, j.vec); err != nil {
					once.Do(func() { addErr = err })
				}
			}
		}()
	}
	err = s.store.ForEach(func(d store.Doc) error {
		if d.Vector != nil {
			jobs <- job{d.Num, d.Vector}
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	if err = errors.Join(err, addErr); err != nil {
		return fmt.Errorf("rebuild graph: %w", err)
	}
	s.graph = g
	s.graphSeq = 0 // nothing on disk yet: the next snapshot writes one
	if last > 0 {
		s.log.Info("graph rebuilt from the store", "vectors", g.Len(), "dur", time.Since(start))
	}
	return nil
}

func (s *shard) recoverText(last, floor uint64) error {
	dir := filepath.Join(s.dir, textDir)
	ix, err := text.Open(dir, s.cfg.textConfig())
	if err != nil && !errors.Is(err, text.ErrCorrupt) {
		return fmt.Errorf("open text index: %w", err) // locked, unreadable: not ours to delete
	}
	if err != nil {
		s.log.Warn("text index unusable: rebuilding from the store", "path", dir, "err", err)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove text index: %w", err)
		}
		if ix, err = text.Open(dir, s.cfg.textConfig()); err != nil {
			return fmt.Errorf("create text index: %w", err)
		}
		return s.rebuildText(ix, last)
	}
	seq := ix.Seq()
	if seq < floor || seq > last {
		s.log.Warn("text index is out of step with the change log: rebuilding", "path", dir,
			"index_seq", seq, "log_from", floor, "store_seq", last)
		if err := errors.Join(ix.Close(), os.RemoveAll(dir)); err != nil {
			return fmt.Errorf("remove text index: %w", err)
		}
		if ix, err = text.Open(dir, s.cfg.textConfig()); err != nil {
			return fmt.Errorf("create text index: %w", err)
		}
		return s.rebuildText(ix, last)
	}
	s.text = ix
	if seq == last {
		return nil
	}
	touched, err := s.touchedSince(seq)
	if err != nil {
		return err
	}
	var puts []text.Doc
	var dels []uint32
	for num := range touched {
		d, ok, err := s.store.GetByNum(num)
		if err != nil {
			return fmt.Errorf("replay text: %w", err)
		}
		if ok {
			puts = append(puts, text.Doc{Num: num, Text: d.Text})
		} else {
			dels = append(dels, num)
		}
	}
	if err := s.text.Apply(last, puts, dels); err != nil {
		return fmt.Errorf("replay text: %w", err)
	}
	s.log.Info("text index replayed the change log", "from_seq", seq, "to_seq", last, "docs", len(touched))
	return nil
}

func (s *shard) rebuildText(ix *text.Index, last uint64) error {
	start := time.Now()
	s.text = ix
	const batch = 1000
	var puts []text.Doc
	flush := func() error {
		if len(puts) == 0 {
			return nil
		}
		err := ix.Apply(last, puts, nil)
		puts = puts[:0]
		return err
	}
	err := s.store.ForEach(func(d store.Doc) error {
		puts = append(puts, text.Doc{Num: d.Num, Text: d.Text})
		if len(puts) == batch {
			return flush()
		}
		return nil
	})
	if err = errors.Join(err, flush()); err != nil {
		return fmt.Errorf("rebuild text index: %w", err)
	}
	if last > 0 {
		// Record the sequence even when the store holds no document.
		if err := ix.Apply(last, nil, nil); err != nil {
			return fmt.Errorf("rebuild text index: %w", err)
		}
	}
	s.log.Info("text index rebuilt from the store", "dur", time.Since(start))
	return nil
}

// write commits ops to the store, then applies them (and any batch that
// committed before them) to the derived indexes, and returns once they are
// searchable. docs[i] is the prepared document of a put op.
func (s *shard) write(ctx context.Context, ops []store.Op, docs []prepared) ([]store.Change, error) {
	changes, err := s.store.Apply(ctx, ops)
	if err != nil {
		return nil, err
	}
	// Deleting absent documents commits nothing and has no sequence.
	b := &applied{}
	for i, c := range changes {
		if c.Seq == 0 {
			continue
		}
		b.changes = append(b.changes, c)
		b.docs = append(b.docs, docs[i])
	}
	if len(b.changes) == 0 {
		return changes, nil
	}
	s.pendMu.Lock()
	s.pending[b.changes[0].Seq] = b
	s.pendMu.Unlock()

	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	for s.applied.Load() < b.lastSeq() {
		run := s.takeRun()
		if run == nil {
			// An earlier batch committed but its writer has not handed it
			// over yet; that writer applies it (and ours, if it can).
			s.waiters.Wait()
			continue
		}
		err := s.apply(run)
		if err != nil {
			// The store has the writes; the derived indexes missed them.
			// Say so loudly; the next open rebuilds them from the store.
			s.log.Error("applying committed changes to the derived indexes failed", "err", err)
			err = fmt.Errorf("index committed changes: %w", err)
		}
		for _, p := range run.parts {
			p.err = err
		}
		s.applied.Store(run.lastSeq())
		s.waiters.Broadcast()
	}
	return changes, b.err
}

// takeRun removes from pending the batches that follow the last applied
// one without a gap and merges them into one, so that concurrent small
// writes share one bleve batch and one parallel graph insert. It stops
// before a batch that touches a document already in the run, which must
// be applied after it. It returns nil when the next batch is not pending.
// Called with applyMu held.
func (s *shard) takeRun() *applied {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	next := s.applied.Load() + 1
	first, ok := s.pending[next]
	if !ok {
		return nil
	}
	delete(s.pending, next)
	run := &applied{changes: first.changes, docs: first.docs, parts: []*applied{first}}
	var nums map[uint32]struct{}
	for {
		p, ok := s.pending[run.lastSeq()+1]
		if !ok {
			break
		}
		if nums == nil {
			nums = make(map[uint32]struct{}, len(run.changes)+len(p.changes))
			for _, c := range run.changes {
				nums[c.Num] = struct{}{}
			}
		}
		if slices.ContainsFunc(p.changes, func(c store.Change) bool { _, dup := nums[c.Num]; return dup }) {
			break
		}
		for _, c := range p.changes {
			nums[c.Num] = struct{}{}
		}
		delete(s.pending, p.changes[0].Seq)
		if len(run.parts) == 1 {
			// Copy before appending: the first batch's slices are its writer's.
			run.changes = slices.Clone(run.changes)
			run.docs = slices.Clone(run.docs)
		}
		run.changes = append(run.changes, p.changes...)
		run.docs = append(run.docs, p.docs...)
		run.parts = append(run.parts, p)
	}
	return run
}

// apply brings one committed batch into the graph, the text index, the
// metadata index and the live bitmap. Called with applyMu held.
func (s *shard) apply(b *applied) error {
	var puts []text.Doc
	var dels []uint32
	var adds []graphAdd
	var errs []error
	for i, c := range b.changes {
		d := b.docs[i]
		if s.graph != nil && (c.Existed || c.Kind == store.OpDelete) {
			if err := s.graph.Delete(c.Num); err != nil && !errors.Is(err, hnsw.ErrNotFound) {
				errs = append(errs, err)
			}
		}
		if c.Existed && c.PrevMetadata != nil {
			if err := s.meta.Remove(c.Num, c.PrevMetadata); err != nil {
				errs = append(errs, err)
			}
		}
		switch c.Kind {
		case store.OpPut:
			if s.graph != nil && d.vector != nil {
				adds = append(adds, graphAdd{c.Num, d.vector})
			}
			if d.metadata != nil {
				if err := s.meta.Add(c.Num, d.metadata); err != nil {
					errs = append(errs, err)
				}
			}
			puts = append(puts, text.Doc{Num: c.Num, Text: d.doc.Text})
		case store.OpDelete:
			dels = append(dels, c.Num)
		}
	}
	// The graph and the text index are independent: insert vectors on
	// every core while bleve analyses the texts. Keys within one batch are
	// distinct, so the order of the inserts does not matter.
	addErr := make(chan error, 1)
	go func() { addErr <- s.addVectors(adds) }()
	if err := s.text.Apply(b.lastSeq(), puts, dels); err != nil {
		errs = append(errs, err)
	}
	if err := <-addErr; err != nil {
		errs = append(errs, err)
	}
	s.liveMu.Lock()
	for _, c := range b.changes {
		if c.Kind == store.OpPut {
			s.live.Add(c.Num)
		} else {
			s.live.Remove(c.Num)
		}
	}
	s.liveMu.Unlock()
	return errors.Join(errs...)
}

type graphAdd struct {
	num uint32
	vec []float32
}

// addVectors inserts vectors into the graph, in parallel when there are
// enough of them to pay for the goroutines.
func (s *shard) addVectors(adds []graphAdd) error {
	const perWorker = 16
	workers := min(runtime.GOMAXPROCS(0), (len(adds)+perWorker-1)/perWorker)
	if workers <= 1 {
		var errs []error
		for _, a := range adds {
			errs = append(errs, s.graph.Add(a.num, a.vec))
		}
		return errors.Join(errs...)
	}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(adds) {
					return
				}
				if err := s.graph.Add(adds[i].num, adds[i].vec); err != nil {
					errs[w] = errors.Join(errs[w], err)
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
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
