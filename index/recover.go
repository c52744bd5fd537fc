package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/ragd/ragd/hnsw"
	"github.com/ragd/ragd/index/store"
	"github.com/ragd/ragd/index/text"
	"golang.org/x/sync/errgroup"
)

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
