package filter

import (
	"fmt"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// Index is one shard's metadata index: for every key, the documents that
// have it, the documents per string and boolean value, and range indexes of
// its numbers and times. Documents are named by their shard-local number.
//
// Index is safe for concurrent use. One RWMutex guards it: Eval holds it for
// reading, so evaluations run in parallel with each other; Add and Remove
// hold it for writing, usually for microseconds, and for a few milliseconds
// when a range index of a million values merges its delta (once every
// thousands of writes to that key).
type Index struct {
	deltaMin int // test seam: smallest range-index delta that is merged (0: default)

	mu struct {
		sync.RWMutex
		all    *roaring.Bitmap      // every indexed document; guarded by mu
		maxNum uint32               // largest number ever added (range scratch size); guarded by mu
		keys   map[string]*keyIndex // guarded by mu
	}
}

// keyIndex is what the index holds for one key.
type keyIndex struct {
	exists *roaring.Bitmap    // documents with at least one value
	strs   map[string]posting // string values (times included, as strings)
	bools  [2]*roaring.Bitmap // false, true; nil when empty
	nums   *ordered           // numbers; nil when none
	times  *ordered           // string values that are times; nil when none
}

// posting is the documents with one string value. Most values of a key with
// many distinct values (ids, paths, timestamps) belong to one document, so
// that case is a number, not a bitmap.
type posting struct {
	one uint32          // the only document, while bm is nil
	bm  *roaring.Bitmap // two or more documents
}

func (p *posting) contains(num uint32) bool {
	if p.bm == nil {
		return p.one == num
	}
	return p.bm.Contains(num)
}

func (p *posting) add(num uint32) {
	switch {
	case p.bm != nil:
		p.bm.Add(num)
	case p.one != num:
		p.bm = roaring.BitmapOf(p.one, num)
	}
}

// remove takes num out and reports whether the posting is now empty.
func (p *posting) remove(num uint32) bool {
	if p.bm == nil {
		return p.one == num
	}
	p.bm.Remove(num)
	if p.bm.GetCardinality() == 1 {
		p.one, p.bm = p.bm.Minimum(), nil
	}
	return false
}

// bitmap returns the documents; the bitmap is the index's own unless owned.
func (p *posting) bitmap() (b *roaring.Bitmap, owned bool) {
	if p.bm == nil {
		return roaring.BitmapOf(p.one), true
	}
	return p.bm, false
}

// New returns an empty index.
func New() *Index {
	x := &Index{}
	x.mu.all = roaring.New()
	x.mu.keys = make(map[string]*keyIndex)
	return x
}

// Len returns the number of indexed documents.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return int(x.mu.all.GetCardinality())
}

// ValidateMetadata checks metadata as Add would, without indexing it: a
// JSON object whose values are strings, numbers, booleans or lists of
// those. It returns the *MetadataError Add would.
func ValidateMetadata(metadata []byte) error {
	_, err := parseMetadata(metadata)
	return err
}

// Add indexes document num with its metadata, a JSON object whose values
// are strings, numbers, booleans or lists of those (null, and lists of
// nothing but nulls, count as absent; empty input is an empty object). The
// metadata is checked first: on error (a *MetadataError, ErrDuplicate)
// nothing is indexed.
func (x *Index) Add(num uint32, metadata []byte) error {
	fields, err := parseMetadata(metadata)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.mu.all.Contains(num) {
		return fmt.Errorf("%w: %d", ErrDuplicate, num)
	}
	deltaMin := x.deltaMinOrDefault()
	for i := range fields {
		f := &fields[i]
		k := x.mu.keys[f.key]
		if k == nil {
			k = &keyIndex{exists: roaring.New()}
			x.mu.keys[f.key] = k
		}
		k.exists.Add(num)
		for _, v := range f.vals {
			switch v.kind {
			case kindString:
				if v.isTime {
					if k.times == nil {
						k.times = &ordered{coded: true}
					}
					k.times.add(timeKey(v.ns), num, v.code, deltaMin)
				}
				if v.compact() {
					break // the time index holds it
				}
				if k.strs == nil {
					k.strs = make(map[string]posting)
				}
				if p, ok := k.strs[v.str]; ok {
					p.add(num)
					k.strs[v.str] = p
				} else {
					k.strs[v.str] = posting{one: num}
				}
			case kindNumber:
				if k.nums == nil {
					k.nums = new(ordered)
				}
				k.nums.add(numKey(v.num), num, 0, deltaMin)
			case kindBool:
				i := boolIndex(v.b)
				if k.bools[i] == nil {
					k.bools[i] = roaring.New()
				}
				k.bools[i].Add(num)
			}
		}
	}
	x.mu.all.Add(num)
	x.mu.maxNum = max(x.mu.maxNum, num)
	return nil
}

// Remove takes document num out of the index. metadata must be what the
// document was added with: the index keeps no copy of it. Remove checks what
// it cheaply can first (that the document is indexed, and has every key and
// every string and boolean value given); on error (a *MetadataError,
// ErrNotFound, ErrMismatch) nothing is removed. A number or time value (a
// time string the time index holds alone) that differs from the one added
// is not detected.
func (x *Index) Remove(num uint32, metadata []byte) error {
	fields, err := parseMetadata(metadata)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.mu.all.Contains(num) {
		return fmt.Errorf("%w: %d", ErrNotFound, num)
	}
	for i := range fields {
		f := &fields[i]
		k := x.mu.keys[f.key]
		if k == nil || !k.exists.Contains(num) {
			return fmt.Errorf("%w: document %d has no key %q", ErrMismatch, num, f.key)
		}
		for _, v := range f.vals {
			var ok bool
			switch v.kind {
			case kindString:
				p, found := k.strs[v.str]
				ok = v.compact() || found && p.contains(num)
			case kindBool:
				b := k.bools[boolIndex(v.b)]
				ok = b != nil && b.Contains(num)
			default:
				ok = true
			}
			if !ok {
				return fmt.Errorf("%w: document %d has no value %q for key %q", ErrMismatch, num, v.str, f.key)
			}
		}
	}
	deltaMin := x.deltaMinOrDefault()
	for i := range fields {
		f := &fields[i]
		k := x.mu.keys[f.key]
		var nums, times int
		for _, v := range f.vals {
			switch v.kind {
			case kindString:
				if p, ok := k.strs[v.str]; ok && !v.compact() {
					if p.remove(num) {
						delete(k.strs, v.str)
					} else {
						k.strs[v.str] = p
					}
				}
				if v.isTime {
					times++
				}
			case kindNumber:
				nums++
			case kindBool:
				i := boolIndex(v.b)
				if b := k.bools[i]; b != nil {
					b.Remove(num)
					if b.IsEmpty() {
						k.bools[i] = nil
					}
				}
			}
		}
		if nums > 0 && k.nums != nil && k.nums.remove(num, nums, deltaMin) {
			k.nums = nil
		}
		if times > 0 && k.times != nil && k.times.remove(num, times, deltaMin) {
			k.times = nil
		}
		k.exists.Remove(num)
		if k.exists.IsEmpty() {
			delete(x.mu.keys, f.key)
		}
	}
	x.mu.all.Remove(num)
	return nil
}

func (x *Index) deltaMinOrDefault() int {
	if x.deltaMin > 0 {
		return x.deltaMin
	}
	return defaultDeltaMin
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
