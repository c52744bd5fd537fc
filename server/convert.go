package server

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/index/filter"
)

// This file converts API messages to index values, checking the server's
// limits and naming the offending field of every error. The index checks
// the rest (IDs, dimensions, metadata shape) and names the document.

// document converts one document; field is its path ("documents[3]").
func (l Limits) document(field string, d *ragv1.Document) (index.Document, error) {
	if d == nil {
		return index.Document{}, badField(field, "is null")
	}
	if len(d.GetId()) > index.MaxIDBytes {
		return index.Document{}, badField(field+".id", "%d bytes exceed the limit of %d bytes", len(d.GetId()), index.MaxIDBytes)
	}
	if !utf8.ValidString(d.GetId()) {
		return index.Document{}, badField(field+".id", "is not valid UTF-8")
	}
	if len(d.GetText()) > l.MaxTextBytes {
		return index.Document{}, badField(field+".text", "%d bytes exceed the limit of %d bytes (--max-text-bytes); split the document into chunks", len(d.GetText()), l.MaxTextBytes)
	}
	if !utf8.ValidString(d.GetText()) {
		return index.Document{}, badField(field+".text", "is not valid UTF-8")
	}
	if len(d.GetSource()) > index.MaxSourceBytes {
		return index.Document{}, badField(field+".source", "%d bytes exceed the limit of %d bytes", len(d.GetSource()), index.MaxSourceBytes)
	}
	if d.GetChunk() < 0 {
		return index.Document{}, badField(field+".chunk", "%d is negative", d.GetChunk())
	}
	if err := checkVector(field+".vector", d.GetVector()); err != nil {
		return index.Document{}, err
	}
	md, err := l.metadata(field+".metadata", d.GetMetadata())
	if err != nil {
		return index.Document{}, err
	}
	return index.Document{ID: d.GetId(), Text: d.GetText(), Metadata: md, Vector: d.GetVector(), Source: d.GetSource(), Chunk: int(d.GetChunk())}, nil
}

// metadata converts a Struct to the index's map, checking its size and
// shape (values are scalars or lists of scalars; no nested objects).
func (l Limits) metadata(field string, s *structpb.Struct) (map[string]any, error) {
	if s == nil || len(s.GetFields()) == 0 {
		return nil, nil
	}
	for k, v := range s.GetFields() {
		if err := checkMetaValue(field+"."+k, v, true); err != nil {
			return nil, err
		}
	}
	m := s.AsMap()
	b, err := index.MarshalMetadata(m)
	if err != nil {
		return nil, badField(field, "%v", err)
	}
	if len(b) > l.MaxMetadataBytes {
		return nil, badField(field, "%d bytes of JSON exceed the limit of %d bytes", len(b), l.MaxMetadataBytes)
	}
	return m, nil
}

// checkMetaValue accepts strings, finite numbers, booleans, null and (at
// the top) lists of those.
func checkMetaValue(field string, v *structpb.Value, top bool) error {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		if !utf8.ValidString(k.StringValue) {
			return badField(field, "is not valid UTF-8")
		}
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			return badField(field, "is not a finite number")
		}
	case *structpb.Value_BoolValue, *structpb.Value_NullValue, nil:
	case *structpb.Value_StructValue:
		return badField(field, "is an object; metadata values are strings, numbers, booleans or lists of those (flatten nested keys, e.g. \"a.b\")")
	case *structpb.Value_ListValue:
		if !top {
			return badField(field, "is a list inside a list; metadata lists hold strings, numbers and booleans")
		}
		for i, e := range k.ListValue.GetValues() {
			if err := checkMetaValue(fmt.Sprintf("%s[%d]", field, i), e, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkVector rejects NaN and infinities, naming the element.
func checkVector(field string, v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return badField(fmt.Sprintf("%s[%d]", field, i), "%v is not a finite number", x)
		}
	}
	return nil
}

// filter converts a filter Struct; nil when absent.
func (l Limits) filter(field string, s *structpb.Struct) (*filter.Filter, error) {
	if s == nil {
		return nil, nil
	}
	if d := structDepth(s, 0); d > 2*l.MaxFilterDepth+2 {
		return nil, badField(field, "nested deeper than the limit of %d filters", l.MaxFilterDepth)
	}
	b, err := protojson.Marshal(s)
	if err != nil {
		return nil, badField(field, "%v", err)
	}
	lim := filter.DefaultLimits()
	lim.MaxDepth = l.MaxFilterDepth
	f, err := filter.ParseWithLimits(b, lim)
	if err != nil {
		var fe *filter.Error
		if errors.As(err, &fe) {
			path := field
			if fe.Path != "" {
				path += "." + fe.Path
			}
			return nil, badField(path, "%s", fe.Reason)
		}
		return nil, badField(field, "%v", err)
	}
	return f, nil
}

// structDepth is the nesting depth of objects and lists in a Struct, with
// an early stop: the JSON of a filter is two levels (a list, then an
// object) per nested filter.
func structDepth(s *structpb.Struct, d int) int {
	best := d + 1
	if best > 1000 {
		return best
	}
	for _, v := range s.GetFields() {
		best = max(best, valueDepth(v, d+1))
	}
	return best
}

func valueDepth(v *structpb.Value, d int) int {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		return structDepth(k.StructValue, d)
	case *structpb.Value_ListValue:
		best := d + 1
		if best > 1000 {
			return best
		}
		for _, e := range k.ListValue.GetValues() {
			best = max(best, valueDepth(e, d+1))
		}
		return best
	}
	return d
}

// search converts a search request, all but the query's embedding.
func (l Limits) search(r *ragv1.SearchRequest) (index.SearchRequest, error) {
	var req index.SearchRequest
	if len(r.GetQuery()) > l.MaxQueryBytes {
		return req, badField("query", "%d bytes exceed the limit of %d bytes", len(r.GetQuery()), l.MaxQueryBytes)
	}
	if !utf8.ValidString(r.GetQuery()) {
		return req, badField("query", "is not valid UTF-8")
	}
	if err := checkVector("vector", r.GetVector()); err != nil {
		return req, err
	}
	switch m := index.Mode(r.GetMode()); m {
	case "", index.ModeHybrid, index.ModeVector, index.ModeText:
		req.Mode = m
	default:
		return req, badField("mode", "%q (want hybrid, vector or text)", r.GetMode())
	}
	switch f := index.Fusion(r.GetFusion()); f {
	case "", index.FusionRRF, index.FusionRelative:
		req.Fusion = f
	default:
		return req, badField("fusion", "%q (want relative or rrf)", r.GetFusion())
	}
	k := int(r.GetK())
	if k == 0 {
		k = 10
	}
	if k < 1 || k > l.MaxK {
		return req, badField("k", "%d out of range [1, %d] (--max-k)", r.GetK(), l.MaxK)
	}
	req.K = k
	if r.Alpha != nil {
		a := r.GetAlpha()
		if !(a >= 0 && a <= 1) {
			return req, badField("alpha", "%v out of range [0, 1]", a)
		}
		req.Alpha = &a
	}
	if ef := r.GetEf(); ef < 0 || int(ef) > maxEf {
		return req, badField("ef", "%d out of range [0, %d]", ef, maxEf)
	}
	req.Ef = int(r.GetEf())
	if rk := r.GetRrfK(); rk < 0 || rk > 1_000_000 {
		return req, badField("rrf_k", "%d out of range [0, 1000000]", rk)
	}
	req.RRFK = int(r.GetRrfK())
	if d := r.GetDepth(); d < 0 || int(d) > maxEf {
		return req, badField("depth", "%d out of range [0, %d]", d, maxEf)
	}
	req.Depth = int(r.GetDepth())
	f, err := l.filter("filter", r.GetFilter())
	if err != nil {
		return req, err
	}
	req.Filter = f
	req.Vector = r.GetVector()
	req.Text = r.GetQuery()
	req.IncludeVectors = r.GetIncludeVectors()
	return req, nil
}

// maxEf bounds a search's ef and depth: beyond it a search visits most of
// a large graph and one request could hold a core for seconds.
const maxEf = 10000

// hitToProto converts a search hit.
func hitToProto(h index.Hit) (*ragv1.SearchResult, error) {
	md, err := metadataToProto(h.Metadata)
	if err != nil {
		return nil, err
	}
	r := &ragv1.SearchResult{Id: h.ID, Score: h.Score, Text: h.Text, Metadata: md, Vector: h.Vector, Source: h.Source, Chunk: int32(h.Chunk),
		Scores: &ragv1.LegScores{Vector: h.Scores.Vector, Text: h.Scores.Text}, Ranks: &ragv1.LegRanks{}}
	if h.Ranks.Vector > 0 {
		v := int32(h.Ranks.Vector)
		r.Ranks.Vector = &v
	}
	if h.Ranks.Text > 0 {
		v := int32(h.Ranks.Text)
		r.Ranks.Text = &v
	}
	return r, nil
}

// docToProto converts a stored document.
func docToProto(d index.Document) (*ragv1.Document, error) {
	md, err := metadataToProto(d.Metadata)
	if err != nil {
		return nil, err
	}
	return &ragv1.Document{Id: d.ID, Text: d.Text, Metadata: md, Vector: d.Vector, Source: d.Source, Chunk: int32(d.Chunk)}, nil
}

func metadataToProto(m map[string]any) (*structpb.Struct, error) {
	if len(m) == 0 {
		return nil, nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("stored metadata: %w", err)
	}
	return s, nil
}

// collectionToProto converts a collection's config and count.
func collectionToProto(cc index.CollectionConfig, st index.Stats) *ragv1.Collection {
	c := &ragv1.Collection{
		Name: cc.Name, Dimension: int32(cc.Dimension), Metric: string(cc.Metric), Shards: int32(cc.Shards),
		Hnsw:      &ragv1.HnswConfig{M: int32(cc.HNSW.M), EfConstruction: int32(cc.HNSW.EfConstruction), EfSearch: int32(cc.HNSW.EfSearch)},
		Text:      &ragv1.TextConfig{Analyzer: cc.Text.Analyzer, K1: &cc.Text.K1, B: &cc.Text.B},
		Documents: int32(st.Documents), Vectors: int32(st.Vectors),
	}
	if !cc.CreatedAt.IsZero() {
		c.CreatedAt = timestampProto(cc.CreatedAt)
	}
	p := cc.Embedder.Provider
	if p == "" {
		p = ProviderNone
	}
	c.Embedder = &ragv1.EmbedderConfig{Provider: p, Model: cc.Embedder.Model, BaseUrl: cc.Embedder.BaseURL, Dimensions: int32(cc.Embedder.Dimension)}
	return c
}
