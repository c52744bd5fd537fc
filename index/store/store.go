package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Doc is one document of a shard.
type Doc struct {
	// ID is the caller's identifier: 1 to MaxIDLen bytes of UTF-8.
	ID string
	// Num is the shard-local document number, assigned by the store: a new
	// ID gets the next number, an upsert keeps the number of the document it
	// replaces, and a number is never given to another document, even after
	// a delete. Ignored in an Op; set on every Doc read back.
	Num uint32
	// Text is the document's text.
	Text string
	// Metadata is a JSON object, opaque to the store. An empty value is read
	// back as nil.
	Metadata []byte
	// Vector is the embedding; nil when the document has none. An empty
	// vector is read back as nil.
	Vector []float32
	// Source is where the document came from (a path or URL), for citations.
	Source string
	// Chunk is the chunk number within Source.
	Chunk int32
}

// Op is one write of an Apply call.
type Op struct {
	// Kind is OpPut or OpDelete.
	Kind OpKind
	// Doc is the document to put (Doc.Num is ignored). Unused by OpDelete.
	Doc Doc
	// ID is the document to delete. Unused by OpPut, which uses Doc.ID.
	ID string
}

// Change is the outcome of one op, and one record of the change log.
type Change struct {
	// Seq is the op's sequence number: consecutive over the ops of an Apply
	// call, increasing over calls, never reused. 0 for a delete of an ID that
	// was not present, which changes nothing and is not logged.
	Seq uint64
	// Kind is the op's kind.
	Kind OpKind
	// ID is the document's ID.
	ID string
	// Num is the document's number; 0 for a no-op delete.
	Num uint32
	// Existed reports that a put replaced a document or that a delete
	// removed one.
	Existed bool
	// PrevMetadata is the metadata of the document a put replaced or a
	// delete removed (nil if it had none), so that a metadata index can drop
	// its old entries. Apply returns it; the change log does not keep it.
	PrevMetadata []byte
}

// Stats are counters of a Store's writes since Open.
type Stats struct {
	// Commits is the number of write transactions committed by Apply. Below
	// Applies when concurrent calls were committed together.
	Commits uint64
	// Applies is the number of Apply calls committed.
	Applies uint64
	// Ops is the number of ops committed.
	Ops uint64
	// Retries is the number of group commits that failed and were retried
	// one Apply call at a time.
	Retries uint64
}

// Store is the durable store of one shard's documents and change log, in one
// bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	cfg  Config
	log  *slog.Logger

	mu struct {
		sync.Mutex
		closed bool
		queue  []*request // waiting for the committer, in arrival order
	}
	wake chan struct{} // capacity 1: the queue is not empty
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the committer has exited

	// Owned by the committer goroutine (and Open, before it starts): the
	// counters as last committed.
	state counters

	lastSeq atomic.Uint64 // state.lastSeq, published after each commit
	commits atomic.Uint64
	applies atomic.Uint64
	ops     atomic.Uint64
	retries atomic.Uint64

	// Test hooks, set before the first Apply. roundHook runs inside each
	// write transaction before it commits; applyHook runs before each
	// request's ops are applied and fails the transaction with its error.
	roundHook func(reqs []*request)
	applyHook func(r *request) error
}

// counters are the meta bucket's counters.
type counters struct {
	nextNum  uint64 // the number the next new ID gets; > MaxUint32 when exhausted
	lastSeq  uint64
	docCount uint64
}

// Open opens the store file at path, creating it if it does not exist. A
// file that is not a ragd store is refused with ErrNotStore, one of a newer
// format with ErrUnsupportedVersion, a damaged one with a *CorruptionError,
// and one that another process holds with ErrLocked. An empty file (left by
// a crash while the file was being created) is initialised as a new store.
func Open(path string, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	start := time.Now()
	db, created, err := openDB(path, cfg, storeKind)
	if err != nil {
		return nil, err
	}
	s := &Store{
		db:   db,
		path: path,
		cfg:  cfg,
		log:  cfg.Logger,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var errs [3]error
		s.state.nextNum, errs[0] = metaU64(meta, path, keyNextNum)
		s.state.lastSeq, errs[1] = metaU64(meta, path, keyLastSeq)
		s.state.docCount, errs[2] = metaU64(meta, path, keyDocCount)
		if err := errors.Join(errs[:]...); err != nil {
			return err
		}
		if s.state.nextNum < firstNum || s.state.docCount > s.state.nextNum-firstNum {
			return &CorruptionError{Path: path, Where: "meta", Reason: fmt.Sprintf("next_num %d and doc_count %d disagree", s.state.nextNum, s.state.docCount)}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s.lastSeq.Store(s.state.lastSeq)
	go s.run()
	msg := "store opened"
	if created {
		msg = "store created"
	}
	s.log.Info(msg, "path", path, "docs", s.state.docCount, "last_seq", s.state.lastSeq, "dur", time.Since(start))
	return s, nil
}

// Close commits the Apply calls already queued, stops the committer, waits
// for running reads and closes the file. Every later call returns ErrClosed,
// Close included.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.mu.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	s.log.Info("store closed", "path", s.path, "last_seq", s.lastSeq.Load())
	return nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// LastSeq returns the highest sequence number committed: every change up to
// it is durable and visible to reads that start after LastSeq returns.
func (s *Store) LastSeq() uint64 { return s.lastSeq.Load() }

// Stats returns the write counters.
func (s *Store) Stats() Stats {
	return Stats{
		Commits: s.commits.Load(),
		Applies: s.applies.Load(),
		Ops:     s.ops.Load(),
		Retries: s.retries.Load(),
	}
}

// TruncateLog deletes the change records with sequence numbers up to and
// including upTo. A derived index calls it once a snapshot it has made
// durable holds every change up to upTo. The sequence counter is not
// affected. upTo above LastSeq is an ErrInvalidArgument: no index can hold
// changes that were never made. Records are deleted in transactions of at
// most Config.MaxBatchOps, so a crash part-way leaves a shorter log, which a
// later call finishes.
func (s *Store) TruncateLog(upTo uint64) error {
	if upTo > s.lastSeq.Load() {
		return fmt.Errorf("%w: truncate log up to %d, past the last sequence %d", ErrInvalidArgument, upTo, s.lastSeq.Load())
	}
	for {
		more := false
		err := s.db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			floor, err := metaU64(meta, s.path, keyLogFloor)
			if err != nil {
				return err
			}
			// Collect, then delete: deleting under a moving cursor can skip keys.
			var keys [][]byte
			c := tx.Bucket(bucketLog).Cursor()
			for k, _ := c.First(); k != nil && keyLE(k, upTo); k, _ = c.Next() {
				if len(keys) == s.cfg.MaxBatchOps {
					more = true
					break
				}
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := tx.Bucket(bucketLog).Delete(k); err != nil {
					return err
				}
			}
			if upTo > floor {
				return meta.Put(keyLogFloor, u64Value(upTo))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: truncate log: %w", mapClosed(err))
		}
		if !more {
			return nil
		}
	}
}

// LogFloor returns the sequence the change log was truncated through: the
// log holds exactly the changes after it (0: nothing was ever truncated).
// A derived index whose snapshot holds a sequence below the floor cannot
// replay the log and must be rebuilt.
func (s *Store) LogFloor() (uint64, error) {
	var floor uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		floor, err = metaU64(tx.Bucket(bucketMeta), s.path, keyLogFloor)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: read log floor: %w", mapClosed(err))
	}
	return floor, nil
}

// keyLE reports whether the 8-byte big-endian key k is ≤ seq; a key of
// another length is treated as past seq and stops the truncation.
func keyLE(k []byte, seq uint64) bool {
	return len(k) == 8 && binary.BigEndian.Uint64(k) <= seq
}
