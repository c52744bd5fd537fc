package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// request is one Apply call waiting for, or inside, a group commit.
type request struct {
	ops  []Op
	recs [][]byte // encoded document of each put op; nil for deletes
	// Written by the committer before done is closed.
	changes []Change
	err     error
	done    chan struct{}
}

// Apply commits ops in one transaction, all or nothing, and returns one
// Change per op, in order. It returns only once the transaction is durable
// (fsynced). Ops of one call are applied in order, so a put then a delete of
// the same ID leaves no document; each op that changes something gets the
// next sequence number. A delete of a missing ID changes nothing: its Change
// has Seq 0 and Num 0, and it is not logged.
//
// Every op is validated before anything is written: an invalid op fails the
// whole call with an error wrapping ErrInvalidArgument that names the op's
// index, and nothing is written. An empty ops commits nothing and returns
// (nil, nil).
//
// Concurrent calls are committed together (group commit): the store's
// committer takes every call queued (up to Config.MaxBatchOps ops), applies
// them in arrival order in one transaction, and pays one fsync for all. A
// lone call is committed at once, without waiting for company.
//
// If ctx ends while the call is still queued, its ops are withdrawn and
// Apply returns ctx.Err(); once the committer has taken them, Apply waits
// for the commit and returns its outcome, whatever ctx does.
func (s *Store) Apply(ctx context.Context, ops []Op) ([]Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, nil
	}
	r := &request{ops: ops, recs: make([][]byte, len(ops)), done: make(chan struct{})}
	for i := range ops {
		op := &ops[i]
		var id string
		switch op.Kind {
		case OpPut:
			id = op.Doc.ID
		case OpDelete:
			id = op.ID
		default:
			return nil, fmt.Errorf("%w: op %d: unknown kind %d", ErrInvalidArgument, i, op.Kind)
		}
		if why := validID(id); why != "" {
			return nil, fmt.Errorf("%w: op %d (%s): %s", ErrInvalidArgument, i, op.Kind, why)
		}
		if op.Kind == OpPut {
			if n := docSize(&op.Doc); n > MaxDocSize {
				return nil, fmt.Errorf("%w: op %d (put %q): document of %d bytes exceeds %d", ErrInvalidArgument, i, id, n, MaxDocSize)
			}
			r.recs[i] = encodeDoc(&op.Doc)
		}
	}

	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.mu.queue = append(s.mu.queue, r)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}

	select {
	case <-r.done:
	case <-ctx.Done():
		s.mu.Lock()
		if i := slices.Index(s.mu.queue, r); i >= 0 {
			s.mu.queue = slices.Delete(s.mu.queue, i, i+1)
			s.mu.Unlock()
			return nil, ctx.Err()
		}
		s.mu.Unlock()
		<-r.done // in a transaction already: its outcome stands
	}
	return r.changes, r.err
}

// run is the committer goroutine: it commits queued requests in rounds until
// Close, then drains the queue and exits.
func (s *Store) run() {
	defer close(s.done)
	for {
		if reqs := s.take(); len(reqs) > 0 {
			s.commit(reqs)
			continue
		}
		select {
		case <-s.wake:
		case <-s.quit:
			// Close has marked the store closed: nothing more is queued.
			for reqs := s.take(); len(reqs) > 0; reqs = s.take() {
				s.commit(reqs)
			}
			return
		}
	}
}

// take removes from the queue the requests of the next round: the oldest
// ones, up to MaxBatchOps ops, and at least one.
func (s *Store) take() []*request {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.mu.queue
	n, ops := 0, 0
	for n < len(q) && (n == 0 || ops+len(q[n].ops) <= s.cfg.MaxBatchOps) {
		ops += len(q[n].ops)
		n++
	}
	if n == len(q) {
		s.mu.queue = nil
		return q
	}
	s.mu.queue = q[n:]
	return q[:n:n]
}

// commit runs one round and wakes its callers. If the shared transaction
// fails, each request is retried in a transaction of its own, so that one
// caller's failure is not the others'.
func (s *Store) commit(reqs []*request) {
	err := s.commitTx(reqs)
	if err != nil && len(reqs) > 1 {
		s.retries.Add(1)
		s.log.Warn("group commit failed; retrying each call alone", "path", s.path, "calls", len(reqs), "err", err)
		for _, r := range reqs {
			r.err = s.commitTx([]*request{r})
		}
	} else if err != nil {
		reqs[0].err = err
	}
	for _, r := range reqs {
		if r.err != nil {
			r.changes = nil
		}
		close(r.done)
	}
}

// commitTx applies reqs in one write transaction and commits it. On success
// each request holds its changes and the counters are published.
func (s *Store) commitTx(reqs []*request) (err error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("store: begin: %w", mapClosed(err))
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	st := s.state
	b := txBuckets{docs: tx.Bucket(bucketDocs), ids: tx.Bucket(bucketIDs), log: tx.Bucket(bucketLog), meta: tx.Bucket(bucketMeta)}
	// Numbers and sequences only grow, so new keys append: fill pages.
	b.docs.FillPercent = 0.9
	b.log.FillPercent = 1
	nops := 0
	for _, r := range reqs {
		if s.applyHook != nil {
			if err := s.applyHook(r); err != nil {
				return err
			}
		}
		if r.changes, err = s.applyOps(b, &st, r); err != nil {
			return err
		}
		nops += len(r.ops)
	}
	if err := errNonNil(
		b.meta.Put(keyNextNum, u64Value(st.nextNum)),
		b.meta.Put(keyLastSeq, u64Value(st.lastSeq)),
		b.meta.Put(keyDocCount, u64Value(st.docCount)),
	); err != nil {
		return fmt.Errorf("store: write counters: %w", err)
	}
	if s.roundHook != nil {
		s.roundHook(reqs)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	s.state = st
	s.lastSeq.Store(st.lastSeq)
	s.commits.Add(1)
	s.applies.Add(uint64(len(reqs)))
	s.ops.Add(uint64(nops))
	return nil
}

type txBuckets struct {
	docs, ids, log, meta *bolt.Bucket
}

// applyOps writes one request's ops into the transaction. bbolt keeps the
// key and value slices until the commit, so each Put gets its own.
func (s *Store) applyOps(b txBuckets, st *counters, r *request) ([]Change, error) {
	changes := make([]Change, len(r.ops))
	for i := range r.ops {
		op := &r.ops[i]
		c := &changes[i]
		c.Kind = op.Kind
		switch op.Kind {
		case OpPut:
			c.ID = op.Doc.ID
			idKey := []byte(c.ID)
			if v := b.ids.Get(idKey); v != nil {
				num, err := s.numValue(v, c.ID)
				if err != nil {
					return nil, err
				}
				c.Num, c.Existed = num, true
				if c.PrevMetadata, err = s.prevMetadata(b, num, c.ID); err != nil {
					return nil, err
				}
			} else {
				if st.nextNum > math.MaxUint32 {
					return nil, fmt.Errorf("%w (op %d, put %q)", ErrFull, i, c.ID)
				}
				c.Num = uint32(st.nextNum)
				st.nextNum++
				st.docCount++
				if err := b.ids.Put(idKey, numKey(c.Num)); err != nil {
					return nil, fmt.Errorf("store: op %d (put %q): %w", i, c.ID, err)
				}
			}
			if err := b.docs.Put(numKey(c.Num), r.recs[i]); err != nil {
				return nil, fmt.Errorf("store: op %d (put %q): %w", i, c.ID, err)
			}
		case OpDelete:
			c.ID = op.ID
			idKey := []byte(c.ID)
			v := b.ids.Get(idKey)
			if v == nil {
				continue // nothing to delete: no sequence number, no record
			}
			num, err := s.numValue(v, c.ID)
			if err != nil {
				return nil, err
			}
			c.Num, c.Existed = num, true
			if c.PrevMetadata, err = s.prevMetadata(b, num, c.ID); err != nil {
				return nil, err
			}
			st.docCount--
			if err := errNonNil(b.ids.Delete(idKey), b.docs.Delete(numKey(num))); err != nil {
				return nil, fmt.Errorf("store: op %d (delete %q): %w", i, c.ID, err)
			}
		}
		st.lastSeq++
		c.Seq = st.lastSeq
		if err := b.log.Put(seqKey(c.Seq), encodeChange(c.Kind, c.Existed, c.Num, c.ID)); err != nil {
			return nil, fmt.Errorf("store: op %d (log): %w", i, err)
		}
	}
	return changes, nil
}

// prevMetadata returns a copy of the metadata of the stored document num,
// which an op is about to replace or delete.
func (s *Store) prevMetadata(b txBuckets, num uint32, id string) ([]byte, error) {
	v := b.docs.Get(numKey(num))
	if v == nil {
		return nil, &CorruptionError{Path: s.path, Where: fmt.Sprintf("docs[num %d]", num), Reason: fmt.Sprintf("id %q maps to a missing document", id)}
	}
	d, reason := decodeDoc(v)
	if reason != "" {
		return nil, &CorruptionError{Path: s.path, Where: fmt.Sprintf("docs[num %d]", num), Reason: reason}
	}
	if len(d.Metadata) == 0 {
		return nil, nil
	}
	return bytes.Clone(d.Metadata), nil
}

// numValue decodes a value of the ids bucket.
func (s *Store) numValue(v []byte, id string) (uint32, error) {
	if len(v) != 4 || binary.BigEndian.Uint32(v) < firstNum {
		return 0, &CorruptionError{Path: s.path, Where: fmt.Sprintf("ids[%q]", id), Reason: fmt.Sprintf("bad document number %x", v)}
	}
	return binary.BigEndian.Uint32(v), nil
}

// errNonNil returns the first non-nil error.
func errNonNil(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
