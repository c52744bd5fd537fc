package text

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"

	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// verify opens the index in dir read-only (no merger, no persister: nothing
// reads a segment behind our back), loads the latest snapshot recorded in
// its root file, and checks the CRC-32 that ends every segment file the
// snapshot refers to (zap files end with a CRC-32 (IEEE) of all the bytes
// before it, which bleve writes but never checks).
//
// Loading the latest snapshot ourselves matters: when a segment of it
// cannot be opened, scorch logs the error, falls back to an older snapshot
// or to an empty index, and opens without an error.
func verify(dir string) (err error) {
	if err := checkRoot(filepath.Join(dir, rootFile)); err != nil {
		return err
	}
	queue := index.NewAnalysisQueue(1)
	defer queue.Close()
	bi, err := openScorch(dir, true, queue)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := bi.Close(); err == nil && cerr != nil {
			err = &CorruptionError{Path: dir, Reason: "bleve cannot close it", Err: cerr}
		}
	}()
	paths, err := latestSegments(dir, bi)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := checkSegment(p); err != nil {
			return err
		}
	}
	return nil
}

// latestSegments returns the files of the latest snapshot in the root file.
func latestSegments(dir string, bi index.Index) (paths []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			paths = nil
			err = &CorruptionError{Path: dir, Reason: fmt.Sprintf("bleve panicked loading it: %v", r)}
		}
	}()
	s, ok := bi.(*scorch.Scorch)
	if !ok {
		return nil, fmt.Errorf("text: %s: unexpected index type %T", dir, bi)
	}
	epochs, err := s.RootBoltSnapshotEpochs() // newest first
	if err != nil {
		return nil, &CorruptionError{Path: dir, Reason: "snapshots unreadable", Err: err}
	}
	if len(epochs) == 0 {
		return nil, nil // created, never written
	}
	snap, err := s.LoadSnapshot(epochs[0])
	if err != nil {
		return nil, &CorruptionError{Path: dir, Reason: fmt.Sprintf("snapshot %d unreadable", epochs[0]), Err: err}
	}
	for _, seg := range snap.Segments() {
		if ps, ok := seg.Segment().(segment.PersistedSegment); ok {
			paths = append(paths, ps.Path())
		}
	}
	if err := snap.DecRef(); err != nil {
		return nil, &CorruptionError{Path: dir, Reason: "snapshot unreadable", Err: err}
	}
	return paths, nil
}

// checkSegment verifies the CRC-32 at the end of the segment file path.
func checkSegment(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &CorruptionError{Path: path, Reason: "segment unreadable", Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return &CorruptionError{Path: path, Reason: "segment unreadable", Err: err}
	}
	if st.Size() < 4 {
		return &CorruptionError{Path: path, Reason: fmt.Sprintf("segment of %d bytes", st.Size())}
	}
	h := crc32.NewIEEE()
	if _, err := io.CopyN(h, f, st.Size()-4); err != nil {
		return &CorruptionError{Path: path, Reason: "segment unreadable", Err: err}
	}
	var tail [4]byte
	if _, err := io.ReadFull(f, tail[:]); err != nil {
		return &CorruptionError{Path: path, Reason: "segment unreadable", Err: err}
	}
	if want, got := binary.BigEndian.Uint32(tail[:]), h.Sum32(); want != got {
		return &CorruptionError{Path: path, Reason: fmt.Sprintf("segment checksum %08x, want %08x", got, want)}
	}
	return nil
}

// bbolt's meta page, as go.etcd.io/bbolt/internal/common lays it out: a
// 16-byte page header, then magic, version, page size, flags (4 bytes
// each), root bucket (8 + 8), freelist, high-water page id, transaction id
// and an FNV-64a checksum of the fields before it (8 each), in the
// machine's byte order.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltHeader     = 16
	boltMetaSize   = 64
	boltChecksumAt = 56
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64 // pages [0, pgid) are in use
	txid     uint64
}

// readBoltMeta reads the meta page at off, if it is valid.
func readBoltMeta(f *os.File, off int64) (boltMeta, bool) {
	var b [boltHeader + boltMetaSize]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return boltMeta{}, false
	}
	m := b[boltHeader:]
	e := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:boltChecksumAt])
	if e.Uint32(m[0:]) != boltMagic || e.Uint32(m[4:]) != boltVersion || e.Uint64(m[boltChecksumAt:]) != h.Sum64() {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: e.Uint32(m[8:]), pgid: e.Uint64(m[40:]), txid: e.Uint64(m[48:])}, true
}

// checkRoot checks that scorch's root file is not shorter than the pages
// its meta page says are in use. bbolt maps the file and would touch the
// missing pages: a SIGBUS, which no recover catches.
func checkRoot(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &CorruptionError{Path: path, Reason: "root file unreadable", Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return &CorruptionError{Path: path, Reason: "root file unreadable", Err: err}
	}
	// The second meta page follows the first; its offset is the page size
	// the first one records, or the usual 4 KiB when the first is damaged.
	meta, ok := readBoltMeta(f, 0)
	second := int64(os.Getpagesize())
	if ok {
		second = int64(meta.pageSize)
	}
	if m, ok2 := readBoltMeta(f, second); ok2 && (!ok || m.txid > meta.txid) {
		meta, ok = m, true
	}
	if !ok {
		return &CorruptionError{Path: path, Reason: "no valid bbolt meta page"}
	}
	if need := int64(meta.pgid) * int64(meta.pageSize); st.Size() < need {
		return &CorruptionError{Path: path, Reason: fmt.Sprintf("root file of %d bytes, its pages need %d", st.Size(), need)}
	}
	return nil
}
