package server

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/index/filter"
)

// fuzzLimits are the limits the fuzz targets check a request under: the
// defaults, and small ones that short inputs can cross.
var fuzzLimits = []Limits{DefaultLimits(), badRequestLimits.withDefaults()}

// requireFieldError requires err to be a *fieldError naming a field that
// starts with one of prefixes.
func requireFieldError(t *testing.T, err error, prefixes ...string) {
	t.Helper()
	var fe *fieldError
	require.True(t, errors.As(err, &fe), "error %q (%T) names no field", err, err)
	require.NotEmpty(t, fe.msg, "error %q has no message", err)
	for _, p := range prefixes {
		if strings.HasPrefix(fe.field, p) {
			return
		}
	}
	require.Failf(t, "error names no field of the request", "field %q of error %q starts with none of %q", fe.field, err, prefixes)
}

// requireFinite requires every element of v to be a finite number.
func requireFinite(t *testing.T, v []float32) {
	t.Helper()
	for i, x := range v {
		require.False(t, math.IsNaN(float64(x)) || math.IsInf(float64(x), 0), "element %d is %v", i, x)
	}
}

var searchSeeds = []string{
	`{}`,
	`{"query":"alpha"}`,
	`{"collection":"docs","query":"alpha beta","k":5,"mode":"hybrid","fusion":"rrf","rrf_k":60,"depth":100,"ef":64,"include_vectors":true}`,
	`{"vector":[1,0,0,0],"k":10,"alpha":0.25,"fusion":"relative"}`,
	`{"vector":[1,"NaN",0]}`,
	`{"vector":["Infinity"]}`,
	`{"vector":[1e39]}`,
	`{"vector":"1,2"}`,
	`{"query":"a","k":-1}`,
	`{"query":"a","k":1001}`,
	`{"query":"a","k":"7"}`,
	`{"query":"a","k":2.5}`,
	`{"query":"a","k":99999999999}`,
	`{"query":"a","alpha":"NaN"}`,
	`{"query":"a","alpha":-0.0001}`,
	`{"query":"a","ef":-1,"depth":10001}`,
	`{"query":"a","rrf_k":1000001}`,
	`{"query":"a","mode":"semantic"}`,
	`{"query":"a","fusion":"max"}`,
	`{"query":"a","filter":{"must":[{"key":"city","match":{"value":"London"}}]}}`,
	`{"query":"a","filter":{"should":[{"key":"tags","match":{"any":["go","rust"]}},{"key":"stars","range":{"gte":1000}}]}}`,
	`{"query":"a","filter":{"must":[{"key":"t","range":{"gte":"2024-01-01T00:00:00Z","lt":"2025-01-01T00:00:00Z"}}],"must_not":[{"key":"draft","exists":true}]}}`,
	`{"query":"a","filter":{"must":[{"must":[{"must":[{"must":[{"must":[{"key":"a","exists":true}]}]}]}]}]}}`,
	`{"query":"a","filter":{"must":[{"key":"a","regex":"x"}]}}`,
	`{"query":"a","filter":{"must":[{"key":"a","range":{"gt":"many"}}]}}`,
	`{"query":"a","filter":{"must":[{"key":"a","range":{"gt":1,"gte":2}}]}}`,
	`{"query":"a","filter":{"must":{"key":"a"}}}`,
	`{"query":"a","filter":[]}`,
	`{"query":"a","filter":null}`,
	`{"query":"a","filter":{}}`,
	"{\"query\":\"caf\xc3\xa9\"}",
	"{\"query\":\"\xff\"}",
	`{"query":"\ud800"}`,
	`{"query":"a","top_k":5}`,
	`{"query":"a",,}`,
	`{"query":"a"`,
	`[1,2,3]`,
	`"query"`,
	`null`,
	``,
	`not json`,
}

var upsertSeeds = []string{
	`{}`,
	`{"documents":[]}`,
	`{"collection":"docs","documents":[{"id":"a","text":"hello world","vector":[1,0,0,0],"metadata":{"city":"London","stars":5,"ok":true,"none":null,"tags":["go",1,false,null]},"source":"a.md","chunk":3}]}`,
	`{"documents":[{"text":"no id"},{"id":"b"}]}`,
	`{"documents":[null]}`,
	`{"documents":[{}]}`,
	`{"documents":[{"id":"a","vector":[1,"NaN"]}]}`,
	`{"documents":[{"id":"a","vector":["-Infinity"]}]}`,
	`{"documents":[{"id":"a","vector":[3.5e38,1e-45]}]}`,
	`{"documents":[{"id":"a","chunk":-1}]}`,
	`{"documents":[{"id":"a","chunk":2147483648}]}`,
	`{"documents":[{"id":"a","metadata":{"a":{"b":1}}}]}`,
	`{"documents":[{"id":"a","metadata":{"l":[[1]]}}]}`,
	`{"documents":[{"id":"a","metadata":{"l":[{"x":1}]}}]}`,
	`{"documents":[{"id":"a","metadata":{"":1}}]}`,
	`{"documents":[{"id":"a","metadata":{"n":1e308}}]}`,
	`{"documents":[{"id":"a","metadata":["a"]}]}`,
	`{"documents":[{"id":"a","metadata":{"big":"` + strings.Repeat("m", 3000) + `"}}]}`,
	`{"documents":[{"id":"a","metadata":{"html":"` + strings.Repeat("<", 1000) + `"}}]}`,
	`{"documents":[{"id":"` + strings.Repeat("i", 513) + `"}]}`,
	`{"documents":[{"id":"a","text":"` + strings.Repeat("w", 4097) + `"}]}`,
	`{"documents":[{"id":"a","source":"` + strings.Repeat("s", 4097) + `"}]}`,
	"{\"documents\":[{\"id\":\"a\",\"text\":\"caf\xff\"}]}",
	`{"documents":[{"id":"a\u0000b"}]}`,
	`{"documents":[{"id":"\udc00"}]}`,
	`{"documents":[{"id":"a","colour":"red"}]}`,
	`{"documents":{"id":"a"}}`,
	`{"documents":[{"id":"a"}`,
	`[{"id":"a"}]`,
	`null`,
	``,
}

// FuzzSearchRequest decodes a REST search body as the gateway does and
// converts it: no panic, every error names a field, and every request it
// lets through is within the limits.
func FuzzSearchRequest(f *testing.F) {
	for _, s := range searchSeeds {
		f.Add([]byte(s))
	}
	fields := []string{"query", "vector", "mode", "fusion", "k", "alpha", "ef", "rrf_k", "depth", "filter"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r ragv1.SearchRequest
		if err := jsonMarshaler.Unmarshal(data, &r); err != nil {
			return
		}
		for _, l := range fuzzLimits {
			req, err := l.search(&r)
			if err != nil {
				requireFieldError(t, err, fields...)
				continue
			}
			require.GreaterOrEqual(t, req.K, 1)
			require.LessOrEqual(t, req.K, l.MaxK)
			if r.GetK() != 0 {
				require.EqualValues(t, r.GetK(), req.K)
			}
			require.LessOrEqual(t, len(req.Text), l.MaxQueryBytes)
			require.True(t, utf8.ValidString(req.Text), "query %q", req.Text)
			requireFinite(t, req.Vector)
			require.Contains(t, []index.Mode{"", index.ModeHybrid, index.ModeVector, index.ModeText}, req.Mode)
			require.Contains(t, []index.Fusion{"", index.FusionRRF, index.FusionRelative}, req.Fusion)
			if req.Alpha != nil {
				require.True(t, *req.Alpha >= 0 && *req.Alpha <= 1, "alpha %v", *req.Alpha)
			}
			require.True(t, req.Ef >= 0 && req.Ef <= maxEf, "ef %d", req.Ef)
			require.True(t, req.Depth >= 0 && req.Depth <= maxEf, "depth %d", req.Depth)
			require.True(t, req.RRFK >= 0 && req.RRFK <= 1_000_000, "rrf_k %d", req.RRFK)
			require.Equal(t, r.GetFilter() != nil, req.Filter != nil, "filter given %v, converted %v", r.GetFilter(), req.Filter)
			require.NoError(t, req.Filter.ValidateWithLimits(filter.Limits{MaxDepth: l.MaxFilterDepth}))
		}
	})
}

// FuzzUpsertRequest decodes a REST upsert body as the gateway does and
// converts each document: no panic, every error names the document's
// field, and every document it lets through is within the limits.
func FuzzUpsertRequest(f *testing.F) {
	for _, s := range upsertSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r ragv1.UpsertDocumentsRequest
		if err := jsonMarshaler.Unmarshal(data, &r); err != nil {
			return
		}
		for _, l := range fuzzLimits {
			for i, d := range r.GetDocuments() {
				field := fmt.Sprintf("documents[%d]", i)
				doc, err := l.document(field, d)
				if err != nil {
					requireFieldError(t, err, field)
					continue
				}
				require.Equal(t, d.GetId(), doc.ID)
				require.LessOrEqual(t, len(doc.ID), index.MaxIDBytes)
				require.True(t, utf8.ValidString(doc.ID), "id %q", doc.ID)
				require.LessOrEqual(t, len(doc.Text), l.MaxTextBytes)
				require.True(t, utf8.ValidString(doc.Text), "text %q", doc.Text)
				require.LessOrEqual(t, len(doc.Source), index.MaxSourceBytes)
				require.GreaterOrEqual(t, doc.Chunk, 0)
				requireFinite(t, doc.Vector)
				require.Equal(t, len(d.GetVector()), len(doc.Vector))
				if len(d.GetMetadata().GetFields()) == 0 {
					require.Nil(t, doc.Metadata)
					continue
				}
				require.Len(t, doc.Metadata, len(d.GetMetadata().GetFields()))
				for k, v := range doc.Metadata {
					require.True(t, utf8.ValidString(k), "key %q", k)
					requireMetaValue(t, k, v, true)
				}
				b, err := index.MarshalMetadata(doc.Metadata)
				require.NoError(t, err)
				require.LessOrEqual(t, len(b), l.MaxMetadataBytes)
			}
		}
	})
}

// requireMetaValue requires v to be a string, a finite number, a boolean,
// null or (at the top) a list of those.
func requireMetaValue(t *testing.T, key string, v any, top bool) {
	t.Helper()
	switch v := v.(type) {
	case nil, bool:
	case string:
		require.True(t, utf8.ValidString(v), "metadata %q: %q", key, v)
	case float64:
		require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "metadata %q: %v", key, v)
	case []any:
		require.True(t, top, "metadata %q: a list inside a list", key)
		for _, e := range v {
			requireMetaValue(t, key, e, false)
		}
	default:
		require.Failf(t, "metadata value of a kind the index does not take", "metadata %q: %T", key, v)
	}
}
