package hnsw

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/ragd/ragd/internal/fsutil"
)

// The snapshot format is documented in docs/format/hnsw.md. The constants
// below are on-disk format; do not change them.
const (
	fileMagic    = "RAGDHNSW"
	trailerMagic = "HNSWEND1"
	fileVersion  = 1
	headerSize   = 96
	trailerSize  = 12
	noEntry      = math.MaxUint32
	stateLive    = 1
	stateDeleted = 2
	flagPermuted = 1 // header byte 13: a dimension order follows the app data
	// maxAppData bounds the caller's opaque data stored with a snapshot.
	maxAppData = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Save writes a snapshot of the graph to path atomically (temporary file,
// fsync, rename, directory fsync), together with appData, an opaque blob of
// at most 1 MiB that Load returns (the index stores the change-log sequence
// the snapshot contains there). Free slots are not written: a loaded graph
// is dense.
//
// Save blocks no search and no write: it copies each node's neighbour lists
// under that node's stripe lock, one node at a time, and writes the vectors
// straight from the slab (a vector never changes while its slot is in use).
// The snapshot holds every Add and Delete that returned before Save was
// called, and may hold some that ran during it; a node whose insert was
// still linking it is saved with the links it had. Only a compaction's
// final step and the one-time dimension reorder wait for a Save to end.
func (g *Graph) Save(path string, appData []byte) error {
	if len(appData) > maxAppData {
		return fmt.Errorf("%w: app data of %d bytes exceeds %d", ErrInvalidArgument, len(appData), maxAppData)
	}
	return fsutil.AtomicWrite(path, 0o644, func(w io.Writer) error {
		_, err := g.writeTo(w, appData)
		return err
	})
}

// WriteTo writes a snapshot of the graph (without app data) to w, as Save
// does.
func (g *Graph) WriteTo(w io.Writer) (int64, error) {
	return g.writeTo(w, nil)
}

type countingWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	n   int64
	buf [8]byte
}

func (cw *countingWriter) write(p []byte) {
	cw.w.Write(p) // errors surface at Flush
	cw.crc.Write(p)
	cw.n += int64(len(p))
}

func (cw *countingWriter) u32(v uint32) {
	binary.LittleEndian.PutUint32(cw.buf[:4], v)
	cw.write(cw.buf[:4])
}

// syncer is a file that Save writes to (fsutil.AtomicWrite passes an
// *os.File).
type syncer interface {
	io.Writer
	Sync() error
}

// bytesPerSync: the writeback of a snapshot file is started after each of
// these many bytes, so that the kernel never holds much of it unwritten, as
// Pebble's and RocksDB's bytes_per_sync do. Without it the tens or hundreds
// of MiB of a snapshot reach the disk all at once, at the final fsync or
// when the kernel decides, and the store's commits, each waiting on an
// fsync of their own, wait behind them: measured, upserts stalled 100–600 ms
// after each snapshot of 20,000 384-d vectors (bench/results/churn.md).
const bytesPerSync = 4 << 20

// syncingWriter starts the writeback of what it has written every
// bytesPerSync bytes: with sync_file_range on an *os.File under Linux,
// else with Sync. It is only a pacing aid (the caller's final fsync makes
// the file durable), so a file system that refuses sync_file_range just
// turns it off.
type syncingWriter struct {
	w                syncer
	written, flushed int64
	off              bool
}

func (s *syncingWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.written += int64(n)
	if err != nil || s.off || s.written-s.flushed < bytesPerSync {
		return n, err
	}
	s.flushed = s.written
	if f, ok := s.w.(*os.File); ok {
		if writeback(f, s.written) != nil {
			s.off = true
		}
		return n, nil
	}
	if err := s.w.Sync(); err != nil {
		return n, fmt.Errorf("hnsw: write snapshot: %w", err)
	}
	return n, nil
}

// snapshotView is what a snapshot copies out of the graph before it writes:
// the slots it writes and their neighbour lists, renumbered densely as in
// the file. Vectors, keys and levels are read from the graph as the file is
// written; they do not change while snapMu is held.
type snapshotView struct {
	ids   []NodeID // file slot i is graph slot ids[i]
	state []byte   // stateLive or stateDeleted, per file slot
	// lists holds each file slot's level-0 list in a row of m0+1 words: a
	// count, then file slot numbers.
	lists []uint32
	// up holds the lists of levels 1 and up (count, then file slots, per
	// level) of the slots that have them, from upOff[i].
	up    []uint32
	upOff []uint32
	entry uint32 // file slot of the entry point, or noEntry
	top   int
}

// capture copies the graph's structure for a snapshot. Called with snapMu
// held; it takes no lock that Add or a search waits for, except each node's
// stripe lock for the instant its lists are copied.
func (g *Graph) capture() *snapshotView {
	ep, _, hasEP := g.entryPoint()
	g.mu.Lock()
	next := g.mu.next
	g.mu.Unlock()

	// The slots written are those whose node is complete now; nodes added
	// from here on are left out, and links to them dropped.
	remap := make([]uint32, next)
	v := &snapshotView{entry: noEntry, top: -1}
	for id := range next {
		remap[id] = noEntry
		if g.inUse(id) && g.isReady(id) {
			remap[id] = uint32(len(v.ids))
			v.ids = append(v.ids, id)
		}
	}
	n := len(v.ids)
	row := g.m0 + 1
	v.state = make([]byte, n)
	v.lists = make([]uint32, n*row)
	v.upOff = make([]uint32, n)
	copyList := func(lk, dst []uint32) int {
		cnt := 0
		for _, nb := range lk[1 : 1+min(atomic.LoadUint32(&lk[0]), uint32(len(lk)-1))] {
			if nb < uint32(next) && remap[nb] != noEntry {
				dst[cnt] = remap[nb]
				cnt++
			}
		}
		return cnt
	}
	var tmp []uint32
	for i, id := range v.ids {
		level := g.level(id)
		mu := g.stripe(id)
		mu.Lock()
		v.state[i] = stateLive
		if g.isDeleted(id) {
			v.state[i] = stateDeleted
		}
		r := v.lists[i*row : (i+1)*row]
		r[0] = uint32(copyList(g.links(id, 0), r[1:]))
		v.upOff[i] = uint32(len(v.up))
		for l := 1; l <= level; l++ {
			lk := g.links(id, l)
			tmp = slices.Grow(tmp[:0], len(lk))[:len(lk)]
			cnt := copyList(lk, tmp)
			v.up = append(v.up, uint32(cnt))
			v.up = append(v.up, tmp[:cnt]...)
		}
		mu.Unlock()
		if level > v.top {
			v.top = level
		}
	}
	if n == 0 {
		return v
	}
	// The entry point must be a node of the highest level in the file; an
	// insert that raised the top during the copy may have moved it.
	if hasEP && ep < next && remap[ep] != noEntry && g.level(ep) == v.top {
		v.entry = remap[ep]
	} else {
		for i, id := range v.ids {
			if g.level(id) == v.top {
				v.entry = uint32(i)
				break
			}
		}
	}
	v.reconnect(g, row)
	return v
}

// reconnect gives a level-0 way in to each node that has one in the graph
// but none in the copy. Lists copied at different instants can miss a link
// that moved: an insert added a link to a node into a list already copied,
// then pruned its old link from a list not yet copied. Such a node is
// linked from one of its own neighbours whose list has room.
func (v *snapshotView) reconnect(g *Graph, row int) {
	indeg := make([]int32, len(v.ids))
	for i := range v.ids {
		r := v.lists[i*row : (i+1)*row]
		for _, nb := range r[1 : 1+r[0]] {
			indeg[nb]++
		}
	}
	for i, id := range v.ids {
		if indeg[i] > 0 || uint32(i) == v.entry || g.inDegree(id).Load() == 0 {
			continue
		}
		r := v.lists[i*row : (i+1)*row]
		for _, nb := range r[1 : 1+r[0]] {
			o := v.lists[int(nb)*row : (int(nb)+1)*row]
			if int(o[0]) < row-1 {
				o[1+o[0]] = uint32(i)
				o[0]++
				indeg[i]++
				break
			}
		}
	}
}

// littleEndian reports whether float32s are stored as the file stores
// them, so that a vector can be written as its memory.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// appendFloats appends v in the file's encoding (little-endian IEEE-754).
func appendFloats(b []byte, v []float32) []byte {
	if littleEndian && len(v) > 0 {
		return append(b, unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))...)
	}
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func (g *Graph) writeTo(w io.Writer, appData []byte) (int64, error) {
	g.snapMu.Lock()
	defer g.snapMu.Unlock()
	v := g.capture()
	row := g.m0 + 1

	var hdr [headerSize]byte
	copy(hdr[0:8], fileMagic)
	le := binary.LittleEndian
	le.PutUint32(hdr[8:], fileVersion)
	hdr[12] = byte(g.metric)
	if g.perm != nil {
		hdr[13] = flagPermuted
	}
	le.PutUint32(hdr[16:], uint32(g.dim))
	le.PutUint32(hdr[20:], uint32(g.m))
	le.PutUint32(hdr[24:], uint32(g.cfg.EfConstruction))
	le.PutUint32(hdr[28:], uint32(g.cfg.EfSearch))
	le.PutUint64(hdr[32:], g.cfg.Seed)
	le.PutUint64(hdr[40:], math.Float64bits(g.cfg.FilterTwoHopBelow))
	le.PutUint32(hdr[48:], uint32(g.cfg.FilterExactCount))
	le.PutUint32(hdr[52:], uint32(len(v.ids)))
	le.PutUint32(hdr[56:], v.entry)
	le.PutUint32(hdr[60:], uint32(max(v.top, 0)))
	le.PutUint32(hdr[64:], uint32(len(appData)))
	le.PutUint32(hdr[headerSize-4:], crc32.Checksum(hdr[:headerSize-4], castagnoli))

	if f, ok := w.(syncer); ok {
		w = &syncingWriter{w: f}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(hdr[:]); err != nil {
		return 0, err
	}
	cw := &countingWriter{w: bw, crc: crc32.New(castagnoli), n: headerSize}
	cw.write(appData)
	for _, j := range g.perm {
		cw.u32(j)
	}
	rec := make([]byte, 0, 8+4*g.dim+4*row)
	for i, id := range v.ids {
		c, off := g.locate(id)
		level := int(c.levels[off])
		rec = append(rec[:0], v.state[i], byte(level), 0, 0)
		rec = le.AppendUint32(rec, c.keys[off])
		rec = appendFloats(rec, g.vec(id))
		r := v.lists[i*row : (i+1)*row]
		for _, x := range r[:1+r[0]] {
			rec = le.AppendUint32(rec, x)
		}
		cw.write(rec)
		if level > 0 {
			u := v.up[v.upOff[i]:]
			for range level {
				cnt := u[0]
				for _, x := range u[:1+cnt] {
					cw.u32(x)
				}
				u = u[1+cnt:]
			}
		}
	}
	var tr [trailerSize]byte
	le.PutUint32(tr[0:], cw.crc.Sum32())
	copy(tr[4:], trailerMagic)
	if _, err := bw.Write(tr[:]); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("hnsw: write snapshot: %w", err)
	}
	return cw.n + trailerSize, nil
}

// Load reads a snapshot written by Save and returns the graph and the app
// data saved with it. A file that is truncated, fails a checksum or is not
// structurally valid yields a *CorruptionError (errors.Is ErrCorrupt) and no
// graph: nothing is half-loaded.
func Load(path string) (*Graph, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("hnsw: open snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("hnsw: stat snapshot: %w", err)
	}
	// First pass: the checksums, before anything is allocated from what the
	// file claims.
	if err := verifyChecksums(f, st.Size()); err != nil {
		return nil, nil, withPath(err, path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, fmt.Errorf("hnsw: seek snapshot: %w", err)
	}
	g, app, err := read(bufio.NewReaderSize(f, 1<<20), st.Size())
	return g, app, withPath(err, path)
}

// Read reads a snapshot from r, whose total length is size bytes. Unlike
// Load it checks the body checksum only at the end, after parsing.
func Read(r io.Reader, size int64) (*Graph, []byte, error) {
	return read(bufio.NewReaderSize(r, 1<<20), size)
}

func withPath(err error, path string) error {
	var ce *CorruptionError
	if errors.As(err, &ce) && ce.Path == "" {
		ce.Path = path
	}
	return err
}

func corrupt(off int64, format string, args ...any) error {
	return &CorruptionError{Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// verifyChecksums checks the header and body CRCs and the trailer.
func verifyChecksums(r io.Reader, size int64) error {
	if size < headerSize+trailerSize {
		return corrupt(-1, "file of %d bytes is shorter than a header and trailer", size)
	}
	br := bufio.NewReaderSize(r, 1<<20)
	var hdr [headerSize]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return corrupt(0, "reading header: %v", err)
	}
	if err := checkHeader(hdr[:]); err != nil {
		return err
	}
	crc := crc32.New(castagnoli)
	body := size - headerSize - trailerSize
	if _, err := io.CopyN(crc, br, body); err != nil {
		return corrupt(headerSize, "reading body: %v", err)
	}
	var tr [trailerSize]byte
	if _, err := io.ReadFull(br, tr[:]); err != nil {
		return corrupt(size-trailerSize, "reading trailer: %v", err)
	}
	if string(tr[4:]) != trailerMagic {
		return corrupt(size-trailerSize+4, "bad trailer magic (file truncated or overwritten)")
	}
	if got, want := crc.Sum32(), binary.LittleEndian.Uint32(tr[:4]); got != want {
		return corrupt(headerSize, "body checksum mismatch: computed %08x, stored %08x", got, want)
	}
	return nil
}

func checkHeader(hdr []byte) error {
	if string(hdr[:8]) != fileMagic {
		return corrupt(0, "not an hnsw snapshot (bad magic)")
	}
	le := binary.LittleEndian
	if got, want := crc32.Checksum(hdr[:headerSize-4], castagnoli), le.Uint32(hdr[headerSize-4:]); got != want {
		return corrupt(0, "header checksum mismatch: computed %08x, stored %08x", got, want)
	}
	if v := le.Uint32(hdr[8:]); v != fileVersion {
		return corrupt(8, "unsupported version %d (this build reads %d)", v, fileVersion)
	}
	return nil
}

// snapReader reads little-endian fields, tracking the offset and the CRC of
// everything after the header.
type snapReader struct {
	r   *bufio.Reader
	off int64
	crc hash.Hash32
	buf []byte
}

func (sr *snapReader) read(n int) ([]byte, error) {
	if cap(sr.buf) < n {
		sr.buf = make([]byte, n)
	}
	b := sr.buf[:n]
	if _, err := io.ReadFull(sr.r, b); err != nil {
		return nil, corrupt(sr.off, "unexpected end of file: %v", err)
	}
	sr.crc.Write(b)
	sr.off += int64(n)
	return b, nil
}

func (sr *snapReader) u32() (uint32, error) {
	b, err := sr.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func read(r *bufio.Reader, size int64) (*Graph, []byte, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, corrupt(0, "reading header: %v", err)
	}
	if err := checkHeader(hdr[:]); err != nil {
		return nil, nil, err
	}
	le := binary.LittleEndian
	cfg := Config{
		Metric:            Metric(hdr[12]),
		Dim:               int(le.Uint32(hdr[16:])),
		M:                 int(le.Uint32(hdr[20:])),
		EfConstruction:    int(le.Uint32(hdr[24:])),
		EfSearch:          int(le.Uint32(hdr[28:])),
		Seed:              le.Uint64(hdr[32:]),
		FilterTwoHopBelow: math.Float64frombits(le.Uint64(hdr[40:])),
		FilterExactCount:  int(le.Uint32(hdr[48:])),
	}
	slots := le.Uint32(hdr[52:])
	entry := le.Uint32(hdr[56:])
	top := int(le.Uint32(hdr[60:]))
	appLen := int64(le.Uint32(hdr[64:]))
	if cfg.Metric == 0 || cfg.M == 0 || cfg.EfConstruction == 0 || cfg.EfSearch == 0 || cfg.FilterTwoHopBelow == 0 {
		return nil, nil, corrupt(12, "header holds a zero parameter")
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, corrupt(12, "header holds an invalid config: %v", err)
	}
	body := size - headerSize - trailerSize
	if appLen > maxAppData || appLen > body {
		return nil, nil, corrupt(64, "app data length %d does not fit the file", appLen)
	}
	// Every slot record takes at least 12 bytes and its vector.
	var permLen int64
	if hdr[13]&flagPermuted != 0 {
		permLen = 4 * int64(cfg.Dim)
	}
	if minRec := int64(12 + 4*cfg.Dim); int64(slots)*minRec > body-appLen-permLen {
		return nil, nil, corrupt(52, "%d slots of dimension %d cannot fit in a body of %d bytes", slots, cfg.Dim, body)
	}
	if (slots == 0) != (entry == noEntry) || (entry != noEntry && entry >= slots) || top > maxLevel {
		return nil, nil, corrupt(56, "entry point %d, top level %d invalid for %d slots", entry, top, slots)
	}
	cfg.Capacity = int(max(slots, 64))
	g, err := New(cfg)
	if err != nil {
		return nil, nil, corrupt(12, "header: %v", err)
	}
	sr := &snapReader{r: r, off: headerSize, crc: crc32.New(castagnoli)}
	app, err := sr.read(int(appLen))
	if err != nil {
		return nil, nil, err
	}
	app = append([]byte(nil), app...)
	switch hdr[13] {
	case 0:
	case flagPermuted:
		pb, err := sr.read(4 * cfg.Dim)
		if err != nil {
			return nil, nil, err
		}
		perm := make([]uint32, cfg.Dim)
		seen := make([]bool, cfg.Dim)
		for i := range perm {
			j := le.Uint32(pb[4*i:])
			if j >= uint32(cfg.Dim) || seen[j] {
				return nil, nil, corrupt(sr.off-int64(len(pb))+int64(4*i), "dimension order is not a permutation")
			}
			seen[j] = true
			perm[i] = j
		}
		g.perm = perm
		g.reordered.Store(true)
	default:
		return nil, nil, corrupt(13, "unknown flags %#x", hdr[13])
	}
	if hdr[14] != 0 || hdr[15] != 0 {
		return nil, nil, corrupt(14, "reserved bytes are not zero")
	}

	highest := -1
	for id := range NodeID(slots) {
		recOff := sr.off
		b, err := sr.read(8)
		if err != nil {
			return nil, nil, err
		}
		state, level, key := b[0], int(b[1]), le.Uint32(b[4:])
		if state != stateLive && state != stateDeleted {
			return nil, nil, corrupt(recOff, "slot %d: unknown state %d", id, state)
		}
		if level > top {
			return nil, nil, corrupt(recOff+1, "slot %d: level %d above the top level %d", id, level, top)
		}
		highest = max(highest, level)
		g.ensureSlot(id)
		c, off := g.locate(id)
		c.keys[off] = key
		c.levels[off] = uint8(level)
		g.setReady(id, true)
		c.upper[off] = g.newUpper(level)
		if state == stateDeleted {
			g.setDeleted(id, true)
			g.mu.deleted++
		} else {
			if _, dup := g.keys.get(key); dup {
				return nil, nil, corrupt(recOff+4, "slot %d: key %d is live twice", id, key)
			}
			g.keys.set(key, id)
			g.live.Add(1)
		}
		vb, err := sr.read(4 * g.dim)
		if err != nil {
			return nil, nil, err
		}
		v := g.vec(id)
		for i := range v {
			x := math.Float32frombits(le.Uint32(vb[4*i:]))
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, nil, corrupt(sr.off-int64(len(vb))+int64(4*i), "slot %d: vector element %d is %v", id, i, x)
			}
			v[i] = x
		}
		for l := 0; l <= level; l++ {
			lk := g.links(id, l)
			cntOff := sr.off
			n, err := sr.u32()
			if err != nil {
				return nil, nil, err
			}
			if int(n) > len(lk)-1 {
				return nil, nil, corrupt(cntOff, "slot %d level %d: %d links exceed the bound %d", id, l, n, len(lk)-1)
			}
			lb, err := sr.read(4 * int(n))
			if err != nil {
				return nil, nil, err
			}
			for i := range int(n) {
				nb := le.Uint32(lb[4*i:])
				if nb >= slots || nb == uint32(id) {
					return nil, nil, corrupt(cntOff+4+int64(4*i), "slot %d level %d: link to %d is out of range or to itself", id, l, nb)
				}
				lk[1+i] = nb
			}
			lk[0] = n
		}
	}
	g.mu.next = NodeID(slots)
	// Links may point forward, so their targets' levels are checked now, and
	// each list is checked for repeats (stamp[x] holds the last list that
	// named x).
	stamp := make([]uint32, slots)
	list := uint32(0)
	for id := range NodeID(slots) {
		for l := 0; l <= g.level(id); l++ {
			list++
			lk := g.links(id, l)
			for _, nb := range lk[1 : 1+lk[0]] {
				if g.level(NodeID(nb)) < l {
					return nil, nil, corrupt(-1, "slot %d level %d: link to slot %d whose top level is %d", id, l, nb, g.level(NodeID(nb)))
				}
				if stamp[nb] == list {
					return nil, nil, corrupt(-1, "slot %d level %d: slot %d linked twice", id, l, nb)
				}
				stamp[nb] = list
				if l == 0 {
					g.inDegree(NodeID(nb)).Add(1)
				}
			}
		}
	}
	if slots > 0 {
		if highest != top || g.level(NodeID(entry)) != top {
			return nil, nil, corrupt(60, "top level %d does not match the nodes (highest %d, entry's %d)", top, highest, g.level(NodeID(entry)))
		}
		g.setEntryPoint(NodeID(entry), top)
	}
	var tr [trailerSize]byte
	if _, err := io.ReadFull(r, tr[:]); err != nil {
		return nil, nil, corrupt(sr.off, "reading trailer: %v", err)
	}
	if string(tr[4:]) != trailerMagic {
		return nil, nil, corrupt(sr.off+4, "bad trailer magic")
	}
	if got, want := sr.crc.Sum32(), le.Uint32(tr[:4]); got != want {
		return nil, nil, corrupt(headerSize, "body checksum mismatch: computed %08x, stored %08x", got, want)
	}
	if sr.off+trailerSize != size {
		return nil, nil, corrupt(sr.off+trailerSize, "%d bytes of garbage after the trailer", size-sr.off-trailerSize)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, nil, corrupt(size, "data after the end of the snapshot")
	}
	return g, app, nil
}
