package filter

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stretchr/testify/require"
)

// TestMetadataErrors checks that bad metadata is refused with the key named
// and leaves the index as it was.
func TestMetadataErrors(t *testing.T) {
	cases := []struct {
		name, md, want string
	}{
		{"not an object", `[1, 2]`, `filter: metadata: want a JSON object, got array`},
		{"string", `"a"`, `filter: metadata: want a JSON object, got string`},
		{"syntax", `{"a": }`, `filter: metadata: invalid JSON at byte`},
		{"truncated", `{"a": [1, 2`, `filter: metadata: unexpected end of JSON input`},
		{"trailing", `{"a": 1} x`, `filter: metadata: unexpected data after the JSON object`},
		{"invalid UTF-8", "{\"a\": \"\xc3\x28\"}", `filter: metadata: not valid UTF-8`},
		{"nested object", `{"ok": 1, "author": {"name": "x"}}`, `filter: metadata key "author": nested objects are not supported`},
		{"list of lists", `{"tags": ["a", ["b"]]}`, `filter: metadata key "tags": a list may hold only strings, numbers and booleans, not arrays`},
		{"list of objects", `{"tags": [{"b": 1}]}`, `filter: metadata key "tags": a list may hold only strings, numbers and booleans, not objects`},
		{"empty key", `{"": 1}`, `filter: metadata: empty key`},
		{"long key", `{"` + strings.Repeat("k", 257) + `": 1}`, `key longer than 256 bytes`},
		{"duplicate key", `{"a": 1, "b": 2, "a": 3}`, `filter: metadata key "a": duplicate key`},
		{"duplicate null key", `{"a": null, "a": 3}`, `filter: metadata key "a": duplicate key`},
		{"number out of range", `{"price": 1e400}`, `filter: metadata key "price": number 1e400 is out of range`},
		{"number in list out of range", `{"p": [1, -1e400]}`, `filter: metadata key "p": number -1e400 is out of range`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ix := New()
			require.NoError(t, ix.Add(1, []byte(`{"a": "x", "n": 1}`)))
			err := ix.Add(2, []byte(tc.md))
			require.ErrorIs(t, err, ErrInvalidMetadata)
			require.Contains(t, err.Error(), tc.want)
			require.Equal(t, 1, ix.Len())
			got, err := ix.Eval(nil, nil)
			require.NoError(t, err)
			require.Equal(t, []uint32{1}, got.ToArray())
			// Remove parses the same way.
			require.ErrorIs(t, ix.Remove(1, []byte(tc.md)), ErrInvalidMetadata)
			require.Equal(t, 1, ix.Len())
		})
	}
}

// TestMetadataDuplicateKeysMany checks the duplicate check past the point
// where it switches from a scan to a set.
func TestMetadataDuplicateKeysMany(t *testing.T) {
	var parts []string
	for i := range 40 {
		parts = append(parts, fmt.Sprintf(`"k%d": %d`, i, i))
	}
	ok := "{" + strings.Join(parts, ",") + "}"
	dup := "{" + strings.Join(append(parts, `"k3": 0`), ",") + "}"
	ix := New()
	require.NoError(t, ix.Add(1, []byte(ok)))
	require.ErrorContains(t, ix.Add(2, []byte(dup)), `key "k3": duplicate key`)
}

// TestAddRemove checks the contracts of Add and Remove.
func TestAddRemove(t *testing.T) {
	md := []byte(`{"city": "London", "n": [1, 2], "ok": true, "t": "2024-01-01T00:00:00Z"}`)
	cases := []struct {
		name string
		run  func(t *testing.T, ix *Index)
	}{
		{"duplicate add", func(t *testing.T, ix *Index) {
			require.NoError(t, ix.Add(7, md))
			require.ErrorIs(t, ix.Add(7, []byte(`{}`)), ErrDuplicate)
			require.Equal(t, 1, ix.Len())
		}},
		{"remove absent", func(t *testing.T, ix *Index) {
			require.ErrorIs(t, ix.Remove(7, md), ErrNotFound)
		}},
		{"remove with other key", func(t *testing.T, ix *Index) {
			require.NoError(t, ix.Add(7, md))
			require.ErrorIs(t, ix.Remove(7, []byte(`{"city": "London", "other": 1}`)), ErrMismatch)
			require.Equal(t, 1, ix.Len())
			requireEval(t, ix, `{"must": [{"key": "city", "match": {"value": "London"}}]}`, 7)
		}},
		{"remove with other string", func(t *testing.T, ix *Index) {
			require.NoError(t, ix.Add(7, md))
			require.ErrorIs(t, ix.Remove(7, []byte(`{"city": "Paris"}`)), ErrMismatch)
			require.ErrorIs(t, ix.Remove(7, []byte(`{"ok": false}`)), ErrMismatch)
			requireEval(t, ix, `{"must": [{"key": "n", "match": {"value": 2}}]}`, 7)
		}},
		{"remove with other numbers", func(t *testing.T, ix *Index) {
			// Not detected, but the other documents keep their numbers.
			require.NoError(t, ix.Add(1, []byte(`{"n": 1}`)))
			require.NoError(t, ix.Add(2, []byte(`{"n": 2}`)))
			require.NoError(t, ix.Remove(1, []byte(`{"n": [1, 5, 6]}`)))
			requireEval(t, ix, `{"must": [{"key": "n", "range": {"gte": 0}}]}`, 2)
		}},
		{"empty and null metadata", func(t *testing.T, ix *Index) {
			require.NoError(t, ix.Add(1, nil))
			require.NoError(t, ix.Add(2, []byte(" null ")))
			require.NoError(t, ix.Add(3, []byte(`{}`)))
			require.Equal(t, 3, ix.Len())
			requireEval(t, ix, `{"must": [{"key": "a", "exists": false}]}`, 1, 2, 3)
			require.NoError(t, ix.Remove(2, nil))
			require.Equal(t, 2, ix.Len())
		}},
		{"remove then re-add", func(t *testing.T, ix *Index) {
			require.NoError(t, ix.Add(7, md))
			require.NoError(t, ix.Remove(7, md))
			require.Zero(t, ix.Len())
			require.Empty(t, ix.mu.keys)
			requireEval(t, ix, `{"must": [{"key": "n", "range": {"gte": 0}}]}`)
			require.NoError(t, ix.Add(7, []byte(`{"n": 5}`)))
			requireEval(t, ix, `{"must": [{"key": "n", "range": {"gte": 0}}]}`, 7)
			requireEval(t, ix, `{"must": [{"key": "n", "match": {"value": 1}}]}`)
			requireEval(t, ix, `{"must": [{"key": "city", "exists": true}]}`)
		}},
		{"large numbers", func(t *testing.T, ix *Index) {
			require.NoError(t, ix.Add(1<<32-1, []byte(`{"n": 1}`)))
			require.NoError(t, ix.Add(0, []byte(`{"n": 2}`)))
			requireEval(t, ix, `{"must": [{"key": "n", "range": {"gte": 1}}]}`, 0, 1<<32-1)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, New()) })
	}
}

func requireEval(t *testing.T, ix *Index, filter string, want ...uint32) {
	t.Helper()
	f, err := Parse([]byte(filter))
	require.NoError(t, err)
	got, err := ix.Eval(f, nil)
	require.NoError(t, err)
	if want == nil {
		want = []uint32{}
	}
	require.Equal(t, want, append([]uint32{}, got.ToArray()...), "%s", filter)
}

// TestSemantics spells out the semantics on a handful of documents.
func TestSemantics(t *testing.T) {
	docs := []string{
		0: `{"city": "London", "price": 10, "tags": ["a", "b"], "published": "2024-01-01T00:00:00Z", "ok": true}`,
		1: `{"city": "Paris", "price": 20.5, "tags": ["b", "c"], "published": "2024-06-01T12:00:00+02:00", "ok": false}`,
		2: `{"city": "london", "price": -0, "tags": "a", "published": "not a time", "ok": "true"}`,
		3: `{"city": null, "price": "10", "tags": [], "published": 1704067200, "author": "x"}`,
		4: `{"price": [5, 25], "tags": [null], "published": ["2023-01-01T00:00:00Z", "2025-01-01T00:00:00Z"]}`,
		5: `{"price": 1e308, "published": "1600-01-01T00:00:00Z", "n": 9007199254740993}`,
	}
	cases := []struct {
		name   string
		filter string
		want   []uint32
	}{
		{"empty filter", `{}`, []uint32{0, 1, 2, 3, 4, 5}},
		{"string equality is exact", `{"must": [{"key": "city", "match": {"value": "London"}}]}`, []uint32{0}},
		{"number equality", `{"must": [{"key": "price", "match": {"value": 10}}]}`, []uint32{0}},
		{"string does not match number", `{"must": [{"key": "price", "match": {"value": "10"}}]}`, []uint32{3}},
		{"bool does not match string", `{"must": [{"key": "ok", "match": {"value": true}}]}`, []uint32{0}},
		{"zero matches minus zero", `{"must": [{"key": "price", "match": {"value": 0}}]}`, []uint32{2}},
		{"minus zero matches zero", `{"must": [{"key": "price", "range": {"gte": -0, "lte": 0}}]}`, []uint32{2}},
		{"gt zero excludes minus zero", `{"must": [{"key": "price", "range": {"gt": 0}}]}`, []uint32{0, 1, 4, 5}},
		{"list matches any element", `{"must": [{"key": "price", "range": {"gt": 20, "lt": 30}}]}`, []uint32{1, 4}},
		{"narrow range inside a list's span", `{"must": [{"key": "price", "range": {"gt": 6, "lt": 24}}]}`, []uint32{0, 1}},
		{"empty range", `{"must": [{"key": "price", "range": {"gt": 30, "lt": 3}}]}`, nil},
		{"any", `{"must": [{"key": "tags", "match": {"any": ["c", "a", "zzz"]}}]}`, []uint32{0, 1, 2}},
		{"any empty", `{"must": [{"key": "tags", "match": {"any": []}}]}`, nil},
		{"exists", `{"must": [{"key": "tags", "exists": true}]}`, []uint32{0, 1, 2}},
		{"exists false: null, [], [null] and absent", `{"must": [{"key": "tags", "exists": false}]}`, []uint32{3, 4, 5}},
		{"time range", `{"must": [{"key": "published", "range": {"gte": "2024-01-01T00:00:00Z"}}]}`, []uint32{0, 1, 4}},
		{"time range in another zone", `{"must": [{"key": "published", "range": {"gt": "2024-06-01T10:00:00Z"}}]}`, []uint32{4}},
		{"time range equality across zones", `{"must": [{"key": "published", "range": {"gte": "2024-06-01T10:00:00Z", "lte": "2024-06-01T10:00:00Z"}}]}`, []uint32{1}},
		{"time range ignores numbers", `{"must": [{"key": "published", "range": {"lt": "2200-01-01T00:00:00Z"}}]}`, []uint32{0, 1, 4}},
		{"number range ignores times", `{"must": [{"key": "published", "range": {"gt": 0}}]}`, []uint32{3}},
		{"time outside int64 ns is a string", `{"must": [{"key": "published", "match": {"value": "1600-01-01T00:00:00Z"}}]}`, []uint32{5}},
		{"time bound before every time", `{"must": [{"key": "published", "range": {"gt": "0001-01-01T00:00:00Z"}}]}`, []uint32{0, 1, 4}},
		{"time bound after every time", `{"must": [{"key": "published", "range": {"gte": "9999-01-01T00:00:00Z"}}]}`, nil},
		{"time string matches as a string", `{"must": [{"key": "published", "match": {"value": "2024-01-01T00:00:00Z"}}]}`, []uint32{0}},
		{"time string equality is by string", `{"must": [{"key": "published", "match": {"value": "2024-06-01T10:00:00Z"}}]}`, nil},
		{"should", `{"should": [{"key": "city", "match": {"value": "Paris"}}, {"key": "author", "exists": true}]}`, []uint32{1, 3}},
		{"must_not", `{"must_not": [{"key": "price", "range": {"lt": 10}}]}`, []uint32{0, 1, 3, 5}},
		{"must and should", `{"must": [{"key": "tags", "match": {"value": "b"}}], "should": [{"key": "ok", "match": {"value": false}}]}`, []uint32{1}},
		{"nested", `{"must_not": [{"must": [{"key": "tags", "exists": true}, {"key": "price", "range": {"lte": 10}}]}]}`, []uint32{1, 3, 4, 5}},
		{"nested should in must", `{"must": [{"should": [{"key": "city", "match": {"value": "London"}}, {"key": "price", "match": {"value": 25}}]}]}`, []uint32{0, 4}},
		{"empty nested filter matches all", `{"must": [{"must": []}]}`, []uint32{0, 1, 2, 3, 4, 5}},
		{"empty nested filter in must_not matches none", `{"must_not": [{"must": []}]}`, nil},
		{"missing key", `{"must": [{"key": "nope", "match": {"value": 1}}]}`, nil},
		{"missing key in must_not", `{"must_not": [{"key": "nope", "range": {"gt": 1}}]}`, []uint32{0, 1, 2, 3, 4, 5}},
		{"missing value", `{"must": [{"key": "city", "match": {"value": "Rome"}}]}`, nil},
		{"float64 precision", `{"must": [{"key": "n", "match": {"value": 9007199254740992}}]}`, []uint32{5}},
		{"largest float", `{"must": [{"key": "price", "range": {"gte": 1e308}}]}`, []uint32{5}},
	}
	ix := New()
	for i, d := range docs {
		require.NoError(t, ix.Add(uint32(i), []byte(d)), d)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireEval(t, ix, tc.filter, tc.want...)
		})
	}
}

// TestCompactTimes checks where time strings are kept: those their format
// code writes back only in the time index, the others also as strings.
func TestCompactTimes(t *testing.T) {
	cases := []struct {
		name    string
		value   string
		compact bool
	}{
		{"Z", "2024-01-01T00:00:00Z", true},
		{"offset", "2024-01-01T05:30:00+05:30", true},
		{"zero offset", "2024-01-01T00:00:00+00:00", true},
		{"fraction", "2024-01-01T00:00:00.120Z", true},
		{"nanoseconds", "2024-01-01T00:00:00.000000001-08:00", true},
		{"minus zero offset", "2024-01-01T00:00:00-00:00", false},
		{"comma", "2024-01-01T00:00:00,5Z", false},
		{"ten fraction digits", "2024-01-01T00:00:00.1234567891Z", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ix := New()
			md := []byte(fmt.Sprintf(`{"t": %q}`, tc.value))
			require.NoError(t, ix.Add(1, md))
			k := ix.mu.keys["t"]
			require.NotNil(t, k.times, "not a time")
			_, inStrings := k.strs[tc.value]
			require.Equal(t, !tc.compact, inStrings)
			requireEval(t, ix, fmt.Sprintf(`{"must": [{"key": "t", "match": {"value": %q}}]}`, tc.value), 1)
			require.NoError(t, ix.Remove(1, md))
			require.Empty(t, ix.mu.keys)
		})
	}
}

// TestEvalUniverse checks that results stay within the universe and that
// must_not and exists false are taken against it.
func TestEvalUniverse(t *testing.T) {
	ix := New()
	for i := range uint32(10) {
		require.NoError(t, ix.Add(i, []byte(fmt.Sprintf(`{"n": %d}`, i))))
	}
	u := roaring.BitmapOf(2, 3, 4, 20, 21) // 20, 21: documents without metadata
	cases := []struct {
		filter string
		want   []uint32
	}{
		{`{}`, []uint32{2, 3, 4, 20, 21}},
		{`{"must": [{"key": "n", "range": {"gte": 3}}]}`, []uint32{3, 4}},
		{`{"must_not": [{"key": "n", "range": {"gte": 3}}]}`, []uint32{2, 20, 21}},
		{`{"must": [{"key": "n", "exists": false}]}`, []uint32{20, 21}},
		{`{"must": [{"key": "x", "exists": false}]}`, []uint32{2, 3, 4, 20, 21}},
		{`{"should": [{"key": "n", "match": {"value": 9}}, {"key": "n", "match": {"value": 2}}]}`, []uint32{2}},
	}
	for _, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			f, err := Parse([]byte(tc.filter))
			require.NoError(t, err)
			got, err := ix.Eval(f, u)
			require.NoError(t, err)
			require.Equal(t, tc.want, got.ToArray())
		})
	}
	require.Equal(t, []uint32{2, 3, 4, 20, 21}, u.ToArray(), "universe changed")
}

// TestEvalReturnsNewBitmap changes every result and checks that the index
// did not see it.
func TestEvalReturnsNewBitmap(t *testing.T) {
	ix := New()
	require.NoError(t, ix.Add(1, []byte(`{"a": "x", "b": true, "n": 1, "t": "2024-01-01T00:00:00Z"}`)))
	require.NoError(t, ix.Add(2, []byte(`{"a": "x", "b": true, "n": 1}`)))
	for _, filter := range []string{
		`{}`,
		`{"must": [{"key": "a", "match": {"value": "x"}}]}`,
		`{"must": [{"key": "b", "match": {"value": true}}]}`,
		`{"must": [{"key": "a", "exists": true}]}`,
		`{"must": [{"key": "n", "range": {"gte": 1}}]}`,
		`{"should": [{"key": "a", "exists": true}]}`,
		`{"must": [{"must": []}]}`,
	} {
		f, err := Parse([]byte(filter))
		require.NoError(t, err)
		for _, u := range []*roaring.Bitmap{nil, roaring.BitmapOf(1, 2)} {
			got, err := ix.Eval(f, u)
			require.NoError(t, err)
			require.Equal(t, uint64(2), got.GetCardinality(), filter)
			got.Clear()
			got.Add(99)
			again, err := ix.Eval(f, u)
			require.NoError(t, err)
			require.Equal(t, []uint32{1, 2}, again.ToArray(), filter)
		}
	}
	require.Equal(t, 2, ix.Len())
}

// TestEvalInvalid checks that Eval refuses a filter it cannot evaluate.
func TestEvalInvalid(t *testing.T) {
	ix := New()
	_, err := ix.Eval(&Filter{Must: []Condition{{Key: "a", Match: &Match{Value: 3}}}}, nil)
	require.ErrorIs(t, err, ErrInvalidFilter)
	_, err = ix.Eval(&Filter{Must: []Condition{{Key: "a"}}}, nil)
	require.ErrorIs(t, err, ErrInvalidFilter)
	// Size limits are Parse's business, not Eval's.
	f := &Filter{}
	for range 40 {
		f = &Filter{Must: []Condition{{Filter: f}}}
	}
	_, err = ix.Eval(f, nil)
	require.NoError(t, err)
}

// TestConcurrent runs evaluations alongside writers; run it with -race. The
// documents every reader checks are never touched by the writers, so their
// answers are known throughout.
func TestConcurrent(t *testing.T) {
	ix := New()
	ix.deltaMin = 16 // merges while readers read
	const stable = 200
	for i := range uint32(stable) {
		require.NoError(t, ix.Add(i, []byte(fmt.Sprintf(`{"n": %d, "s": "v%d", "stable": true}`, i, i%7))))
	}
	f, err := Parse([]byte(`{"must": [{"key": "stable", "match": {"value": true}}, {"key": "n", "range": {"gte": 50, "lt": 150}}], "must_not": [{"key": "s", "match": {"value": "v0"}}]}`))
	require.NoError(t, err)
	want, err := ix.Eval(f, nil)
	require.NoError(t, err)

	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			base := uint32(1000 + w*10000)
			for i := range uint32(2000) {
				md := []byte(fmt.Sprintf(`{"n": %d, "s": "v%d"}`, rng.IntN(300), i%7))
				if err := ix.Add(base+i, md); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if err := ix.Remove(base+i, md); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 300 {
				got, err := ix.Eval(f, nil)
				if err != nil {
					t.Error(err)
					return
				}
				got.And(roaring.BitmapOf(seq(stable)...))
				if !got.Equals(want) {
					t.Errorf("got %v, want %v", got.ToArray(), want.ToArray())
					return
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, stable+2000, ix.Len())
}

func seq(n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i)
	}
	return out
}
