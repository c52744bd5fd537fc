package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

var fuzzFilters = []string{
	`{}`,
	`{"must": [{"key": "city", "match": {"value": "London"}}]}`,
	`{"should": [{"key": "n", "match": {"value": -2.5e3}}, {"key": "b", "match": {"value": false}}]}`,
	`{"must": [{"key": "tags", "match": {"any": ["a", 1, true]}}]}`,
	`{"must": [{"key": "price", "range": {"gt": 1, "lte": 9.5}}]}`,
	`{"must": [{"key": "t", "range": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-06-01T12:00:00.5+02:00"}}]}`,
	`{"must_not": [{"key": "author", "exists": true}], "must": [{"key": "x", "exists": false}]}`,
	`{"must": [{"should": [{"key": "s", "exists": true}], "must_not": [{"must": []}]}]}`,
	`{"must": [{"key": "a", "range": {"gt": 1, "gte": 2}}]}`,
	`{"must": [{"key": "a", "match": {"value": {"x": 1}}}]}`,
	`{"must": [{"key": "t", "range": {"lt": "0000-01-01T00:00:00+01:00"}}]}`,
}

// FuzzParse: Parse never panics, refuses with an *Error, and what it
// accepts marshals to JSON that parses to the same filter and marshals to
// the same bytes.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzFilters {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := Parse(data)
		if err != nil {
			require.Nil(t, flt)
			var fe *Error
			require.True(t, errors.As(err, &fe), "%v", err)
			require.True(t, strings.HasPrefix(err.Error(), "filter: "))
			return
		}
		require.NoError(t, flt.Validate())
		js, err := json.Marshal(flt)
		require.NoError(t, err)
		again, err := Parse(js)
		require.NoError(t, err, "%s", js)
		requireSameFilter(t, flt, again)
		js2, err := json.Marshal(again)
		require.NoError(t, err)
		require.Equal(t, string(js), string(js2))
	})
}

// oracleValidMetadata says, from the spec, whether metadata can be indexed.
// Duplicate keys are invisible to encoding/json; the caller allows for them.
func oracleValidMetadata(md []byte) bool {
	if !utf8.Valid(md) {
		return false
	}
	if len(bytes.Trim(md, " \t\r\n")) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(md))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		return false
	}
	if v == nil {
		return true
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	scalar := func(x any) bool {
		switch x := x.(type) {
		case nil, string, bool:
			return true
		case json.Number:
			_, err := strconv.ParseFloat(string(x), 64)
			return err == nil
		}
		return false
	}
	for k, x := range m {
		if k == "" || len(k) > MaxKeyLen {
			return false
		}
		if list, ok := x.([]any); ok {
			for _, e := range list {
				if !scalar(e) {
					return false
				}
			}
		} else if !scalar(x) {
			return false
		}
	}
	return true
}

// formatCode writes the instant ns as its format code says.
func formatCode(ns int64, code uint16) string {
	d, zone := int(code&15), int(code>>4)
	layout := "2006-01-02T15:04:05"
	if d > 0 {
		layout += "." + strings.Repeat("0", d)
	}
	t := time.Unix(0, ns)
	if zone == zoneZ {
		return t.UTC().Format(layout + "Z")
	}
	return t.In(time.FixedZone("", (zone-zoneBias)*60)).Format(layout + "-07:00")
}

// FuzzMetadata holds the hand-written metadata parser to encoding/json: it
// accepts what the spec accepts (but for duplicate keys, which encoding/json
// does not see), decodes the same values, finds the same times, and every
// format code writes its string back.
func FuzzMetadata(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, ` { "a" : 1 } `, `{"a": [1, "x", true, null, false]}`, `{"a": -0.0e-0, "b": 1E+2, "c": 0.5}`,
		`{"a": "\u00e9\ud83d\ude00\ud800x\udc00\ud800\u0041\n\t\"\\\/"}`, `{"\u006b": "v"}`,
		`{"t": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.120+05:30", "2024-01-01T00:00:00-00:00", "2024-01-01T00:00:00,5Z", "2024-01-01T0:00:00.5Z"]}`,
		`{"a": 01}`, `{"a": 1.}`, `{"a": .5}`, `{"a": [1,]}`, `{"a": 1,}`, `{"a" 1}`, `{"a": tru}`, `{"a": "x` + "" + `"}`,
		`{"a": 1e400}`, `{"a": {"b": 1}}`, `{"a": [[1]]}`, `[1]`, `"x"`, `{"a": 1} 2`, `{"a": 1, "a": 2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, md []byte) {
		fields, err := parseMetadata(md)
		valid := oracleValidMetadata(md)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidMetadata)
			if !strings.Contains(err.Error(), "duplicate key") {
				require.False(t, valid, "refused metadata the spec accepts: %q: %v", md, err)
			}
			return
		}
		require.True(t, valid, "accepted metadata the spec refuses: %q", md)
		doc := oracleDecode(t, md)
		n := 0
		for key := range doc {
			if len(oracleValues(doc, key)) > 0 {
				n++
			}
		}
		require.Len(t, fields, n)
		for _, fl := range fields {
			want := oracleValues(doc, fl.key)
			require.Len(t, fl.vals, len(want), fl.key)
			for i, v := range fl.vals {
				switch v.kind {
				case kindString:
					require.Equal(t, want[i], v.str)
					tm, isTime := oracleTime(v.str)
					require.Equal(t, isTime, v.isTime, "%q", v.str)
					if isTime {
						require.Equal(t, tm.UnixNano(), v.ns)
						if v.code != noCode {
							require.Equal(t, v.str, formatCode(v.ns, v.code))
						}
					}
				case kindNumber:
					w, err := strconv.ParseFloat(string(want[i].(json.Number)), 64)
					require.NoError(t, err)
					require.Equal(t, w == 0, v.num == 0)
					if w != 0 {
						require.Equal(t, w, v.num)
					}
					require.False(t, math.Signbit(v.num) && v.num == 0, "-0 kept")
				case kindBool:
					require.Equal(t, want[i], v.b)
				}
			}
		}
	})
}

// FuzzEval adds random documents and a fuzzed one, evaluates a fuzzed
// filter (a random one when it does not parse) and compares with the
// oracle, before and after removing the fuzzed document.
func FuzzEval(f *testing.F) {
	docs := []string{`{}`, `{"s": "a", "n": [1, 2], "t": "2024-01-01T00:00:00Z"}`, `{"n": -0, "b": true, "l": ["5", 5, null]}`, `{"a": {"b": 1}}`}
	for i, d := range docs {
		for j, flt := range fuzzFilters {
			f.Add(uint64(i*100+j), []byte(d), []byte(flt))
		}
	}
	f.Fuzz(func(t *testing.T, seed uint64, md, filterJSON []byte) {
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		m := newModel(t, 1+int(seed%4))
		for i := range uint32(40) {
			m.add(i, genDoc(rng))
		}
		const fuzzed = 1000
		err := m.ix.Add(fuzzed, md)
		valid := oracleValidMetadata(md)
		switch {
		case err == nil:
			require.True(t, valid, "accepted metadata the spec refuses: %q", md)
			m.docs[fuzzed] = oracleDecode(t, md)
			m.raw[fuzzed] = md
		case strings.Contains(err.Error(), "duplicate key"):
		default:
			require.False(t, valid, "refused metadata the spec accepts: %q: %v", md, err)
			require.Equal(t, 40, m.ix.Len())
		}
		flt, err := Parse(filterJSON)
		if err != nil {
			flt = genFilter(rng, 1)
		}
		m.check(flt, nil)
		if _, ok := m.docs[fuzzed]; ok {
			m.remove(fuzzed)
			m.check(flt, nil)
		}
	})
}
