package filter

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxKeyLen is the longest metadata key, in bytes, that a document or a
// filter may name.
const MaxKeyLen = 256

// Filter selects documents by their metadata: all of Must, at least one of
// Should when Should is not empty, and none of MustNot. The zero Filter (and
// a nil *Filter) matches every document.
//
// A Filter is a plain value: it holds no reference to an index and may be
// evaluated by many goroutines at once as long as none modifies it.
type Filter struct {
	Must    []Condition
	Should  []Condition
	MustNot []Condition
}

// Condition is one clause of a Filter: either a field condition — Key with
// exactly one of Match, Range and Exists — or, with Filter set and the other
// fields zero, a nested filter.
type Condition struct {
	Key    string
	Match  *Match
	Range  *Range
	Exists *bool // true: the key has a value; false: it has none
	Filter *Filter
}

// Match is an equality condition: exactly one of Value and Any is set.
// Value and the elements of Any are a string, a float64 or a bool. A string
// matches strings only (byte for byte; "5" does not match the number 5), a
// number numbers only (as float64: 1 matches 1.0, -0 matches 0), a bool
// bools only. A list-valued field matches if any element does.
//
// Any matches a document that has any of the values. A non-nil empty Any
// matches nothing; a nil Any means Value is used.
type Match struct {
	Value any
	Any   []any
}

// Range bounds a number or a time: at least one bound, not both GT and GTE,
// not both LT and LTE, and all bounds of one kind (numbers or times). A
// number range never matches a time value, nor a time range a number. A
// range whose lower bound lies above its upper bound matches nothing.
type Range struct {
	GT, GTE, LT, LTE *Bound
}

// Bound is one end of a Range: a number or a time. Make one with NumberBound
// or TimeBound. In JSON it is a number or an RFC 3339 string.
type Bound struct {
	num    float64
	t      time.Time
	isTime bool
}

// NumberBound returns a bound at the number v.
func NumberBound(v float64) *Bound { return &Bound{num: v} }

// TimeBound returns a bound at the instant t.
func TimeBound(t time.Time) *Bound { return &Bound{t: t, isTime: true} }

// IsTime reports whether b is a time rather than a number.
func (b *Bound) IsTime() bool { return b.isTime }

// Number returns b's number (0 for a time bound).
func (b *Bound) Number() float64 { return b.num }

// Time returns b's time (the zero time for a number bound).
func (b *Bound) Time() time.Time { return b.t }

func (b *Bound) String() string {
	if b.isTime {
		return b.t.Format(time.RFC3339Nano)
	}
	return strconv.FormatFloat(b.num, 'g', -1, 64)
}

// Limits bound the size of a filter, so that an untrusted one cannot make
// parsing or evaluation arbitrarily expensive. Zero fields take their
// defaults.
type Limits struct {
	// MaxDepth is the deepest nesting of filters; the filter itself is
	// depth 1, a nested filter in its must is depth 2. Default 32: deeper
	// trees are machine-made and better flattened.
	MaxDepth int
	// MaxConditions is the most conditions (field conditions and nested
	// filters) in the whole tree. Default 1024.
	MaxConditions int
	// MaxValues is the most values in one match's any list. Default 1024:
	// each value is one posting-list lookup.
	MaxValues int
}

// DefaultLimits returns the limits Parse and Validate apply.
func DefaultLimits() Limits { return Limits{MaxDepth: 32, MaxConditions: 1024, MaxValues: 1024} }

// Validate reports a negative limit.
func (l Limits) Validate() error {
	if l.MaxDepth < 0 || l.MaxConditions < 0 || l.MaxValues < 0 {
		return fmt.Errorf("%w: negative limit in %+v", ErrInvalidFilter, l)
	}
	return nil
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDepth == 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxConditions == 0 {
		l.MaxConditions = d.MaxConditions
	}
	if l.MaxValues == 0 {
		l.MaxValues = d.MaxValues
	}
	return l
}

// Validate reports the first problem with f under DefaultLimits as an
// *Error naming its path. A nil filter is valid.
func (f *Filter) Validate() error { return f.ValidateWithLimits(DefaultLimits()) }

// ValidateWithLimits is Validate under the given limits.
func (f *Filter) ValidateWithLimits(lim Limits) error {
	if err := lim.Validate(); err != nil {
		return err
	}
	v := validator{lim: lim.withDefaults(), limits: true}
	return v.filter(f, nil, 1)
}

// validator walks a filter. Without limits it checks only what evaluation
// relies on (Eval of a filter built in Go by a trusted caller).
type validator struct {
	lim    Limits
	limits bool
	conds  int
}

func (v *validator) filter(f *Filter, p *path, depth int) error {
	if f == nil {
		return nil
	}
	if v.limits && depth > v.lim.MaxDepth {
		return errorf(p.String(), "nested deeper than %d levels", v.lim.MaxDepth)
	}
	for _, l := range [...]struct {
		name  string
		conds []Condition
	}{{"must", f.Must}, {"should", f.Should}, {"must_not", f.MustNot}} {
		for i := range l.conds {
			q := path{up: p, name: l.name, index: i}
			if err := v.condition(&l.conds[i], &q, depth); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *validator) condition(c *Condition, p *path, depth int) error {
	v.conds++
	if v.limits && v.conds > v.lim.MaxConditions {
		return errorf(p.String(), "more than %d conditions", v.lim.MaxConditions)
	}
	var ops []string
	if c.Match != nil {
		ops = append(ops, "match")
	}
	if c.Range != nil {
		ops = append(ops, "range")
	}
	if c.Exists != nil {
		ops = append(ops, "exists")
	}
	if c.Filter != nil {
		if c.Key != "" || len(ops) > 0 {
			return errorf(p.String(), "a condition is either a field condition (key with match, range or exists) or a nested filter (must, should, must_not), not both")
		}
		return v.filter(c.Filter, p, depth+1)
	}
	if c.Key == "" && len(ops) == 0 {
		return errorf(p.String(), "empty condition: want a key with match, range or exists, or a nested filter (must, should, must_not)")
	}
	if err := checkKey(c.Key); err != "" {
		return errorf(p.field("key").String(), "%s", err)
	}
	switch len(ops) {
	case 0:
		return errorf(p.String(), "key %q has no match, range or exists", c.Key)
	case 1:
	default:
		return errorf(p.String(), "more than one of match, range and exists given (%s)", strings.Join(ops, ", "))
	}
	switch {
	case c.Match != nil:
		return v.match(c.Match, p.field("match"))
	case c.Range != nil:
		return checkRange(c.Range, p.field("range"))
	}
	return nil
}

func (v *validator) match(m *Match, p *path) error {
	switch {
	case m.Any != nil && m.Value != nil:
		return errorf(p.String(), "value and any both given")
	case m.Any != nil:
		if v.limits && len(m.Any) > v.lim.MaxValues {
			return errorf(p.field("any").String(), "more than %d values", v.lim.MaxValues)
		}
		for i, x := range m.Any {
			if err := checkScalar(x); err != "" {
				return errorf(p.elem("any", i).String(), "%s", err)
			}
		}
		return nil
	case m.Value != nil:
		if err := checkScalar(m.Value); err != "" {
			return errorf(p.field("value").String(), "%s", err)
		}
		return nil
	}
	return errorf(p.String(), "want value or any")
}

func checkRange(r *Range, p *path) error {
	if r.GT == nil && r.GTE == nil && r.LT == nil && r.LTE == nil {
		return errorf(p.String(), "no bound given (want gt, gte, lt or lte)")
	}
	if r.GT != nil && r.GTE != nil {
		return errorf(p.String(), "gt and gte both given")
	}
	if r.LT != nil && r.LTE != nil {
		return errorf(p.String(), "lt and lte both given")
	}
	times, numbers := 0, 0
	for _, b := range [...]struct {
		name string
		b    *Bound
	}{{"gt", r.GT}, {"gte", r.GTE}, {"lt", r.LT}, {"lte", r.LTE}} {
		if b.b == nil {
			continue
		}
		if b.b.isTime {
			times++
			if y := b.b.t.Year(); y < 0 || y > 9999 {
				return errorf(p.field(b.name).String(), "time %v is outside the years 0000–9999 that RFC 3339 can write", b.b.t)
			}
			continue
		}
		numbers++
		if math.IsNaN(b.b.num) || math.IsInf(b.b.num, 0) {
			return errorf(p.field(b.name).String(), "number %v is not finite", b.b.num)
		}
	}
	if times > 0 && numbers > 0 {
		return errorf(p.String(), "mixes number and time bounds")
	}
	return nil
}

// checkKey returns why key is not a valid metadata key, or "".
func checkKey(key string) string {
	switch {
	case key == "":
		return "missing or empty"
	case len(key) > MaxKeyLen:
		return fmt.Sprintf("longer than %d bytes", MaxKeyLen)
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	}
	return ""
}

// checkScalar returns why x is not a match value, or "".
func checkScalar(x any) string {
	switch x := x.(type) {
	case string, bool:
		return ""
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprintf("number %v is not finite", x)
		}
		return ""
	case nil:
		return "want a string, number or boolean, got null"
	}
	return fmt.Sprintf("want a string, float64 or bool, got %T", x)
}

// path is a JSON path built on the stack as a walk descends and rendered
// only for an error: `must[2].range`.
type path struct {
	up    *path
	name  string
	index int // element of name's array, or -1
}

func (p *path) field(name string) *path { return &path{up: p, name: name, index: -1} }

func (p *path) elem(name string, i int) *path { return &path{up: p, name: name, index: i} }

func (p *path) String() string {
	if p == nil {
		return ""
	}
	var parts []*path
	for q := p; q != nil; q = q.up {
		parts = append(parts, q)
	}
	var sb strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(parts[i].name)
		if parts[i].index >= 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(parts[i].index))
			sb.WriteByte(']')
		}
	}
	return sb.String()
}

// MarshalJSON writes f in the grammar Parse reads, leaving out empty lists.
func (f Filter) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Must    []Condition `json:"must,omitempty"`
		Should  []Condition `json:"should,omitempty"`
		MustNot []Condition `json:"must_not,omitempty"`
	}{f.Must, f.Should, f.MustNot})
}

// MarshalJSON writes a field condition as {"key": …, "match"|"range"|
// "exists": …} and a nested filter as its filter; an empty nested filter as
// {"must": []}, since {} is not a condition.
func (c Condition) MarshalJSON() ([]byte, error) {
	if c.Filter != nil {
		f := c.Filter
		if len(f.Must) == 0 && len(f.Should) == 0 && len(f.MustNot) == 0 {
			return []byte(`{"must":[]}`), nil
		}
		return f.MarshalJSON()
	}
	return json.Marshal(struct {
		Key    string `json:"key"`
		Match  *Match `json:"match,omitempty"`
		Range  *Range `json:"range,omitempty"`
		Exists *bool  `json:"exists,omitempty"`
	}{c.Key, c.Match, c.Range, c.Exists})
}

// MarshalJSON writes {"any": […]} when Any is not nil, else {"value": …}.
func (m Match) MarshalJSON() ([]byte, error) {
	if m.Any != nil {
		return json.Marshal(struct {
			Any []any `json:"any"`
		}{m.Any})
	}
	return json.Marshal(struct {
		Value any `json:"value"`
	}{m.Value})
}

// MarshalJSON writes the bounds that are set.
func (r Range) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		GT  *Bound `json:"gt,omitempty"`
		GTE *Bound `json:"gte,omitempty"`
		LT  *Bound `json:"lt,omitempty"`
		LTE *Bound `json:"lte,omitempty"`
	}{r.GT, r.GTE, r.LT, r.LTE})
}

// MarshalJSON writes a number, or a time as an RFC 3339 string with
// nanoseconds where it has them.
func (b Bound) MarshalJSON() ([]byte, error) {
	if b.isTime {
		return json.Marshal(b.t.Format(time.RFC3339Nano))
	}
	return json.Marshal(b.num)
}
