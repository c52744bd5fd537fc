package text

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Names inside the bleve index. On-disk format; do not change.
const (
	fieldText = "text" // the analysed text: postings with frequencies and norms
	fieldLen  = "len"  // stored only: the text's length in tokens, in decimal

	keyFormat   = "ragd.format"    // formatVersion
	keyAnalyzer = "ragd.analyzer"  // Config.Analyzer of the index's creator
	keySeq      = "ragd.seq"       // 8 bytes big-endian: the last applied sequence
	keyTotalLen = "ragd.total_len" // 8 bytes big-endian: Σ len over live documents

	formatVersion = "1"
	rootFile      = "root.bolt" // scorch's root file; its presence marks an index
	lockTimeout   = time.Second // how long Open waits for the folder's lock
	flushTimeout  = time.Minute // how long Flush waits for bleve's persister
)

// Doc is one document to index: its number in the shard and its text.
type Doc struct {
	Num  uint32
	Text string
}

// Index is the BM25 text index of one shard: a bleve (scorch) index in one
// folder. Every method is safe for concurrent use; Apply calls run one at a
// time, and searches run alongside them on the last applied state.
//
// Lock order: writeMu, then mu.
type Index struct {
	dir      string
	cfg      Config
	analyzer analysis.Analyzer
	queue    *index.AnalysisQueue // bleve's analysis workers, owned and closed by Close
	bi       index.Index          // the scorch index

	seq atomic.Uint64 // the last applied sequence; written under writeMu

	writeMu  sync.Mutex // serialises Apply
	totalLen uint64     // guarded by writeMu: Σ document lengths as last applied

	mu struct {
		sync.RWMutex // held for reading by every operation, for writing by Close
		closed       bool
	}
}

// Open opens the index in dir, or creates it when dir is missing or empty.
//
// A folder that exists but cannot be used — a segment that fails its
// checksum, a root file bleve cannot read, missing bookkeeping — yields an
// error wrapping ErrCorrupt (a *CorruptionError): delete the folder and
// rebuild. Open verifies the checksum of every segment the index refers to,
// so it reads the whole index once. A folder built with another analyzer
// yields ErrAnalyzerMismatch; one that another Index holds open, ErrLocked.
func Open(dir string, cfg Config) (*Index, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	an, err := newAnalyzer(cfg.Analyzer)
	if err != nil {
		return nil, err
	}
	fresh, err := prepareDir(dir)
	if err != nil {
		return nil, err
	}
	if !fresh {
		if err := verify(dir); err != nil {
			return nil, err
		}
	}
	queue := index.NewAnalysisQueue(runtime.GOMAXPROCS(0))
	bi, err := openScorch(dir, false, queue)
	if err != nil {
		queue.Close()
		return nil, err
	}
	x := &Index{dir: dir, cfg: cfg, analyzer: an, queue: queue, bi: bi}
	if err := x.load(); err != nil {
		err = errors.Join(err, bi.Close())
		queue.Close()
		return nil, err
	}
	return x, nil
}

// prepareDir creates dir if it is missing and reports whether it holds no
// index yet (missing or empty). A non-empty folder without scorch's root
// file is corrupt: an index is never left that way.
func prepareDir(dir string) (fresh bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, fmt.Errorf("text: create %s: %w", dir, err)
		}
		return true, nil
	case errors.Is(err, fs.ErrPermission):
		return false, fmt.Errorf("text: open %s: %w", dir, err)
	case err != nil:
		return false, &CorruptionError{Path: dir, Reason: "not a readable folder", Err: err}
	case len(entries) == 0:
		return true, nil
	}
	if _, err := os.Stat(filepath.Join(dir, rootFile)); err != nil {
		return false, &CorruptionError{Path: dir, Reason: "no " + rootFile, Err: err}
	}
	return false, nil
}

// openScorch opens the scorch index in dir. bleve panics on some damaged
// files (a truncated segment footer, a garbage bolt page); the panic comes
// back as a *CorruptionError.
func openScorch(dir string, readOnly bool, queue *index.AnalysisQueue) (bi index.Index, err error) {
	defer func() {
		if r := recover(); r != nil {
			bi = nil
			err = &CorruptionError{Path: dir, Reason: fmt.Sprintf("bleve panicked opening it: %v", r)}
		}
	}()
	config := map[string]any{
		"path":         dir,
		"bolt_timeout": lockTimeout.String(),
	}
	if readOnly {
		config["read_only"] = true
	} else {
		// A batch returns once searchable; bleve's persister writes it in
		// the background (see Apply and Flush).
		config["unsafe_batch"] = true
	}
	bi, err = scorch.NewScorch(scorch.Name, config, queue)
	if err != nil {
		return nil, fmt.Errorf("text: open %s: %w", dir, err)
	}
	if err := bi.Open(); err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("text: open %s: %w", dir, err)
		}
		return nil, &CorruptionError{Path: dir, Reason: "bleve cannot open it", Err: err}
	}
	return bi, nil
}

// load reads the index's bookkeeping, writing it first into a new index.
func (x *Index) load() error {
	r, err := x.bi.Reader()
	if err != nil {
		return &CorruptionError{Path: x.dir, Reason: "no reader", Err: err}
	}
	format, err1 := r.GetInternal([]byte(keyFormat))
	analyzer, err2 := r.GetInternal([]byte(keyAnalyzer))
	seq, err3 := r.GetInternal([]byte(keySeq))
	total, err4 := r.GetInternal([]byte(keyTotalLen))
	docs, err5 := r.DocCount()
	if err := errors.Join(err1, err2, err3, err4, err5, r.Close()); err != nil {
		return &CorruptionError{Path: x.dir, Reason: "bookkeeping unreadable", Err: err}
	}
	if format == nil {
		if docs != 0 || seq != nil {
			return &CorruptionError{Path: x.dir, Reason: "no format marker"}
		}
		// A new index, or one whose creation stopped before this batch.
		b := index.NewBatch()
		b.SetInternal([]byte(keyFormat), []byte(formatVersion))
		b.SetInternal([]byte(keyAnalyzer), []byte(x.cfg.Analyzer))
		b.SetInternal([]byte(keySeq), u64(0))
		b.SetInternal([]byte(keyTotalLen), u64(0))
		if err := x.bi.Batch(b); err != nil {
			return fmt.Errorf("text: create %s: %w", x.dir, err)
		}
		return nil
	}
	if string(format) != formatVersion {
		return &CorruptionError{Path: x.dir, Reason: fmt.Sprintf("unknown format %q", format)}
	}
	if string(analyzer) != x.cfg.Analyzer {
		return fmt.Errorf("%w: %s holds analyzer %q, config asks for %q",
			ErrAnalyzerMismatch, x.dir, analyzer, x.cfg.Analyzer)
	}
	if len(seq) != 8 || len(total) != 8 {
		return &CorruptionError{Path: x.dir, Reason: "bad sequence or total length"}
	}
	x.seq.Store(binary.BigEndian.Uint64(seq))
	x.totalLen = binary.BigEndian.Uint64(total)
	return nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// docID is the bleve document ID of document num: eight lowercase hex
// digits, so that IDs sort as numbers do.
func docID(num uint32) string {
	const hex = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = hex[num&15]
		num >>= 4
	}
	return string(b[:])
}

// parseDocID inverts docID.
func parseDocID[S string | []byte](id S) (uint32, bool) {
	if len(id) != 8 {
		return 0, false
	}
	var n uint32
	for i := 0; i < 8; i++ {
		c := id[i]
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | uint32(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | uint32(c-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// Seq returns the sequence number recorded by the last Apply: 0 for a new
// index. It survives Close and Open.
func (x *Index) Seq() uint64 { return x.seq.Load() }

// Count returns the number of documents in the index.
func (x *Index) Count() (uint64, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.mu.closed {
		return 0, ErrClosed
	}
	r, err := x.bi.Reader()
	if err != nil {
		return 0, fmt.Errorf("text: count: %w", err)
	}
	n, err := r.DocCount()
	return n, errors.Join(err, r.Close())
}

// Apply indexes puts, replacing any document with the same number, removes
// deletes, and records seq as the last applied sequence — all in one bleve
// batch, so a crash leaves either all of it or none. When a number appears
// more than once, its last put wins and a delete beats any put. Deleting a
// number the index does not hold is not an error.
//
// seq must not be below Seq(); equal is fine (a change applied in several
// batches, or a sequence recorded with no documents).
//
// Apply returns once the batch is searchable. bleve's persister writes it
// to disk in the background, usually within milliseconds; Flush waits for
// it, and Close flushes. A crash may lose the batches not yet written,
// never part of one: the folder then holds an earlier state whose Seq tells
// the caller where to replay its change log from. (Waiting for the disk in
// every Apply costs about 7 ms per batch here, which a stream of single
// upserts would pay each time.)
func (x *Index) Apply(seq uint64, puts []Doc, deletes []uint32) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.mu.closed {
		return ErrClosed
	}
	if cur := x.seq.Load(); seq < cur {
		return fmt.Errorf("%w: seq %d is below the index's %d", ErrInvalidArgument, seq, cur)
	}

	// The final operation per number: an index into puts, or -1 to delete.
	final := make(map[uint32]int, len(puts)+len(deletes))
	for i, d := range puts {
		final[d.Num] = i
	}
	for _, n := range deletes {
		final[n] = -1
	}
	nums := make([]uint32, 0, len(final))
	for n := range final {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	ids := make([]string, len(nums))
	var work []int // indexes into puts to analyse
	for i, n := range nums {
		ids[i] = docID(n)
		if p := final[n]; p >= 0 {
			work = append(work, p)
		}
	}

	tokens := x.analyzeAll(puts, work)
	old, err := x.lengths(ids)
	if err != nil {
		return err
	}

	b := index.NewBatch()
	total := x.totalLen
	for i, n := range nums {
		if l, ok := old[n]; ok {
			if l > total {
				return &CorruptionError{Path: x.dir, Reason: "total length below a document's length"}
			}
			total -= l
		}
		p := final[n]
		if p < 0 {
			if _, ok := old[n]; ok {
				b.Delete(ids[i])
			}
			continue
		}
		ts := tokens[p]
		doc := document.NewDocument(ids[i])
		doc.AddField(document.NewTextFieldCustom(fieldText, nil, nil, index.IndexField, pretokenized(ts)))
		doc.AddField(document.NewTextFieldWithIndexingOptions(fieldLen, nil,
			strconv.AppendUint(nil, uint64(len(ts)), 10), index.StoreField))
		b.Update(doc)
		total += uint64(len(ts))
	}
	b.SetInternal([]byte(keySeq), u64(seq))
	b.SetInternal([]byte(keyTotalLen), u64(total))
	if err := x.bi.Batch(b); err != nil {
		return fmt.Errorf("text: apply seq %d: %w", seq, err)
	}
	x.totalLen = total
	x.seq.Store(seq)
	return nil
}

// pretokenized is an analyzer that returns tokens analysed beforehand, so
// that bleve does not analyse a text a second time.
type pretokenized analysis.TokenStream

func (p pretokenized) Analyze([]byte) analysis.TokenStream { return analysis.TokenStream(p) }

// analyzeAll analyses puts[p] for every p in work, in parallel; the result
// is indexed like puts.
func (x *Index) analyzeAll(puts []Doc, work []int) []analysis.TokenStream {
	out := make([]analysis.TokenStream, len(puts))
	const chunk = 32
	workers := min(runtime.GOMAXPROCS(0), (len(work)+chunk-1)/chunk)
	if workers <= 1 {
		for _, p := range work {
			out[p] = x.analyze(puts[p].Text)
		}
		return out
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				from := int(next.Add(chunk)) - chunk
				if from >= len(work) {
					return
				}
				for _, p := range work[from:min(from+chunk, len(work))] {
					out[p] = x.analyze(puts[p].Text)
				}
			}
		})
	}
	wg.Wait()
	return out
}

func (x *Index) analyze(text string) analysis.TokenStream {
	return x.analyzer.Analyze([]byte(text))
}

// lengths returns the stored lengths of the documents among ids that the
// index holds, by number.
func (x *Index) lengths(ids []string) (map[uint32]uint64, error) {
	out := make(map[uint32]uint64)
	if len(ids) == 0 {
		return out, nil
	}
	r, err := x.bi.Reader()
	if err != nil {
		return nil, fmt.Errorf("text: read lengths: %w", err)
	}
	defer r.Close()
	dr, err := r.DocIDReaderOnly(ids)
	if err != nil {
		return nil, fmt.Errorf("text: read lengths: %w", err)
	}
	defer dr.Close()
	for {
		iid, err := dr.Next()
		if err != nil {
			return nil, fmt.Errorf("text: read lengths: %w", err)
		}
		if iid == nil {
			return out, nil
		}
		ext, err := r.ExternalID(iid)
		if err != nil {
			return nil, fmt.Errorf("text: read lengths: %w", err)
		}
		num, ok := parseDocID(ext)
		if !ok {
			return nil, &CorruptionError{Path: x.dir, Reason: fmt.Sprintf("bad document ID %q", ext)}
		}
		doc, err := r.Document(ext)
		if err != nil {
			return nil, fmt.Errorf("text: read lengths: %w", err)
		}
		l, ok := storedLen(doc)
		if !ok {
			return nil, &CorruptionError{Path: x.dir, Reason: fmt.Sprintf("document %d has no length", num)}
		}
		out[num] = l
	}
}

// storedLen returns the length stored with doc.
func storedLen(doc index.Document) (l uint64, ok bool) {
	if doc == nil {
		return 0, false
	}
	doc.VisitFields(func(f index.Field) {
		if f.Name() == fieldLen {
			v, err := strconv.ParseUint(string(f.Value()), 10, 64)
			l, ok = v, err == nil
		}
	})
	return l, ok
}

// Flush waits until every batch applied so far is on disk. It holds the
// write lock only to queue its marker batch: Apply goes on while it waits
// for bleve's persister, which under load takes seconds.
func (x *Index) Flush() error {
	x.writeMu.Lock()
	x.mu.RLock() // held until the wait ends, so Close waits for it
	defer x.mu.RUnlock()
	if x.mu.closed {
		x.writeMu.Unlock()
		return ErrClosed
	}
	done, err := x.startFlush()
	x.writeMu.Unlock()
	if err != nil {
		return err
	}
	return x.waitFlush(done)
}

// flush applies a batch that changes nothing and waits for bleve to report
// it persisted: its persister writes snapshots in order, so every earlier
// batch is then on disk too. The caller holds writeMu.
func (x *Index) flush() error {
	done, err := x.startFlush()
	if err != nil {
		return err
	}
	return x.waitFlush(done)
}

// startFlush queues flush's marker batch; done receives its outcome once
// it is persisted. The caller holds writeMu.
func (x *Index) startFlush() (<-chan error, error) {
	done := make(chan error, 1)
	b := index.NewBatch()
	b.SetInternal([]byte(keySeq), u64(x.seq.Load()))
	b.SetPersistedCallback(func(err error) { done <- err })
	if err := x.bi.Batch(b); err != nil {
		return nil, fmt.Errorf("text: flush %s: %w", x.dir, err)
	}
	return done, nil
}

func (x *Index) waitFlush(done <-chan error) error {
	t := time.NewTimer(flushTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("text: flush %s: %w", x.dir, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("text: flush %s: bleve persisted nothing in %v", x.dir, flushTimeout)
	}
}

// Close waits for running operations, writes what is not on disk yet,
// closes the index and stops bleve's goroutines. Calling Close again
// returns nil.
func (x *Index) Close() error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.mu.closed {
		return nil
	}
	x.mu.closed = true
	err := x.flush()
	if cerr := x.bi.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("text: close %s: %w", x.dir, cerr))
	}
	x.queue.Close()
	return err
}
