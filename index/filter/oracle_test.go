package filter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stretchr/testify/require"
)

// The oracle: a brute-force evaluator over metadata decoded by
// encoding/json, written from the semantics in doc.go without the index's
// code (no numKey, no parseTime, no posting lists).

// oracleDecode decodes metadata the way a reader of the spec would.
func oracleDecode(t testing.TB, md []byte) map[string]any {
	t.Helper()
	if len(bytes.Trim(md, " \t\r\n")) == 0 {
		return map[string]any{}
	}
	dec := json.NewDecoder(bytes.NewReader(md))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m))
	if m == nil {
		m = map[string]any{}
	}
	return m
}

// oracleValues returns the non-null values of key: the element of a scalar,
// the elements of a list.
func oracleValues(doc map[string]any, key string) []any {
	v, ok := doc[key]
	if !ok || v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return []any{v}
	}
	var out []any
	for _, x := range list {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

func oracleMatch(doc map[string]any, f *Filter) bool {
	if f == nil {
		return true
	}
	for i := range f.Must {
		if !oracleCond(doc, &f.Must[i]) {
			return false
		}
	}
	if len(f.Should) > 0 {
		any := false
		for i := range f.Should {
			if oracleCond(doc, &f.Should[i]) {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	for i := range f.MustNot {
		if oracleCond(doc, &f.MustNot[i]) {
			return false
		}
	}
	return true
}

func oracleCond(doc map[string]any, c *Condition) bool {
	if c.Filter != nil {
		return oracleMatch(doc, c.Filter)
	}
	vals := oracleValues(doc, c.Key)
	switch {
	case c.Exists != nil:
		return (len(vals) > 0) == *c.Exists
	case c.Match != nil:
		wants := c.Match.Any
		if wants == nil {
			wants = []any{c.Match.Value}
		}
		for _, w := range wants {
			for _, v := range vals {
				if oracleEqual(v, w) {
					return true
				}
			}
		}
		return false
	case c.Range != nil:
		for _, v := range vals {
			if oracleInRange(v, c.Range) {
				return true
			}
		}
	}
	return false
}

func oracleEqual(v, want any) bool {
	switch w := want.(type) {
	case string:
		s, ok := v.(string)
		return ok && s == w
	case float64:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(string(n), 64)
		return err == nil && f == w
	case bool:
		b, ok := v.(bool)
		return ok && b == w
	}
	panic(fmt.Sprintf("bad match value %T", want))
}

// The instants a time value may have, written out: 1677-09-21T00:12:43.145224192Z
// to 2262-04-11T23:47:16.854775807Z.
var (
	oracleMinTime = time.Date(1677, 9, 21, 0, 12, 43, 145224192, time.UTC)
	oracleMaxTime = time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC)
)

// oracleRFC3339 is the syntax of a time: RFC 3339's date-time with upper-case
// T and Z (and the comma that time.Parse also takes before a fraction).
var oracleRFC3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([.,]\d+)?(Z|[+-]\d{2}:\d{2})$`)

// oracleTime parses a time value of a document.
func oracleTime(s string) (time.Time, bool) {
	if !oracleRFC3339.MatchString(s) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.Before(oracleMinTime) || t.After(oracleMaxTime) {
		return time.Time{}, false
	}
	return t, true
}

func oracleInRange(v any, r *Range) bool {
	var cmp func(b *Bound) int // sign of v − b
	timeRange := false
	for _, b := range []*Bound{r.GT, r.GTE, r.LT, r.LTE} {
		if b != nil {
			timeRange = b.IsTime()
		}
	}
	if timeRange {
		s, ok := v.(string)
		if !ok {
			return false
		}
		t, ok := oracleTime(s)
		if !ok {
			return false
		}
		cmp = func(b *Bound) int { return t.Compare(b.Time()) }
	} else {
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return false
		}
		cmp = func(b *Bound) int {
			switch {
			case f < b.Number():
				return -1
			case f > b.Number():
				return 1
			}
			return 0
		}
	}
	return (r.GT == nil || cmp(r.GT) > 0) && (r.GTE == nil || cmp(r.GTE) >= 0) &&
		(r.LT == nil || cmp(r.LT) < 0) && (r.LTE == nil || cmp(r.LTE) <= 0)
}

// oracleEval returns the numbers of universe whose documents match f.
func oracleEval(t testing.TB, docs map[uint32]map[string]any, f *Filter, universe []uint32) []uint32 {
	var out []uint32
	for _, n := range universe {
		doc := docs[n]
		if doc == nil {
			doc = map[string]any{}
		}
		if oracleMatch(doc, f) {
			out = append(out, n)
		}
	}
	return out
}

// Random documents and filters. The vocabularies are small so that
// conditions hit, and they mix the kinds under every key so that type
// separation is exercised (a string "5" against the number 5, a time string
// against a number range).

var (
	genKeys    = []string{"s", "n", "b", "t", "l", "mix", "x y", "ключ"}
	genStrings = []string{"a", "b", "c", "London", "5", "true", "", "2024-01-01T00:00:00Z",
		"2024-01-01T00:00:00+00:00", "not-a-time", "2024-13-01T00:00:00Z", "2024-01-01t00:00:00z",
		"2024-01-01T00:00:00-00:00", "2024-01-01T00:00:00,5Z", "2024-01-01T00:00:00.500Z", "2024-01-01T00:00:00.5Z",
		"2024-01-01T05:30:00+05:30", "2024-01-01T00:00:00.000000000Z", "2024-01-01T0:00:00Z", "2024-01-01T0:00:00.5Z"}
	genNumbers = []string{"0", "-0", "1", "1.0", "-1", "2", "3", "0.5", "-2.5", "1e3", "1000",
		"1e-300", "1e308", "-1e308", "9007199254740993", "9007199254740992", "42"}
	genTimes = []string{
		"2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00.5Z",
		"2023-06-15T12:30:00-07:00", "2024-02-29T23:59:59.999999999Z", "1970-01-01T00:00:00Z",
		"1677-09-21T00:12:43.145224192Z", "1677-09-21T00:12:43.145224191Z", // min, and just outside
		"2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775808Z", // max, and just outside
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
	}
)

func genTime(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return genTimes[rng.IntN(len(genTimes))]
	}
	t := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(48)) * time.Hour)
	if rng.IntN(4) == 0 {
		t = t.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
	}
	if rng.IntN(3) == 0 {
		t = t.In(time.FixedZone("", (rng.IntN(25)-12)*3600))
	}
	return t.Format(time.RFC3339Nano)
}

// genScalar returns a JSON literal; kind is biased by the key.
func genScalar(rng *rand.Rand, key string) string {
	k := rng.IntN(4)
	switch key {
	case "s":
		k = 0
	case "n":
		k = 1
	case "b":
		k = 2
	case "t":
		k = 3
	}
	if rng.IntN(8) == 0 { // any key sometimes holds any kind
		k = rng.IntN(4)
	}
	switch k {
	case 0:
		return strconv.Quote(genStrings[rng.IntN(len(genStrings))])
	case 1:
		return genNumbers[rng.IntN(len(genNumbers))]
	case 2:
		return strconv.FormatBool(rng.IntN(2) == 0)
	}
	return strconv.Quote(genTime(rng))
}

// genDoc returns random metadata as JSON text.
func genDoc(rng *rand.Rand) []byte {
	var parts []string
	for _, key := range genKeys {
		if rng.IntN(5) < 2 {
			continue
		}
		var v string
		switch r := rng.IntN(12); {
		case r == 0:
			v = "null"
		case r < 4 || key == "l":
			n := rng.IntN(5)
			elems := make([]string, n)
			for i := range elems {
				if rng.IntN(10) == 0 {
					elems[i] = "null"
				} else {
					elems[i] = genScalar(rng, key)
				}
			}
			v = "[" + strings.Join(elems, ",") + "]"
		default:
			v = genScalar(rng, key)
		}
		parts = append(parts, strconv.Quote(key)+":"+v)
	}
	rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return []byte("{" + strings.Join(parts, ", ") + "}")
}

func genKey(rng *rand.Rand) string {
	if rng.IntN(15) == 0 {
		return "missing"
	}
	return genKeys[rng.IntN(len(genKeys))]
}

func genMatchValue(rng *rand.Rand) any {
	switch rng.IntN(4) {
	case 0, 1:
		return genStrings[rng.IntN(len(genStrings))]
	case 2:
		f, _ := strconv.ParseFloat(genNumbers[rng.IntN(len(genNumbers))], 64)
		return f
	}
	return rng.IntN(2) == 0
}

func genBound(rng *rand.Rand, times bool) *Bound {
	if times {
		t, err := time.Parse(time.RFC3339, genTime(rng))
		if err != nil {
			panic(err)
		}
		return TimeBound(t)
	}
	if rng.IntN(3) == 0 {
		return NumberBound(math.Round(rng.NormFloat64()*40) / 8)
	}
	f, _ := strconv.ParseFloat(genNumbers[rng.IntN(len(genNumbers))], 64)
	return NumberBound(f)
}

func genCondition(rng *rand.Rand, depth int) Condition {
	if depth < 3 && rng.IntN(5) == 0 {
		return Condition{Filter: genFilter(rng, depth+1)}
	}
	c := Condition{Key: genKey(rng)}
	switch rng.IntN(5) {
	case 0:
		c.Match = &Match{Value: genMatchValue(rng)}
	case 1:
		c.Match = &Match{Any: []any{}}
		for range rng.IntN(5) {
			c.Match.Any = append(c.Match.Any, genMatchValue(rng))
		}
	case 2, 3:
		times := rng.IntN(2) == 0
		c.Range = &Range{}
		for c.Range.GT == nil && c.Range.GTE == nil && c.Range.LT == nil && c.Range.LTE == nil {
			switch rng.IntN(3) {
			case 1:
				c.Range.GT = genBound(rng, times)
			case 2:
				c.Range.GTE = genBound(rng, times)
			}
			switch rng.IntN(3) {
			case 1:
				c.Range.LT = genBound(rng, times)
			case 2:
				c.Range.LTE = genBound(rng, times)
			}
		}
	default:
		b := rng.IntN(2) == 0
		c.Exists = &b
	}
	return c
}

func genFilter(rng *rand.Rand, depth int) *Filter {
	f := &Filter{}
	for _, list := range []*[]Condition{&f.Must, &f.Should, &f.MustNot} {
		for range rng.IntN(3) {
			*list = append(*list, genCondition(rng, depth))
		}
	}
	if depth > 1 && len(f.Must)+len(f.Should)+len(f.MustNot) == 0 && rng.IntN(2) == 0 {
		f.Must = []Condition{genCondition(rng, depth)}
	}
	return f
}

// model is an Index with the oracle's view of it.
type model struct {
	t    testing.TB
	ix   *Index
	docs map[uint32]map[string]any
	raw  map[uint32][]byte
}

func newModel(t testing.TB, deltaMin int) *model {
	ix := New()
	ix.deltaMin = deltaMin
	return &model{t: t, ix: ix, docs: map[uint32]map[string]any{}, raw: map[uint32][]byte{}}
}

func (m *model) add(num uint32, md []byte) {
	require.NoError(m.t, m.ix.Add(num, md), "add %d %s", num, md)
	m.docs[num] = oracleDecode(m.t, md)
	m.raw[num] = md
}

func (m *model) remove(num uint32) {
	require.NoError(m.t, m.ix.Remove(num, m.raw[num]), "remove %d %s", num, m.raw[num])
	delete(m.docs, num)
	delete(m.raw, num)
}

func (m *model) live() []uint32 {
	out := make([]uint32, 0, len(m.docs))
	for n := range m.docs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// check evaluates f against universe (nil: every document) and compares.
func (m *model) check(f *Filter, universe []uint32) {
	m.t.Helper()
	var u *roaring.Bitmap
	if universe != nil {
		u = roaring.BitmapOf(universe...)
	} else {
		universe = m.live()
	}
	got, err := m.ix.Eval(f, u)
	require.NoError(m.t, err)
	want := oracleEval(m.t, m.docs, f, universe)
	if !slices.Equal(got.ToArray(), want) && !(len(want) == 0 && got.IsEmpty()) {
		js, _ := json.Marshal(f)
		var docs []string
		for _, n := range universe {
			docs = append(docs, fmt.Sprintf("%d: %s", n, m.raw[n]))
		}
		m.t.Fatalf("filter %s\nuniverse %v\ngot  %v\nwant %v\ndocs:\n%s", js, universe, got.ToArray(), want, strings.Join(docs, "\n"))
	}
}

// TestOracle compares Eval with the oracle on random documents and random
// filters, through rounds of additions, removals and re-additions, with
// range indexes that merge at once, never, and by default, and with dense
// and sparse document numbers (the two ways of building a range's bitmap).
func TestOracle(t *testing.T) {
	cases := []struct {
		name     string
		deltaMin int
		docs     int
		spread   uint32 // document numbers are drawn from [0, spread)
		filters  int    // per round
	}{
		{"merge-often/dense", 2, 300, 400, 250},
		{"merge-never/dense", 1 << 30, 300, 400, 250},
		{"default/dense", 0, 3000, 3500, 150},
		{"merge-often/sparse", 4, 400, 1 << 26, 250},
		{"default/sparse", 0, 2000, 1 << 22, 150},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci)+1, 99))
			m := newModel(t, tc.deltaMin)
			for len(m.docs) < tc.docs {
				n := rng.Uint32N(tc.spread)
				if _, ok := m.docs[n]; !ok {
					m.add(n, genDoc(rng))
				}
			}
			for round := range 4 {
				for i := range tc.filters {
					f := genFilter(rng, 1)
					// Through JSON, so that the parser is in the loop.
					js, err := json.Marshal(f)
					require.NoError(t, err)
					g, err := Parse(js)
					require.NoError(t, err, "%s", js)
					var universe []uint32
					switch i % 3 {
					case 1: // the live documents and some without metadata
						universe = m.live()
						for range 20 {
							universe = append(universe, rng.Uint32N(tc.spread))
						}
						slices.Sort(universe)
						universe = slices.Compact(universe)
					case 2: // a subset
						for _, n := range m.live() {
							if rng.IntN(3) == 0 {
								universe = append(universe, n)
							}
						}
						if universe == nil {
							universe = []uint32{}
						}
					}
					m.check(g, universe)
				}
				// Remove a third, re-add half of those with new metadata,
				// add some new documents.
				live := m.live()
				rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
				gone := live[:len(live)/3]
				for _, n := range gone {
					m.remove(n)
				}
				for _, n := range gone[:len(gone)/2] {
					m.add(n, genDoc(rng))
				}
				for range len(gone) / 4 {
					n := rng.Uint32N(tc.spread)
					if _, ok := m.docs[n]; !ok {
						m.add(n, genDoc(rng))
					}
				}
				t.Logf("round %d: %d documents", round, m.ix.Len())
				require.Equal(t, len(m.docs), m.ix.Len())
			}
			// Removing everything leaves nothing behind.
			for _, n := range m.live() {
				m.remove(n)
			}
			require.Zero(t, m.ix.Len())
			require.Empty(t, m.ix.mu.keys)
		})
	}
}
