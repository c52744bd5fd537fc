package index

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ragd/ragd/hnsw"
	"github.com/ragd/ragd/index/store"
	"github.com/ragd/ragd/index/text"
)

// write commits ops to the store, then applies them (and any batch that
// committed before them) to the derived indexes, and returns once they are
// searchable. docs[i] is the prepared document of a put op.
func (s *shard) write(ctx context.Context, ops []store.Op, docs []prepared) ([]store.Change, error) {
	s.wmu.RLock()
	defer s.wmu.RUnlock()
	return s.writeLocked(ctx, ops, docs)
}

// writeLocked is write for a caller holding wmu, shared or exclusively.
//
// A batch that commits but fails to apply to the graph or the text index
// (a full graph, a bleve batch that fails to write) is repaired at once
// from the store: the documents it touched take their current stored state
// in both, and the write succeeds. Only if that fails too does the write
// return an error, for documents that are stored; the maintenance goroutine
// then keeps retrying, and until it succeeds no snapshot or text sequence
// moves past them, so a restart replays them as well.
func (s *shard) writeLocked(ctx context.Context, ops []store.Op, docs []prepared) ([]store.Change, error) {
	changes, err := s.store.Apply(ctx, ops)
	if err != nil {
		return nil, err
	}
	// Deleting absent documents commits nothing and has no sequence.
	b := &applied{}
	tombstones := false
	for i, c := range changes {
		if c.Seq == 0 {
			continue
		}
		b.changes = append(b.changes, c)
		b.docs = append(b.docs, docs[i])
		tombstones = tombstones || c.Existed
	}
	if len(b.changes) == 0 {
		return changes, nil
	}
	s.pendMu.Lock()
	s.pending[b.changes[0].Seq] = b
	s.pendMu.Unlock()

	s.applyMu.Lock()
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
			err = s.repairRun(run, err)
		}
		for _, p := range run.parts {
			p.err = err
		}
		s.applied.Store(run.lastSeq())
		s.waiters.Broadcast()
	}
	s.applyMu.Unlock()
	if tombstones && s.graph != nil {
		s.wake() // the graph may want compacting
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

// fault is the test seam of Config.applyFault.
func (s *shard) fault(part string) error {
	if s.icfg.applyFault == nil {
		return nil
	}
	return s.icfg.applyFault(s.id, part)
}

// textSeq is the sequence the text index records for a batch ending at
// seq: seq itself, or textHold while documents await repair. Called with
// applyMu held.
func (s *shard) textSeq(seq uint64) uint64 {
	if len(s.dirty) > 0 {
		return s.textHold
	}
	return seq
}

// apply brings one committed batch into the graph, the text index, the
// metadata index and the live bitmap. Every step is idempotent (a document
// the graph holds is replaced, the text index upserts), so that a repair
// may have run ahead of it. Called with applyMu held.
func (s *shard) apply(b *applied) error {
	var puts []text.Doc
	var dels []uint32
	var adds []graphAdd
	var errs []error
	for i, c := range b.changes {
		d := b.docs[i]
		if s.graph != nil && s.graph.Contains(c.Num) {
			if err := s.graph.Delete(c.Num); err != nil {
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
	go func() {
		if err := s.fault("graph"); err != nil {
			addErr <- err
			return
		}
		addErr <- s.addVectors(adds)
	}()
	if err := s.fault("text"); err != nil {
		errs = append(errs, err)
	} else if err := s.text.Apply(s.textSeq(b.lastSeq()), puts, dels); err != nil {
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

// repairRun handles a batch that failed to apply (with err): it repairs
// the batch's documents from the store and returns nil, or, if that fails
// too, records them for the maintenance goroutine and returns the error
// for the writers. Called with applyMu held.
func (s *shard) repairRun(run *applied, err error) error {
	s.applyFailures.Add(1)
	nums := make([]uint32, len(run.changes))
	for i, c := range run.changes {
		nums[i] = c.Num
	}
	rerr := s.repair(nums, run.lastSeq())
	if rerr == nil {
		s.applyRepairs.Add(1)
		s.log.Warn("applying committed changes failed; repaired from the store",
			"seq", run.lastSeq(), "docs", len(nums), "err", err)
		return nil
	}
	if len(s.dirty) == 0 {
		// The text index may record up to the sequence before the batch
		// (or what it already holds, if its part of the batch succeeded).
		s.textHold = max(s.text.Seq(), run.changes[0].Seq-1)
	}
	for _, n := range nums {
		s.dirty[n] = struct{}{}
	}
	s.unrepaired.Store(int64(len(s.dirty)))
	err = errors.Join(err, rerr)
	s.log.Error("committed changes are not in the derived indexes; retrying in the background",
		"seq", run.lastSeq(), "docs", len(nums), "err", err)
	s.wake()
	return fmt.Errorf("index committed changes: %w", err)
}

// repairDirty retries the repair of the documents that await one, and
// reports whether none is left.
func (s *shard) repairDirty() bool {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if len(s.dirty) == 0 {
		return true
	}
	nums := slices.Collect(maps.Keys(s.dirty))
	seq := s.applied.Load()
	if err := s.repair(nums, seq); err != nil {
		s.log.Warn("repair from the store failed; will retry", "docs", len(nums), "err", err)
		return false
	}
	clear(s.dirty)
	s.unrepaired.Store(0)
	s.textHold = 0
	s.applyRepairs.Add(1)
	s.log.Info("documents repaired from the store", "docs", len(nums), "seq", seq)
	return true
}

// repair gives the documents nums their current stored state in the
// graph, the text index and the live bitmap, as a replay of the change log
// does; seq is the last sequence applied. The metadata index is not
// repaired here (its updates were validated before the commit and do not
// fail short of a bug); the next open rebuilds it. Called with applyMu held.
func (s *shard) repair(nums []uint32, seq uint64) error {
	docs := make([]store.Doc, 0, len(nums))
	present := make([]bool, len(nums))
	err := s.store.View(func(r *store.Reader) error {
		for i, n := range nums {
			d, ok, err := r.GetByNum(n)
			if err != nil {
				return err
			}
			present[i] = ok
			docs = append(docs, d)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("repair: read store: %w", err)
	}
	var errs []error
	if s.graph != nil {
		if err := s.fault("repair graph"); err != nil {
			errs = append(errs, err)
		} else {
			var adds []graphAdd
			for i, n := range nums {
				if s.graph.Contains(n) {
					if err := s.graph.Delete(n); err != nil && !errors.Is(err, hnsw.ErrNotFound) {
						errs = append(errs, err)
					}
				}
				if present[i] && docs[i].Vector != nil {
					adds = append(adds, graphAdd{n, docs[i].Vector})
				}
			}
			errs = append(errs, s.addVectors(adds))
		}
	}
	var puts []text.Doc
	var dels []uint32
	for i, n := range nums {
		if present[i] {
			puts = append(puts, text.Doc{Num: n, Text: docs[i].Text})
		} else {
			dels = append(dels, n)
		}
	}
	if err := s.fault("repair text"); err != nil {
		errs = append(errs, err)
	} else {
		tseq := seq
		if len(s.dirty) > 0 {
			tseq = s.textHold
		}
		errs = append(errs, s.text.Apply(max(tseq, s.text.Seq()), puts, dels))
	}
	s.liveMu.Lock()
	for i, n := range nums {
		if present[i] {
			s.live.Add(n)
		} else {
			s.live.Remove(n)
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
