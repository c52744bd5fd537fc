package filter

import (
	"math"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// Eval returns the documents of universe that f selects, as a new bitmap
// the caller owns. universe is the set must_not, should and exists false
// are taken against (the shard's live documents); nil means every document
// in the index. f nil or empty selects all of universe. Keys and values the
// index has never seen select nothing; they are not errors.
//
// f is checked for what evaluation needs (Validate without the size
// limits, which Parse has applied to untrusted input); a bad filter is an
// *Error. universe is only read, and must not change during the call.
func (x *Index) Eval(f *Filter, universe *roaring.Bitmap) (*roaring.Bitmap, error) {
	v := validator{}
	if err := v.filter(f, nil, 1); err != nil {
		return nil, err
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	u := universe
	if u == nil {
		u = x.mu.all
	}
	e := evaluator{x: x, u: u, maxNum: x.mu.maxNum}
	r := e.filter(f)
	if !r.owned {
		return r.bm.Clone(), nil
	}
	return r.bm, nil
}

// set is an intermediate result. A set that is not owned is a bitmap of the
// index (or the universe) and must not be changed.
type set struct {
	bm    *roaring.Bitmap
	owned bool // ours to change and to return
	inU   bool // known to be a subset of the universe
	isU   bool // the universe itself
}

type evaluator struct {
	x      *Index
	u      *roaring.Bitmap
	maxNum uint32
}

func (e *evaluator) universe() set { return set{bm: e.u, inU: true, isU: true} }

func empty() set { return set{bm: roaring.New(), owned: true, inU: true} }

func owned(b *roaring.Bitmap) set { return set{bm: b, owned: true} }

// filter evaluates f within the universe; the result is a subset of it.
func (e *evaluator) filter(f *Filter) set {
	acc := e.universe()
	if f == nil {
		return acc
	}
	for i := range f.Must {
		acc = e.and(acc, e.condition(&f.Must[i]))
		if acc.bm.IsEmpty() {
			return empty()
		}
	}
	if len(f.Should) > 0 {
		acc = e.and(acc, e.or(f.Should))
	}
	if len(f.MustNot) > 0 && !acc.bm.IsEmpty() {
		acc = e.andNot(acc, e.or(f.MustNot))
	}
	return acc // and keeps acc within the universe
}

func (e *evaluator) and(a, b set) set {
	switch {
	case a.isU:
		if b.isU {
			return a
		}
		if !b.inU {
			return e.and(b, set{bm: e.u, inU: true})
		}
		return b
	case b.isU:
		if !a.inU {
			return e.and(a, set{bm: e.u, inU: true})
		}
		return a
	case a.owned:
		a.bm.And(b.bm)
		a.inU = a.inU || b.inU
		return a
	case b.owned:
		b.bm.And(a.bm)
		b.inU = a.inU || b.inU
		return b
	}
	r := owned(roaring.And(a.bm, b.bm))
	r.inU = a.inU || b.inU
	return r
}

func (e *evaluator) andNot(a, b set) set {
	if a.owned {
		a.bm.AndNot(b.bm)
		a.isU = false
		return a
	}
	r := owned(roaring.AndNot(a.bm, b.bm))
	r.inU = a.inU
	return r
}

// or evaluates conditions and returns their union.
func (e *evaluator) or(conds []Condition) set {
	if len(conds) == 1 {
		return e.condition(&conds[0])
	}
	sets := make([]set, len(conds))
	for i := range conds {
		sets[i] = e.condition(&conds[i])
	}
	return union(sets)
}

func union(sets []set) set {
	switch len(sets) {
	case 0:
		return empty()
	case 1:
		return sets[0]
	}
	inU := true
	bms := make([]*roaring.Bitmap, len(sets))
	for i, s := range sets {
		if s.isU {
			return s
		}
		inU = inU && s.inU
		bms[i] = s.bm
	}
	r := owned(roaring.FastOr(bms...))
	r.inU = inU
	return r
}

func (e *evaluator) condition(c *Condition) set {
	if c.Filter != nil {
		return e.filter(c.Filter)
	}
	k := e.x.mu.keys[c.Key]
	switch {
	case c.Exists != nil:
		if *c.Exists {
			if k == nil {
				return empty()
			}
			return set{bm: k.exists}
		}
		if k == nil {
			return e.universe()
		}
		r := owned(roaring.AndNot(e.u, k.exists))
		r.inU = true
		return r
	case k == nil:
		return empty()
	case c.Match != nil:
		if c.Match.Any == nil {
			return e.match(k, c.Match.Value)
		}
		sets := make([]set, 0, len(c.Match.Any))
		for _, v := range c.Match.Any {
			if s := e.match(k, v); !s.bm.IsEmpty() {
				sets = append(sets, s)
			}
		}
		return union(sets)
	case c.Range != nil:
		return e.rangeSet(k, c.Range)
	}
	return empty() // unreachable for a validated condition
}

// match returns the documents whose value for k equals v.
func (e *evaluator) match(k *keyIndex, v any) set {
	switch v := v.(type) {
	case string:
		if ns, code, ok := parseTime(v); ok && code != noCode {
			if k.times == nil {
				return empty()
			}
			return owned(k.times.collectCode(timeKey(ns), code))
		}
		if p, ok := k.strs[v]; ok {
			b, own := p.bitmap()
			return set{bm: b, owned: own}
		}
	case float64:
		if k.nums != nil {
			key := numKey(v)
			return owned(k.nums.collect(key, key, e.maxNum))
		}
	case bool:
		if b := k.bools[boolIndex(v)]; b != nil {
			return set{bm: b}
		}
	}
	return empty()
}

func (e *evaluator) rangeSet(k *keyIndex, r *Range) set {
	var o *ordered
	var lo, hi uint64 = 0, math.MaxUint64
	ok := true
	if isTimeRange(r) {
		o = k.times
		if r.GTE != nil {
			ok = lowerTime(&lo, r.GTE.t, false) && ok
		}
		if r.GT != nil {
			ok = lowerTime(&lo, r.GT.t, true) && ok
		}
		if r.LTE != nil {
			ok = upperTime(&hi, r.LTE.t, false) && ok
		}
		if r.LT != nil {
			ok = upperTime(&hi, r.LT.t, true) && ok
		}
	} else {
		o = k.nums
		if r.GTE != nil {
			lo = numKey(r.GTE.num)
		}
		if r.GT != nil {
			ok = lower(&lo, numKey(r.GT.num), true) && ok
		}
		if r.LTE != nil {
			hi = numKey(r.LTE.num)
		}
		if r.LT != nil {
			ok = upper(&hi, numKey(r.LT.num), true) && ok
		}
	}
	if o == nil || !ok || lo > hi {
		return empty()
	}
	return owned(o.collect(lo, hi, e.maxNum))
}

func isTimeRange(r *Range) bool {
	for _, b := range [...]*Bound{r.GT, r.GTE, r.LT, r.LTE} {
		if b != nil {
			return b.isTime
		}
	}
	return false
}

// lower sets *lo to the smallest key above k (strict) or k, and reports
// false when there is none.
func lower(lo *uint64, k uint64, strict bool) bool {
	if strict {
		if k == math.MaxUint64 {
			return false
		}
		k++
	}
	*lo = k
	return true
}

// upper sets *hi to the largest key below k (strict) or k, and reports
// false when there is none.
func upper(hi *uint64, k uint64, strict bool) bool {
	if strict {
		if k == 0 {
			return false
		}
		k--
	}
	*hi = k
	return true
}

// lowerTime is lower for a time bound, which may lie outside the instants a
// time value can have: before them it bounds nothing, after them it admits
// nothing.
func lowerTime(lo *uint64, t time.Time, strict bool) bool {
	switch {
	case t.Before(minTime):
		return true
	case t.After(maxTime):
		return false
	}
	return lower(lo, timeKey(t.UnixNano()), strict)
}

// upperTime is upper for a time bound (see lowerTime).
func upperTime(hi *uint64, t time.Time, strict bool) bool {
	switch {
	case t.After(maxTime):
		return true
	case t.Before(minTime):
		return false
	}
	return upper(hi, timeKey(t.UnixNano()), strict)
}
