package filter

import (
	"math"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// ordered is the range index of one key's values of one kind (numbers or
// times): each value as an order-preserving uint64 (numKey, timeKey) paired
// with its document's number, in two parts.
//
//   - The main part, keys and nums, sorted by key. A range is two binary
//     searches and a contiguous run of nums, so a narrow range costs
//     O(log n + hits) and a wide one O(hits) with a sequential read.
//   - The delta, dkeys and dnums, the pairs added since the last merge, in
//     arrival order; every range scans it. It is merged into the main part
//     (sort the delta, merge backwards in place: O(n + d log d)) once it
//     holds mergeAt(n) pairs, which keeps both the scan and the amortized
//     merge cost per write near O(√n).
//
// Remove takes a document's pairs out of the delta at once; its pairs in the
// main part stay until the next merge, and stale (the documents removed
// since then) hides them from ranges. A document removed and added again
// has stale pairs in the main part and live ones in the delta: ranges take
// main minus stale, plus delta, which is right.
//
// Not safe for concurrent use; Index guards it.
//
// A time index also keeps each pair's format code (codes, dcodes; nil in a
// number index), so that it can answer string equality for the time strings
// it holds in place of the string postings (see timeCode).
type ordered struct {
	keys   []uint64
	nums   []uint32
	codes  []uint16
	stale  *roaring.Bitmap // nil when empty
	dkeys  []uint64
	dnums  []uint32
	dcodes []uint16
	coded  bool // codes are kept
	live   int  // live pairs, main and delta
}

// defaultDeltaMin is the smallest delta that triggers a merge.
const defaultDeltaMin = 1024

// mergeAt returns the delta size (and the stale count) at which a main part
// of n pairs is merged: 4√n, at least min.
func mergeAt(n, min int) int {
	return max(min, 4*int(math.Sqrt(float64(n))))
}

func (o *ordered) add(k uint64, num uint32, code uint16, deltaMin int) {
	o.dkeys = append(o.dkeys, k)
	o.dnums = append(o.dnums, num)
	if o.coded {
		o.dcodes = append(o.dcodes, code)
	}
	o.live++
	if len(o.dkeys) >= mergeAt(len(o.keys), deltaMin) {
		o.merge()
	}
}

// remove takes document num's n pairs out of the index and reports whether
// it is now empty.
func (o *ordered) remove(num uint32, n int, deltaMin int) (empty bool) {
	defer func() {
		if o.live <= 0 {
			// Merge to be sure: a caller that passed the wrong metadata
			// may have made the count wrong; the merge recounts.
			o.merge()
			o.live = len(o.keys)
			empty = o.live == 0
		}
	}()
	o.live -= n
	// Pairs in the delta go now (swap with the last; order does not matter).
	found := 0
	for i := 0; i < len(o.dnums); {
		if o.dnums[i] == num {
			last := len(o.dnums) - 1
			o.dkeys[i], o.dnums[i] = o.dkeys[last], o.dnums[last]
			o.dkeys, o.dnums = o.dkeys[:last], o.dnums[:last]
			if o.coded {
				o.dcodes[i] = o.dcodes[last]
				o.dcodes = o.dcodes[:last]
			}
			found++
			continue
		}
		i++
	}
	if found == n {
		return false // none in the main part
	}
	if o.stale == nil {
		o.stale = roaring.New()
	}
	o.stale.Add(num)
	if int(o.stale.GetCardinality()) >= mergeAt(len(o.keys), deltaMin) {
		o.merge()
	}
	return false
}

// merge drops the stale pairs of the main part and merges the delta into it.
func (o *ordered) merge() {
	if o.stale != nil {
		var dense []uint64
		if o.stale.GetCardinality() > 64 {
			dense = make([]uint64, o.stale.Maximum()/64+1)
			o.stale.WriteDenseTo(dense)
		}
		j := 0
		for i, n := range o.nums {
			var gone bool
			if dense != nil {
				w := n / 64
				gone = int(w) < len(dense) && dense[w]&(1<<(n%64)) != 0
			} else {
				gone = o.stale.Contains(n)
			}
			if !gone {
				o.keys[j], o.nums[j] = o.keys[i], o.nums[i]
				if o.coded {
					o.codes[j] = o.codes[i]
				}
				j++
			}
		}
		o.keys, o.nums = o.keys[:j], o.nums[:j]
		if o.coded {
			o.codes = o.codes[:j]
		}
		o.stale = nil
	}
	d := len(o.dkeys)
	if d == 0 {
		o.shrink()
		return
	}
	// Sort the delta by key.
	idx := make([]int32, d)
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		ka, kb := o.dkeys[a], o.dkeys[b]
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	// Merge backwards in place: the main part is moved up into the room the
	// append made, largest key first.
	n := len(o.keys)
	o.keys = slices.Grow(o.keys, d)[:n+d]
	o.nums = slices.Grow(o.nums, d)[:n+d]
	if o.coded {
		o.codes = slices.Grow(o.codes, d)[:n+d]
	}
	i, j := n-1, d-1
	for w := n + d - 1; j >= 0; w-- {
		if i >= 0 && o.keys[i] > o.dkeys[idx[j]] {
			o.keys[w], o.nums[w] = o.keys[i], o.nums[i]
			if o.coded {
				o.codes[w] = o.codes[i]
			}
			i--
		} else {
			o.keys[w], o.nums[w] = o.dkeys[idx[j]], o.dnums[idx[j]]
			if o.coded {
				o.codes[w] = o.dcodes[idx[j]]
			}
			j--
		}
	}
	o.dkeys, o.dnums, o.dcodes = o.dkeys[:0], o.dnums[:0], o.dcodes[:0]
	o.shrink()
}

// shrink gives back the room of a main part that has lost most of its
// pairs, and the delta's once it is merged.
func (o *ordered) shrink() {
	if n := len(o.keys); cap(o.keys) > 1024 && n < cap(o.keys)/4 {
		o.keys = slices.Clip(slices.Clone(o.keys))
		o.nums = slices.Clip(slices.Clone(o.nums))
		if o.coded {
			o.codes = slices.Clip(slices.Clone(o.codes))
		}
	}
	if cap(o.dkeys) > 4*defaultDeltaMin {
		o.dkeys, o.dnums, o.dcodes = nil, nil, nil
	}
}

// lowerBound returns the first index of keys holding a key ≥ k.
func lowerBound(keys []uint64, k uint64) int {
	lo, hi := 0, len(keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if keys[m] < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// collect returns a new bitmap of the documents with a pair in [lo, hi].
// maxNum bounds every document number in the index.
func (o *ordered) collect(lo, hi uint64, maxNum uint32) *roaring.Bitmap {
	if lo > hi {
		return roaring.New()
	}
	i := lowerBound(o.keys, lo)
	j := len(o.keys)
	if hi < math.MaxUint64 {
		j = lowerBound(o.keys, hi+1)
	}
	main := o.nums[i:j]
	var extra []uint32
	for k, key := range o.dkeys {
		if key >= lo && key <= hi {
			extra = append(extra, o.dnums[k])
		}
	}
	return buildBitmap(main, o.stale, extra, maxNum)
}

// collectCode returns a new bitmap of the documents with a pair at key k
// whose format code is code: the documents whose string is the one k and
// code write. The pairs at one key are few, so they are looked at one by one.
func (o *ordered) collectCode(k uint64, code uint16) *roaring.Bitmap {
	b := roaring.New()
	for i := lowerBound(o.keys, k); i < len(o.keys) && o.keys[i] == k; i++ {
		if o.codes[i] == code {
			b.Add(o.nums[i])
		}
	}
	if o.stale != nil {
		b.AndNot(o.stale)
	}
	for i, dk := range o.dkeys {
		if dk == k && o.dcodes[i] == code {
			b.Add(o.dnums[i])
		}
	}
	return b
}

// densePool holds zeroed scratch bit sets for buildBitmap.
var densePool = sync.Pool{New: func() any { return new([]uint64) }}

// buildBitmap returns a new bitmap of main minus stale (nil: none), plus
// extra. The numbers come in any order. Many of them (a wide range) are set
// in a dense bit set that roaring converts in one pass; few are sorted and
// added.
func buildBitmap(main []uint32, stale *roaring.Bitmap, extra []uint32, maxNum uint32) *roaring.Bitmap {
	n := len(main)
	words := int(maxNum/64) + 1
	var b *roaring.Bitmap
	switch {
	case n == 0:
		b = roaring.New()
	case n >= words/denseRatio && words <= maxDenseWords:
		b = denseBitmap(main, words)
	default:
		b = sortedBitmap(main)
	}
	if stale != nil {
		b.AndNot(stale)
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		b.AddMany(extra)
	}
	return b
}

// denseBitmap sets nums (each below 64·words) in a scratch bit set and
// converts it.
func denseBitmap(nums []uint32, words int) *roaring.Bitmap {
	p := densePool.Get().(*[]uint64)
	if cap(*p) < words {
		*p = make([]uint64, words)
	}
	d := (*p)[:words]
	for _, x := range nums {
		d[x>>6] |= 1 << (x & 63)
	}
	b := roaring.FromDense(d, true)
	clear(d)
	densePool.Put(p)
	return b
}

// sortedBitmap sorts a copy of nums and adds them in order.
func sortedBitmap(nums []uint32) *roaring.Bitmap {
	s := slices.Clone(nums)
	slices.Sort(s)
	b := roaring.New()
	b.AddMany(s)
	return b
}

// denseRatio: buildBitmap takes the dense path when the numbers are at least
// 1/denseRatio of the words of a bit set up to the largest number. Measured
// with BenchmarkBuildBitmap (the crossover of the two paths).
const denseRatio = 32

// maxDenseWords caps the scratch bit set at 16 MiB (document numbers below
// 2²⁷); a shard with larger numbers takes the sorting path.
const maxDenseWords = 1 << 21
