package store

import (
	"encoding/binary"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// Reader reads one consistent snapshot of the store: every read through it
// sees the same committed state, whatever commits meanwhile. It is valid only
// inside the View call that made it and is not safe for concurrent use.
// Documents it returns own their memory and outlive it.
type Reader struct {
	tx   *bolt.Tx
	path string
	docs *bolt.Bucket
	ids  *bolt.Bucket
	log  *bolt.Bucket
	meta *bolt.Bucket
}

// View calls fn with a Reader over a snapshot of the store, in one bbolt read
// transaction; use it to load many documents consistently (the payloads of
// the hits of a search). Reads never block writes, nor writes reads, except
// that a commit growing the file past Config.InitialMmapSize waits for open
// read transactions: keep them short once a file is that large, and never
// wait inside fn for an Apply, which could then deadlock.
func (s *Store) View(fn func(r *Reader) error) error {
	return mapClosed(s.db.View(func(tx *bolt.Tx) error {
		return fn(&Reader{
			tx:   tx,
			path: s.path,
			docs: tx.Bucket(bucketDocs),
			ids:  tx.Bucket(bucketIDs),
			log:  tx.Bucket(bucketLog),
			meta: tx.Bucket(bucketMeta),
		})
	}))
}

// Get returns the document with the given ID, and whether there is one.
func (s *Store) Get(id string) (doc Doc, ok bool, err error) {
	err = s.View(func(r *Reader) error {
		doc, ok, err = r.Get(id)
		return err
	})
	return doc, ok, err
}

// Num returns the number of the document with the given ID, and whether
// there is one, without reading the document.
func (r *Reader) Num(id string) (uint32, bool, error) {
	v := r.ids.Get([]byte(id))
	if v == nil {
		return 0, false, nil
	}
	if len(v) != 4 || binary.BigEndian.Uint32(v) < firstNum {
		return 0, false, &CorruptionError{Path: r.path, Where: fmt.Sprintf("ids[%q]", id), Reason: fmt.Sprintf("bad document number %x", v)}
	}
	return binary.BigEndian.Uint32(v), true, nil
}

// GetByNum returns the document with the given number, and whether there is
// one.
func (s *Store) GetByNum(num uint32) (doc Doc, ok bool, err error) {
	err = s.View(func(r *Reader) error {
		doc, ok, err = r.GetByNum(num)
		return err
	})
	return doc, ok, err
}

// Count returns the number of documents, from a persisted counter.
func (s *Store) Count() (n int, err error) {
	err = s.View(func(r *Reader) error {
		n, err = r.Count()
		return err
	})
	return n, err
}

// Scan returns up to limit documents in ID order (bytewise), starting after
// the ID after ("" starts at the beginning), and the ID to pass as after for
// the next page, "" when there is none. limit must be positive.
func (s *Store) Scan(after string, limit int) (docs []Doc, next string, err error) {
	err = s.View(func(r *Reader) error {
		docs, next, err = r.Scan(after, limit)
		return err
	})
	return docs, next, err
}

// ForEach calls fn with every document, in Num order, from one snapshot;
// an error from fn stops it and is returned. To rebuild a derived index, use
// View, and read Reader.LastSeq in the same snapshot: it is the sequence
// number the rebuilt index holds.
func (s *Store) ForEach(fn func(Doc) error) error {
	return s.View(func(r *Reader) error { return r.ForEach(fn) })
}

// Changes calls fn with every change record after the sequence number after,
// in sequence order, from one snapshot; an error from fn stops it and is
// returned. A record says which document changed, not how: a replayer reads
// the document's current state (GetByNum), which is the state after the last
// change to it, and skips it when it is gone. If TruncateLog has removed
// records after after, Changes returns ErrLogTruncated.
func (s *Store) Changes(after uint64, fn func(Change) error) error {
	return s.View(func(r *Reader) error { return r.Changes(after, fn) })
}

// Get returns the document with the given ID, and whether there is one.
func (r *Reader) Get(id string) (Doc, bool, error) {
	v := r.ids.Get([]byte(id))
	if v == nil {
		return Doc{}, false, nil
	}
	if len(v) != 4 || binary.BigEndian.Uint32(v) < firstNum {
		return Doc{}, false, &CorruptionError{Path: r.path, Where: fmt.Sprintf("ids[%q]", id), Reason: fmt.Sprintf("bad document number %x", v)}
	}
	num := binary.BigEndian.Uint32(v)
	d, ok, err := r.GetByNum(num)
	switch {
	case err != nil:
		return Doc{}, false, err
	case !ok:
		return Doc{}, false, &CorruptionError{Path: r.path, Where: fmt.Sprintf("ids[%q]", id), Reason: fmt.Sprintf("document number %d has no document", num)}
	case d.ID != id:
		return Doc{}, false, &CorruptionError{Path: r.path, Where: fmt.Sprintf("docs[num %d]", num), Reason: fmt.Sprintf("holds id %q, but ids maps %q to it", d.ID, id)}
	}
	return d, true, nil
}

// GetByNum returns the document with the given number, and whether there is
// one.
func (r *Reader) GetByNum(num uint32) (Doc, bool, error) {
	v := r.docs.Get(numKey(num))
	if v == nil {
		return Doc{}, false, nil
	}
	d, err := r.decode(num, v)
	return d, err == nil, err
}

// ID returns the ID of the document with the given number, and whether
// there is one, decoding nothing else.
func (r *Reader) ID(num uint32) (string, bool, error) {
	v := r.docs.Get(numKey(num))
	if v == nil {
		return "", false, nil
	}
	id, why := decodeID(v)
	if why != "" {
		return "", false, &CorruptionError{Path: r.path, Where: fmt.Sprintf("docs[num %d]", num), Reason: why}
	}
	return id, true, nil
}

func (r *Reader) decode(num uint32, v []byte) (Doc, error) {
	d, why := decodeDoc(v)
	if why != "" {
		return Doc{}, &CorruptionError{Path: r.path, Where: fmt.Sprintf("docs[num %d]", num), Reason: why}
	}
	d.Num = num
	return d, nil
}

// Count returns the number of documents in the snapshot.
func (r *Reader) Count() (int, error) {
	n, err := metaU64(r.meta, r.path, keyDocCount)
	if err == nil && n > math.MaxUint32 {
		err = &CorruptionError{Path: r.path, Where: "meta[doc_count]", Reason: fmt.Sprintf("%d documents is more than numbers allow", n)}
	}
	return int(n), err
}

// LastSeq returns the highest sequence number in the snapshot: the snapshot
// holds every change up to it.
func (r *Reader) LastSeq() (uint64, error) {
	return metaU64(r.meta, r.path, keyLastSeq)
}

// Scan is Store.Scan within the snapshot.
func (r *Reader) Scan(after string, limit int) ([]Doc, string, error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("%w: scan limit %d is not positive", ErrInvalidArgument, limit)
	}
	var docs []Doc
	c := r.ids.Cursor()
	k, _ := c.Seek([]byte(after))
	if k != nil && after != "" && string(k) == after {
		k, _ = c.Next()
	}
	for ; k != nil; k, _ = c.Next() {
		if len(docs) == limit {
			return docs, docs[len(docs)-1].ID, nil
		}
		d, ok, err := r.Get(string(k))
		if err != nil {
			return nil, "", err
		}
		if ok {
			docs = append(docs, d)
		}
	}
	return docs, "", nil
}

// ForEach is Store.ForEach within the snapshot.
func (r *Reader) ForEach(fn func(Doc) error) error {
	return r.eachRecord(true, fn)
}

// ForEachMetadata calls fn with the number and metadata of every document,
// in number order, reading nothing else out of the records (their
// checksums are still verified). metadata is nil for a document without;
// it is valid only during the call. An error from fn stops it and is
// returned.
func (r *Reader) ForEachMetadata(fn func(num uint32, metadata []byte) error) error {
	return r.eachRecord(false, func(d Doc) error { return fn(d.Num, d.Metadata) })
}

// eachRecord calls fn with every document in number order, decoded whole
// or (unless full) without text, source and vector.
func (r *Reader) eachRecord(full bool, fn func(Doc) error) error {
	c := r.docs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 4 {
			return &CorruptionError{Path: r.path, Where: fmt.Sprintf("docs[%x]", k), Reason: "key is not a 4-byte document number"}
		}
		num := binary.BigEndian.Uint32(k)
		d, why := decodeRecord(v, full)
		if why != "" {
			return &CorruptionError{Path: r.path, Where: fmt.Sprintf("docs[num %d]", num), Reason: why}
		}
		d.Num = num
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// Changes is Store.Changes within the snapshot.
func (r *Reader) Changes(after uint64, fn func(Change) error) error {
	floor, err := metaU64(r.meta, r.path, keyLogFloor)
	if err != nil {
		return err
	}
	if after < floor {
		return fmt.Errorf("%w: changes after %d requested, log truncated up to %d", ErrLogTruncated, after, floor)
	}
	if after == math.MaxUint64 {
		return nil
	}
	c := r.log.Cursor()
	for k, v := c.Seek(seqKey(after + 1)); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return &CorruptionError{Path: r.path, Where: fmt.Sprintf("log[%x]", k), Reason: "key is not an 8-byte sequence number"}
		}
		seq := binary.BigEndian.Uint64(k)
		ch, why := decodeChange(seq, v)
		if why != "" {
			return &CorruptionError{Path: r.path, Where: fmt.Sprintf("log[seq %d]", seq), Reason: why}
		}
		if err := fn(ch); err != nil {
			return err
		}
	}
	return nil
}
