package filter

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParseErrors feeds Parse bad filters and checks the message: the path
// and the problem.
func TestParseErrors(t *testing.T) {
	deep := strings.Repeat(`{"must":[`, 33) + strings.Repeat(`]}`, 33)
	many := `{"must":[` + strings.Repeat(`{"key":"a","exists":true},`, 1024) + `{"key":"a","exists":true}]}`
	manyValues := `{"must":[{"key":"a","match":{"any":[` + strings.Repeat(`1,`, 1024) + `1]}}]}`
	cases := []struct {
		name, in, want string
	}{
		{"empty input", ``, `filter: unexpected end of JSON input`},
		{"not an object", `[]`, `filter: want a filter (an object), got array`},
		{"null", `null`, `filter: want a filter (an object), got null`},
		{"syntax", `{"must": [}`, `filter: must: invalid JSON at byte`},
		{"truncated", `{"must": [{"key": "a"`, `unexpected end of JSON input`},
		{"trailing data", `{} {}`, `filter: unexpected data after the JSON value`},
		{"invalid UTF-8", "{\"must\": [{\"key\": \"\xff\", \"exists\": true}]}", `filter: not valid UTF-8`},
		{"unknown top-level field", `{"must": [], "filter": []}`, `filter: unknown field "filter" (want must, should or must_not)`},
		{"bare condition", `{"key": "a", "exists": true}`, `filter: unknown field "key" (a filter has must, should and must_not`},
		{"case matters", `{"Must": []}`, `unknown field "Must"`},
		{"duplicate field", `{"must": [], "must": []}`, `filter: duplicate field "must"`},
		{"must not an array", `{"must": {"key": "a"}}`, `filter: must: want a list of conditions (an array), got object`},
		{"condition not an object", `{"must": ["a"]}`, `filter: must[0]: want a condition (an object), got string`},
		{"unknown condition field", `{"must": [{"key": "a", "rnage": {}}]}`, `filter: must[0]: unknown field "rnage"`},
		{"duplicate condition field", `{"should": [{"key": "a", "key": "b", "exists": true}]}`, `filter: should[0]: duplicate field "key"`},
		{"empty condition", `{"must": [{}]}`, `filter: must[0]: empty condition`},
		{"no operator", `{"must": [{"key": "a"}]}`, `filter: must[0]: key "a" has no match, range or exists`},
		{"no key", `{"must": [{"match": {"value": 1}}]}`, `filter: must[0].key: missing or empty`},
		{"empty key", `{"must": [{"key": "", "exists": true}]}`, `filter: must[0].key: missing or empty`},
		{"long key", `{"must": [{"key": "` + strings.Repeat("k", 257) + `", "exists": true}]}`, `filter: must[0].key: longer than 256 bytes`},
		{"key not a string", `{"must": [{"key": 7, "exists": true}]}`, `filter: must[0].key: want a string, got number`},
		{"two operators", `{"must": [{"key": "a", "match": {"value": 1}, "exists": true}]}`, `filter: must[0]: more than one of match, range and exists given (match, exists)`},
		{"field and nested", `{"must": [{"key": "a", "must": []}]}`, `filter: must[0]: a condition is either a field condition`},
		{"exists not a bool", `{"must": [{"key": "a", "exists": "yes"}]}`, `filter: must[0].exists: want true or false, got string`},
		{"match not an object", `{"must": [{"key": "a", "match": "London"}]}`, `filter: must[0].match: want a match (an object), got string`},
		{"match empty", `{"must": [{"key": "a", "match": {}}]}`, `filter: must[0].match: want value or any`},
		{"match value and any", `{"must": [{"key": "a", "match": {"value": 1, "any": [1]}}]}`, `filter: must[0].match: value and any both given`},
		{"match value object", `{"must": [{"key": "a", "match": {"value": {"x": 1}}}]}`, `filter: must[0].match.value: want a string, number or boolean, got object`},
		{"match value null", `{"must": [{"key": "a", "match": {"value": null}}]}`, `filter: must[0].match.value: want a string, number or boolean, got null`},
		{"match value array", `{"must": [{"key": "a", "match": {"value": [1]}}]}`, `filter: must[0].match.value: want a string, number or boolean, got array`},
		{"match unknown field", `{"must": [{"key": "a", "match": {"values": [1]}}]}`, `filter: must[0].match: unknown field "values" (want value or any)`},
		{"any not an array", `{"must": [{"key": "a", "match": {"any": "a"}}]}`, `filter: must[0].match.any: want an array of values, got string`},
		{"any with null", `{"must": [{"key": "a", "match": {"any": ["a", null]}}]}`, `filter: must[0].match.any[1]: want a string, number or boolean, got null`},
		{"any too long", manyValues, `filter: must[0].match.any: more than 1024 values`},
		{"number out of range", `{"must": [{"key": "a", "match": {"value": 1e999}}]}`, `filter: must[0].match.value: number 1e999 is out of range`},
		{"range not an object", `{"must": [{"key": "a", "range": [1, 2]}]}`, `filter: must[0].range: want a range (an object), got array`},
		{"range empty", `{"must": [{"key": "a", "range": {}}]}`, `filter: must[0].range: no bound given`},
		{"range gt and gte", `{"must": [{"key": "a", "range": {"gt": 1, "gte": 2}}, {"key": "b", "exists": true}]}`, `filter: must[0].range: gt and gte both given`},
		{"range lt and lte, nested", `{"must_not": [{"key": "a", "exists": true}, {"should": [{"key": "a", "exists": true}, {"key": "b", "range": {"lt": 1, "lte": 2}}]}]}`, `filter: must_not[1].should[1].range: lt and lte both given`},
		{"range mixed kinds", `{"must": [{"key": "a", "range": {"gte": 1, "lt": "2024-01-01T00:00:00Z"}}]}`, `filter: must[0].range: mixes number and time bounds`},
		{"range bad time", `{"must": [{"key": "a", "range": {"gte": "yesterday"}}]}`, `filter: must[0].range.gte: "yesterday" is not a number or an RFC 3339 time`},
		{"range date only", `{"must": [{"key": "a", "range": {"gte": "2024-01-01"}}]}`, `filter: must[0].range.gte: "2024-01-01" is not a number or an RFC 3339 time`},
		{"range one-digit hour", `{"must": [{"key": "a", "range": {"gte": "2024-01-01T0:00:00Z"}}]}`, `filter: must[0].range.gte: "2024-01-01T0:00:00Z" is not a number or an RFC 3339 time`},
		{"range bound bool", `{"must": [{"key": "a", "range": {"gte": true}}]}`, `filter: must[0].range.gte: want a number or an RFC 3339 time, got boolean`},
		{"range bound null", `{"must": [{"key": "a", "range": {"lt": null}}]}`, `filter: must[0].range.lt: want a number or an RFC 3339 time, got null`},
		{"range unknown bound", `{"must": [{"key": "a", "range": {"from": 1}}]}`, `filter: must[0].range: unknown field "from" (want gt, gte, lt or lte)`},
		{"too deep", deep, `nested deeper than 32 levels`},
		{"too many conditions", many, `filter: must[1024]: more than 1024 conditions`},
	}
	require.GreaterOrEqual(t, len(cases), 25)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.in))
			require.Error(t, err)
			require.Nil(t, f)
			require.ErrorIs(t, err, ErrInvalidFilter)
			var fe *Error
			require.True(t, errors.As(err, &fe))
			require.Contains(t, err.Error(), tc.want)
			// The decoder entry point says the same.
			var g Filter
			err2 := json.Unmarshal([]byte(tc.in), &g)
			require.Error(t, err2)
		})
	}
}

// TestParseDeepPath checks the path of an error deep in nested filters.
func TestParseDeepPath(t *testing.T) {
	in := `{"should": [{"key": "x", "exists": true}, {"must_not": [{"must": [{"key": "a", "exists": 1}]}]}]}`
	_, err := Parse([]byte(in))
	require.EqualError(t, err, "filter: should[1].must_not[0].must[0].exists: want true or false, got number")
}

// TestParseLimits checks that limits are configurable and exact.
func TestParseLimits(t *testing.T) {
	nested := func(depth int) string {
		return strings.Repeat(`{"must":[`, depth) + `{"key":"a","exists":true}` + strings.Repeat(`]}`, depth)
	}
	cases := []struct {
		name string
		in   string
		lim  Limits
		ok   bool
	}{
		{"depth 32 of 32", nested(32), Limits{}, true},
		{"depth 33 of 32", nested(33), Limits{}, false},
		{"depth 3 of 3", nested(3), Limits{MaxDepth: 3}, true},
		{"depth 4 of 3", nested(4), Limits{MaxDepth: 3}, false},
		{"2 conditions of 2", `{"must":[{"key":"a","exists":true}],"should":[{"key":"b","exists":true}]}`, Limits{MaxConditions: 2}, true},
		{"3 conditions of 2", `{"must":[{"key":"a","exists":true},{"must":[{"key":"b","exists":true}]}]}`, Limits{MaxConditions: 2}, false},
		{"2 values of 2", `{"must":[{"key":"a","match":{"any":[1,2]}}]}`, Limits{MaxValues: 2}, true},
		{"3 values of 2", `{"must":[{"key":"a","match":{"any":[1,2,3]}}]}`, Limits{MaxValues: 2}, false},
		{"negative limit", `{}`, Limits{MaxDepth: -1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseWithLimits([]byte(tc.in), tc.lim)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, f.ValidateWithLimits(tc.lim))
		})
	}
}

func ptr[T any](v T) *T { return &v }

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return tm
}

// TestParseGood checks what good filters parse to, and that they survive
// Marshal and Parse again.
func TestParseGood(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want *Filter
	}{
		{"empty", `{}`, &Filter{}},
		{"null lists", `{"must": null, "should": null, "must_not": null}`, &Filter{}},
		{"empty lists", `{"must": [], "should": [], "must_not": []}`, &Filter{}},
		{"match string", `{"must": [{"key": "city", "match": {"value": "London"}}]}`,
			&Filter{Must: []Condition{{Key: "city", Match: &Match{Value: "London"}}}}},
		{"match number and bool", `{"should": [{"key": "n", "match": {"value": -2.5e3}}, {"match": {"value": false}, "key": "b"}]}`,
			&Filter{Should: []Condition{{Key: "n", Match: &Match{Value: -2500.0}}, {Key: "b", Match: &Match{Value: false}}}}},
		{"match any mixed", `{"must": [{"key": "tags", "match": {"any": ["a", 1, true]}}]}`,
			&Filter{Must: []Condition{{Key: "tags", Match: &Match{Any: []any{"a", 1.0, true}}}}}},
		{"match any empty", `{"must": [{"key": "tags", "match": {"any": []}}]}`,
			&Filter{Must: []Condition{{Key: "tags", Match: &Match{Any: []any{}}}}}},
		{"range numbers", `{"must": [{"key": "price", "range": {"gt": 1, "lte": 9.5}}]}`,
			&Filter{Must: []Condition{{Key: "price", Range: &Range{GT: NumberBound(1), LTE: NumberBound(9.5)}}}}},
		{"range times", `{"must": [{"key": "published", "range": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-06-01T12:00:00.5+02:00"}}]}`,
			&Filter{Must: []Condition{{Key: "published", Range: &Range{
				GTE: TimeBound(mustTime(t, "2024-01-01T00:00:00Z")), LT: TimeBound(mustTime(t, "2024-06-01T12:00:00.5+02:00"))}}}}},
		{"range empty interval", `{"must": [{"key": "p", "range": {"gt": 5, "lt": 3}}]}`,
			&Filter{Must: []Condition{{Key: "p", Range: &Range{GT: NumberBound(5), LT: NumberBound(3)}}}}},
		{"exists", `{"must_not": [{"key": "author", "exists": true}], "must": [{"key": "x", "exists": false}]}`,
			&Filter{Must: []Condition{{Key: "x", Exists: ptr(false)}}, MustNot: []Condition{{Key: "author", Exists: ptr(true)}}}},
		{"nested", `{"must": [{"should": [{"key": "a", "exists": true}], "must_not": [{"must": []}]}]}`,
			&Filter{Must: []Condition{{Filter: &Filter{
				Should:  []Condition{{Key: "a", Exists: ptr(true)}},
				MustNot: []Condition{{Filter: &Filter{}}},
			}}}}},
		{"unicode key", `{"must": [{"key": "ключ x", "match": {"value": "é"}}]}`,
			&Filter{Must: []Condition{{Key: "ключ x", Match: &Match{Value: "é"}}}}},
		{"white space", " \n{ \"must\" : [ ] }\n ", &Filter{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.in))
			require.NoError(t, err)
			requireSameFilter(t, tc.want, f)
			require.NoError(t, f.Validate())

			js, err := json.Marshal(f)
			require.NoError(t, err)
			g, err := Parse(js)
			require.NoError(t, err, "%s", js)
			requireSameFilter(t, f, g)

			var h Filter
			require.NoError(t, json.Unmarshal([]byte(tc.in), &h))
			requireSameFilter(t, f, &h)
		})
	}
}

// normalize returns a copy of f with every time bound in UTC, so that
// filters can be compared with reflect.DeepEqual (a parsed time's location
// depends on its offset and the local zone).
func normalize(f *Filter) *Filter {
	if f == nil {
		return nil
	}
	g := &Filter{}
	for i, list := range [][]Condition{f.Must, f.Should, f.MustNot} {
		var out []Condition
		for _, c := range list {
			c.Filter = normalize(c.Filter)
			if c.Range != nil {
				r := *c.Range
				for _, b := range []**Bound{&r.GT, &r.GTE, &r.LT, &r.LTE} {
					if *b != nil && (*b).IsTime() {
						*b = TimeBound((*b).Time().UTC())
					}
				}
				c.Range = &r
			}
			out = append(out, c)
		}
		*[]*[]Condition{&g.Must, &g.Should, &g.MustNot}[i] = out
	}
	return g
}

func requireSameFilter(t testing.TB, want, got *Filter) {
	t.Helper()
	if !reflect.DeepEqual(normalize(want), normalize(got)) {
		a, _ := json.Marshal(want)
		b, _ := json.Marshal(got)
		t.Fatalf("filters differ\nwant %s\ngot  %s", a, b)
	}
}

// TestValidate checks filters built in Go, which skip the parser.
func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		f    *Filter
		want string // "" for valid
	}{
		{"nil", nil, ""},
		{"zero", &Filter{}, ""},
		{"int value", &Filter{Must: []Condition{{Key: "a", Match: &Match{Value: 1}}}}, "must[0].match.value: want a string, float64 or bool, got int"},
		{"NaN value", &Filter{Must: []Condition{{Key: "a", Match: &Match{Value: math.NaN()}}}}, "must[0].match.value: number NaN is not finite"},
		{"nil value", &Filter{Must: []Condition{{Key: "a", Match: &Match{}}}}, "must[0].match: want value or any"},
		{"bad any element", &Filter{Should: []Condition{{Key: "a", Match: &Match{Any: []any{"a", []string{"b"}}}}}}, "should[0].match.any[1]: want a string, float64 or bool, got []string"},
		{"infinite bound", &Filter{Must: []Condition{{Key: "a", Range: &Range{GT: NumberBound(math.Inf(1))}}}}, "must[0].range.gt: number +Inf is not finite"},
		{"year 10000", &Filter{Must: []Condition{{Key: "a", Range: &Range{GT: TimeBound(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))}}}}, "must[0].range.gt: time"},
		{"invalid UTF-8 key", &Filter{Must: []Condition{{Key: "\xff", Exists: ptr(true)}}}, "must[0].key: not valid UTF-8"},
		{"nested mixed", &Filter{MustNot: []Condition{{Key: "a", Filter: &Filter{}}}}, "must_not[0]: a condition is either"},
		{"deep", func() *Filter {
			f := &Filter{}
			for range 32 {
				f = &Filter{Must: []Condition{{Filter: f}}}
			}
			return f
		}(), "nested deeper than 32 levels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidFilter)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestMarshal pins the JSON that Marshal writes.
func TestMarshal(t *testing.T) {
	cases := []struct {
		name string
		f    Filter
		want string
	}{
		{"empty", Filter{}, `{}`},
		{"empty nested", Filter{Must: []Condition{{Filter: &Filter{}}}}, `{"must":[{"must":[]}]}`},
		{"match", Filter{Must: []Condition{{Key: "a", Match: &Match{Value: "x"}}}}, `{"must":[{"key":"a","match":{"value":"x"}}]}`},
		{"any empty", Filter{Must: []Condition{{Key: "a", Match: &Match{Any: []any{}}}}}, `{"must":[{"key":"a","match":{"any":[]}}]}`},
		{"range time", Filter{MustNot: []Condition{{Key: "t", Range: &Range{GTE: TimeBound(time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC))}}}},
			`{"must_not":[{"key":"t","range":{"gte":"2024-01-02T03:04:05.0000006Z"}}]}`},
		{"range number", Filter{Should: []Condition{{Key: "p", Range: &Range{GT: NumberBound(0.5), LT: NumberBound(1e21)}}}},
			`{"should":[{"key":"p","range":{"gt":0.5,"lt":1e+21}}]}`},
		{"exists false", Filter{Must: []Condition{{Key: "a", Exists: ptr(false)}}}, `{"must":[{"key":"a","exists":false}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			js, err := json.Marshal(tc.f)
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(js))
		})
	}
}
