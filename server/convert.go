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

// metadata converts a Struct to the index's map, checking its size as the
// store measures it and its shape by the filter package's rules (values are
// scalars or lists of scalars), with the key named in the field path.
func (l Limits) metadata(field string, s *structpb.Struct) (map[string]any, error) {
	if s == nil || len(s.GetFields()) == 0 {
		return nil, nil
	}
	// AsMap would turn a NaN or infinite number (gRPC can send them, JSON
	// cannot) into the string "NaN" or "Infinity".
	for k, v := range s.GetFields() {
		vs := []*structpb.Value{v}
		if l := v.GetListValue(); l != nil {
			vs = l.GetValues()
		}
		for _, e := range vs {
			if n, ok := e.GetKind().(*structpb.Value_NumberValue); ok && (math.IsNaN(n.NumberValue) || math.IsInf(n.NumberValue, 0)) {
				return nil, badField(field+"."+k, "%v is not a finite number", n.NumberValue)
			}
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
	if err := filter.ValidateMetadata(b); err != nil {
		var me *filter.MetadataError
		if errors.As(err, &me) {
			if me.Key != "" {
				field += "." + me.Key
			}
			return nil, badField(field, "%s", me.Reason)
		}
		return nil, badField(field, "%v", err)
	}
	return m, nil
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
	case "", index.FusionRRF, index.FusionRelative, index.FusionDBSF:
		req.Fusion = f
	default:
		return req, badField("fusion", "%q (want dbsf, relative or rrf)", r.GetFusion())
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
		Text:      &ragv1.TextConfig{Analyzer: cc.Text.Analyzer, K1: cc.Text.K1, B: cc.Text.B},
		Documents: int32(st.Documents), Vectors: int32(st.Vectors),
		Tombstones: int32(st.Tombstones), Compacting: int32(st.Compacting), Unrepaired: int32(st.Unrepaired),
	}
	if !cc.CreatedAt.IsZero() {
		c.CreatedAt = timestampProto(cc.CreatedAt)
	}
	if f := cc.Fusion; f != nil {
		c.Fusion = &ragv1.FusionDefault{Method: string(f.Fusion), Alpha: f.Alpha, Queries: int32(f.Queries), Documents: int32(f.Documents),
			Ndcg10: f.NDCG10, Bm25Ndcg10: f.TextNDCG10, VectorNdcg10: f.VectorNDCG10}
		if !f.CalibratedAt.IsZero() {
			c.Fusion.CalibratedAt = timestampProto(f.CalibratedAt)
		}
	}
	p := cc.Embedder.Provider
	if p == "" {
		p = ProviderNone
	}
	c.Embedder = &ragv1.EmbedderConfig{Provider: p, Model: cc.Embedder.Model, BaseUrl: cc.Embedder.BaseURL, Dimensions: int32(cc.Embedder.Dimension)}
	return c
}

// fusionToProto describes how a search fused its legs; nil for one leg.
func fusionToProto(r *index.SearchResponse) *ragv1.SearchFusion {
	if r.Fusion == "" {
		return nil
	}
	return &ragv1.SearchFusion{Method: string(r.Fusion), Alpha: r.Alpha, Calibrated: r.Calibrated}
}
