package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/index/filter"
)

// service implements the gRPC services over the index and the embedders.
// The interceptors (interceptors.go) have authenticated the caller and
// bounded the request count before a method runs.
type service struct {
	ragv1.UnimplementedCollectionsServer

	s *Server
}

func timestampProto(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// collection returns the named collection, checking the name first so
// that a malformed one is a 400 naming the field, not a 404.
func (sv *service) collection(field, name string) (*index.Collection, error) {
	ix, err := sv.s.index()
	if err != nil {
		return nil, err
	}
	c, err := ix.Collection(name)
	if !errors.Is(err, index.ErrNotFound) {
		return c, err // found (so the name is valid), or another failure
	}
	if err := checkName(field, name); err != nil {
		return nil, err
	}
	return nil, &notFoundError{msg: fmt.Sprintf("collection %q not found", name)}
}

// checkName checks a collection name (the index's rule), naming field.
func checkName(field, name string) error {
	if name == "" {
		return badField(field, "is empty")
	}
	if err := (index.CollectionConfig{Name: name}).Validate(); err != nil {
		return badField(field, "%q is not a collection name (1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit)", name)
	}
	return nil
}

// embedder returns a collection's embedder, nil when it has none.
func (sv *service) embedder(c *index.Collection) (embed.Embedder, error) {
	cc := c.Config()
	if cc.Dimension == 0 {
		return nil, nil
	}
	return sv.s.emb.get(cc.Embedder)
}

// Create implements ragv1.CollectionsServer.
func (sv *service) Create(ctx context.Context, r *ragv1.CreateCollectionRequest) (*ragv1.Collection, error) {
	ix, err := sv.s.index()
	if err != nil {
		return nil, grpcError(err)
	}
	if err := checkName("name", r.GetName()); err != nil {
		return nil, grpcError(err)
	}
	if d := r.GetDimension(); d < 0 {
		return nil, grpcError(badField("dimension", "%d is negative", d))
	}
	if s := r.GetShards(); s < 0 || s > index.MaxShards {
		return nil, grpcError(badField("shards", "%d out of range [1, %d]", s, index.MaxShards))
	}
	h := r.GetHnsw()
	for _, v := range []struct {
		f string
		v int32
	}{{"hnsw.m", h.GetM()}, {"hnsw.ef_construction", h.GetEfConstruction()}, {"hnsw.ef_search", h.GetEfSearch()}} {
		if v.v < 0 || v.v > maxEf {
			return nil, grpcError(badField(v.f, "%d out of range [0, %d]", v.v, maxEf))
		}
	}
	e := r.GetEmbedder()
	ec, dim, err := sv.s.emb.resolve(ctx, e.GetProvider(), e.GetModel(), e.GetBaseUrl(), int(e.GetDimensions()), int(r.GetDimension()))
	if err != nil {
		return nil, grpcError(err)
	}
	if dim == 0 && ec.Provider != ProviderNone {
		ec = index.EmbedderConfig{Provider: ProviderNone}
	}
	var k1, b *float64 // unset: the default; an explicit 0 is kept (b = 0 is legal BM25)
	if t := r.GetText(); t != nil {
		k1, b = t.K1, t.B
	}
	cc := index.CollectionConfig{
		Name: r.GetName(), Dimension: dim, Metric: index.Metric(r.GetMetric()), Shards: int(r.GetShards()),
		HNSW:     index.HNSWConfig{M: int(h.GetM()), EfConstruction: int(h.GetEfConstruction()), EfSearch: int(h.GetEfSearch())},
		Text:     index.TextConfig{Analyzer: r.GetText().GetAnalyzer(), K1: k1, B: b},
		Embedder: ec,
	}
	if t := r.GetText(); t != nil {
		if t.K1 != nil && !(t.GetK1() > 0 && t.GetK1() <= 10) {
			return nil, grpcError(badField("text.k1", "%v out of range (0, 10]", t.GetK1()))
		}
		if t.B != nil && !(t.GetB() >= 0 && t.GetB() <= 1) {
			return nil, grpcError(badField("text.b", "%v out of range [0, 1]", t.GetB()))
		}
	}
	c, err := ix.CreateCollection(ctx, cc)
	if errors.Is(err, index.ErrExists) {
		return nil, status.Errorf(codes.AlreadyExists, "collection %q already exists", r.GetName())
	}
	if err != nil {
		return nil, grpcError(err)
	}
	sv.s.logger.Info("collection created", "collection", cc.Name, "dimension", dim, "embedder", ec.Provider, "shards", c.Config().Shards)
	return collectionToProto(c.Config(), index.Stats{}), nil
}

// List implements ragv1.CollectionsServer.
func (sv *service) List(ctx context.Context, _ *ragv1.ListCollectionsRequest) (*ragv1.ListCollectionsResponse, error) {
	ix, err := sv.s.index()
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &ragv1.ListCollectionsResponse{Collections: []*ragv1.Collection{}}
	for _, cc := range ix.Collections() {
		c, err := ix.Collection(cc.Name)
		if errors.Is(err, index.ErrNotFound) {
			continue // dropped meanwhile
		}
		if err != nil {
			return nil, grpcError(err)
		}
		st, err := c.Stats(ctx)
		if errors.Is(err, index.ErrClosed) {
			continue
		}
		if err != nil {
			return nil, grpcError(err)
		}
		resp.Collections = append(resp.Collections, collectionToProto(cc, st))
	}
	return resp, nil
}

// Get implements ragv1.CollectionsServer.
func (sv *service) Get(ctx context.Context, r *ragv1.GetCollectionRequest) (*ragv1.Collection, error) {
	c, err := sv.collection("name", r.GetName())
	if err != nil {
		return nil, grpcError(err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return collectionToProto(c.Config(), st), nil
}

// Delete implements ragv1.CollectionsServer.
func (sv *service) Delete(ctx context.Context, r *ragv1.DeleteCollectionRequest) (*ragv1.DeleteCollectionResponse, error) {
	if _, err := sv.collection("name", r.GetName()); err != nil {
		return nil, grpcError(err)
	}
	ix, err := sv.s.index()
	if err != nil {
		return nil, grpcError(err)
	}
	if err := ix.DropCollection(ctx, r.GetName()); err != nil {
		if errors.Is(err, index.ErrNotFound) {
			return nil, status.Errorf(codes.NotFound, "collection %q not found", r.GetName())
		}
		return nil, grpcError(err)
	}
	sv.s.logger.Info("collection dropped", "collection", r.GetName())
	return &ragv1.DeleteCollectionResponse{}, nil
}

// documents is the Documents service; its methods share names with the
// Collections service's, so it is a separate type over the same state.
type documents struct {
	ragv1.UnimplementedDocumentsServer
	sv *service
}

// upsert converts, embeds and stores one batch. It returns the ids and,
// among them, those whose text was longer than the embedder's window.
func (sv *service) upsert(ctx context.Context, coll string, in []*ragv1.Document, prefix string) (ids, truncated []string, err error) {
	c, err := sv.collection("collection", coll)
	if err != nil {
		return nil, nil, err
	}
	l := sv.s.cfg.Limits
	if len(in) == 0 {
		return nil, nil, badField(prefix+"documents", "is empty; give at least one document")
	}
	if len(in) > l.MaxBatch {
		return nil, nil, badField(prefix+"documents", "%d documents exceed the batch limit of %d (--max-batch); split the request", len(in), l.MaxBatch)
	}
	docs := make([]index.Document, len(in))
	var texts []string
	var need []int
	cc := c.Config()
	for i, d := range in {
		field := fmt.Sprintf("%sdocuments[%d]", prefix, i)
		if docs[i], err = l.document(field, d); err != nil {
			return nil, nil, err
		}
		if len(docs[i].Vector) == 0 && docs[i].Text != "" && cc.Dimension > 0 {
			texts = append(texts, docs[i].Text)
			need = append(need, i)
		}
	}
	var cut []int // positions in docs of texts longer than the window
	if len(need) > 0 {
		emb, err := sv.embedder(c)
		if err != nil {
			return nil, nil, err
		}
		if emb != nil {
			vs, err := emb.Embed(ctx, texts)
			if err != nil {
				var te *embed.TextError
				if errors.As(err, &te) && te.Index >= 0 && te.Index < len(need) {
					return nil, nil, badField(fmt.Sprintf("%sdocuments[%d].text", prefix, need[te.Index]), "has nothing to embed (no letters or digits); give a vector or other text")
				}
				return nil, nil, err
			}
			for j, i := range need {
				if len(vs[j]) != cc.Dimension {
					return nil, nil, status.Errorf(codes.FailedPrecondition, "embedder %s made %d-dimensional vectors; collection %q has dimension %d", emb.Model(), len(vs[j]), cc.Name, cc.Dimension)
				}
				docs[i].Vector = vs[j]
			}
			if tr := sv.s.emb.truncater(emb); tr != nil {
				for j, i := range need {
					if tr.Truncates(texts[j]) {
						cut = append(cut, i)
					}
				}
			}
		}
	}
	ids, err = c.Upsert(ctx, docs)
	if err != nil && prefix != "" && errors.Is(err, index.ErrInvalidArgument) {
		// The index names documents[i] of its batch; say which message.
		return nil, nil, fmt.Errorf("%w: %s%s", index.ErrInvalidArgument, prefix, strings.TrimPrefix(err.Error(), index.ErrInvalidArgument.Error()+": "))
	}
	if err != nil {
		return nil, nil, err
	}
	for _, i := range cut {
		truncated = append(truncated, ids[i])
	}
	return ids, truncated, nil
}

// Upsert implements ragv1.DocumentsServer.
func (d *documents) Upsert(ctx context.Context, r *ragv1.UpsertDocumentsRequest) (*ragv1.UpsertDocumentsResponse, error) {
	ids, truncated, err := d.sv.upsert(ctx, r.GetCollection(), r.GetDocuments(), "")
	if err != nil {
		return nil, grpcError(err)
	}
	return &ragv1.UpsertDocumentsResponse{Upserted: int32(len(ids)), Ids: ids, Truncated: truncated}, nil
}

// maxStreamTruncated bounds the ids an UpsertStream's response lists as
// truncated (it counts them all).
const maxStreamTruncated = 1000

// UpsertStream implements ragv1.DocumentsServer.
func (d *documents) UpsertStream(st ragv1.Documents_UpsertStreamServer) error {
	var total, cut int64
	var truncated []string
	coll := ""
	for n := 0; ; n++ {
		r, err := st.Recv()
		if err == io.EOF {
			return st.SendAndClose(&ragv1.UpsertStreamResponse{Upserted: total, TruncatedCount: cut, Truncated: truncated})
		}
		if err != nil {
			return err
		}
		if n == 0 {
			coll = r.GetCollection()
		} else if r.GetCollection() != "" && r.GetCollection() != coll {
			return streamError(badField(fmt.Sprintf("message[%d].collection", n), "%q differs from the stream's first message's %q", r.GetCollection(), coll), n, total)
		}
		if err := d.sv.s.limit.take(); err != nil {
			return streamError(err, n, total)
		}
		ids, tr, err := d.sv.upsert(st.Context(), coll, r.GetDocuments(), fmt.Sprintf("message[%d].", n))
		d.sv.s.limit.give()
		if err != nil {
			return streamError(err, n, total)
		}
		total += int64(len(ids))
		cut += int64(len(tr))
		truncated = append(truncated, tr[:min(len(tr), maxStreamTruncated-len(truncated))]...)
	}
}

// streamError is the failure of message n of a stream as a status whose
// message says how many documents of the stream were stored before it, and
// whose details add an ErrorInfo (ragv1.UpsertStreamFailed) saying the same
// to programs; the error's own details and logged cause are kept.
func streamError(err error, n int, stored int64) error {
	err = grpcError(err)
	p := status.Convert(err).Proto()
	p.Message = fmt.Sprintf("%s (%d documents of earlier messages are stored)", p.GetMessage(), stored)
	if info, aerr := anypb.New(&errdetails.ErrorInfo{Reason: ragv1.UpsertStreamFailed, Domain: ragv1.ErrorDomain,
		Metadata: map[string]string{"message": strconv.Itoa(n), "stored": strconv.FormatInt(stored, 10)}}); aerr == nil {
		p.Details = append(p.Details, info)
	}
	st := status.FromProto(p)
	var ie *internalError
	if errors.As(err, &ie) {
		return &internalError{st: st, cause: ie.cause}
	}
	return st.Err()
}

// Get implements ragv1.DocumentsServer.
func (d *documents) Get(ctx context.Context, r *ragv1.GetDocumentRequest) (*ragv1.Document, error) {
	c, err := d.sv.collection("collection", r.GetCollection())
	if err != nil {
		return nil, grpcError(err)
	}
	if err := checkID("id", r.GetId()); err != nil {
		return nil, grpcError(err)
	}
	doc, err := c.Get(ctx, r.GetId(), r.GetIncludeVector())
	if errors.Is(err, index.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "document %q not found in collection %q", r.GetId(), r.GetCollection())
	}
	if err != nil {
		return nil, grpcError(err)
	}
	p, err := docToProto(doc)
	return p, grpcError(err)
}

// checkID checks an id given alone (a path parameter).
func checkID(field, id string) error {
	if id == "" {
		return badField(field, "is empty")
	}
	if !utf8.ValidString(id) {
		return badField(field, "is not valid UTF-8")
	}
	if len(id) > index.MaxIDBytes {
		return badField(field, "%d bytes exceed the limit of %d bytes", len(id), index.MaxIDBytes)
	}
	return nil
}

// Scan implements ragv1.DocumentsServer.
func (d *documents) Scan(ctx context.Context, r *ragv1.ScanDocumentsRequest) (*ragv1.ScanDocumentsResponse, error) {
	c, err := d.sv.collection("collection", r.GetCollection())
	if err != nil {
		return nil, grpcError(err)
	}
	limit := int(r.GetLimit())
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > index.MaxScanLimit {
		return nil, grpcError(badField("limit", "%d out of range [1, %d]", r.GetLimit(), index.MaxScanLimit))
	}
	if len(r.GetCursor()) > index.MaxIDBytes {
		return nil, grpcError(badField("cursor", "%d bytes exceed the limit of %d bytes", len(r.GetCursor()), index.MaxIDBytes))
	}
	docs, next, err := c.Scan(ctx, r.GetCursor(), limit, r.GetIncludeVectors())
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &ragv1.ScanDocumentsResponse{Documents: make([]*ragv1.Document, len(docs)), NextCursor: next}
	for i, doc := range docs {
		if resp.Documents[i], err = docToProto(doc); err != nil {
			return nil, grpcError(err)
		}
	}
	return resp, nil
}

// Delete implements ragv1.DocumentsServer.
func (d *documents) Delete(ctx context.Context, r *ragv1.DeleteDocumentRequest) (*ragv1.DeleteDocumentsResponse, error) {
	c, err := d.sv.collection("collection", r.GetCollection())
	if err != nil {
		return nil, grpcError(err)
	}
	if err := checkID("id", r.GetId()); err != nil {
		return nil, grpcError(err)
	}
	n, err := c.Delete(ctx, []string{r.GetId()})
	if err != nil {
		return nil, grpcError(err)
	}
	if n == 0 {
		return nil, status.Errorf(codes.NotFound, "document %q not found in collection %q", r.GetId(), r.GetCollection())
	}
	return &ragv1.DeleteDocumentsResponse{Deleted: int32(n)}, nil
}

// DeleteMany implements ragv1.DocumentsServer.
func (d *documents) DeleteMany(ctx context.Context, r *ragv1.DeleteDocumentsRequest) (*ragv1.DeleteDocumentsResponse, error) {
	c, err := d.sv.collection("collection", r.GetCollection())
	if err != nil {
		return nil, grpcError(err)
	}
	l := d.sv.s.cfg.Limits
	switch {
	case len(r.GetIds()) > 0 && r.GetFilter() != nil:
		return nil, grpcError(badField("ids", "given with filter; give one of them"))
	case len(r.GetIds()) > 0:
		if len(r.GetIds()) > l.MaxBatch {
			return nil, grpcError(badField("ids", "%d ids exceed the batch limit of %d (--max-batch)", len(r.GetIds()), l.MaxBatch))
		}
		for i, id := range r.GetIds() {
			if err := checkID(fmt.Sprintf("ids[%d]", i), id); err != nil {
				return nil, grpcError(err)
			}
		}
		n, err := c.Delete(ctx, r.GetIds())
		if err != nil {
			return nil, grpcError(err)
		}
		return &ragv1.DeleteDocumentsResponse{Deleted: int32(n)}, nil
	case r.GetFilter() != nil:
		f, err := l.filter("filter", r.GetFilter())
		if err != nil {
			return nil, grpcError(err)
		}
		if trivial(f) {
			return nil, grpcError(badField("filter", "has no condition and would delete every document; drop the collection instead"))
		}
		n, err := c.DeleteByFilter(ctx, f)
		if err != nil {
			return nil, grpcError(err)
		}
		return &ragv1.DeleteDocumentsResponse{Deleted: int32(n)}, nil
	}
	return nil, grpcError(badField("ids", "neither ids nor filter given"))
}

// trivial reports whether a filter matches every document by its shape
// alone: no field condition anywhere, as {} or {"must": [{"must": []}]}.
// (A filter can match everything by its values too — must_not of a key no
// document has — which only evaluating it would tell.)
func trivial(f *filter.Filter) bool {
	if f == nil {
		return true
	}
	if len(f.MustNot) > 0 {
		return false
	}
	for _, c := range f.Must {
		if c.Filter == nil || !trivial(c.Filter) {
			return false
		}
	}
	if len(f.Should) == 0 {
		return true
	}
	for _, c := range f.Should {
		if c.Filter != nil && trivial(c.Filter) {
			return true
		}
	}
	return false
}

// Search implements ragv1.DocumentsServer.
func (d *documents) Search(ctx context.Context, r *ragv1.SearchRequest) (*ragv1.SearchResponse, error) {
	start := time.Now()
	c, err := d.sv.collection("collection", r.GetCollection())
	if err != nil {
		return nil, grpcError(err)
	}
	req, err := d.sv.searchRequest(ctx, c, r)
	if err != nil {
		return nil, grpcError(err)
	}
	res, err := c.Search(ctx, req)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &ragv1.SearchResponse{Results: make([]*ragv1.SearchResult, len(res.Hits)), Fusion: fusionToProto(res)}
	for i, h := range res.Hits {
		if resp.Results[i], err = hitToProto(h); err != nil {
			return nil, grpcError(err)
		}
	}
	resp.TookMs = float64(time.Since(start).Microseconds()) / 1000
	return resp, nil
}

// searchRequest validates a search and embeds its query text when the
// collection has an embedder and the search needs a vector.
func (sv *service) searchRequest(ctx context.Context, c *index.Collection, r *ragv1.SearchRequest) (index.SearchRequest, error) {
	reqs, err := sv.searchRequests(ctx, c, []*ragv1.SearchRequest{r}, "")
	if err != nil {
		return index.SearchRequest{}, err
	}
	return reqs[0], nil
}

// searchRequests validates searches and embeds, in one call, the query
// texts of those that need a vector. Field names in errors start with
// prefix and, for a batch, the search's index ("searches[3].query").
func (sv *service) searchRequests(ctx context.Context, c *index.Collection, rs []*ragv1.SearchRequest, prefix string) ([]index.SearchRequest, error) {
	field := func(i int, name string) string {
		if prefix == "" {
			return name
		}
		return fmt.Sprintf("%s[%d].%s", prefix, i, name)
	}
	reqs := make([]index.SearchRequest, len(rs))
	for i, r := range rs {
		req, err := sv.s.cfg.Limits.search(r)
		if err != nil {
			var fe *fieldError
			if prefix != "" && errors.As(err, &fe) {
				return nil, badField(field(i, fe.field), "%s", fe.msg)
			}
			return nil, err
		}
		reqs[i] = req
	}
	var need []int
	for i, req := range reqs {
		if req.Vector == nil && req.Text != "" && req.Mode != index.ModeText {
			need = append(need, i)
		}
	}
	if len(need) > 0 {
		emb, err := sv.embedder(c)
		if err != nil {
			return nil, err
		}
		for emb != nil && len(need) > 0 {
			texts := make([]string, len(need))
			for j, i := range need {
				texts[j] = reqs[i].Text
			}
			// Queries go ahead of bulk work queued for the embedder.
			vs, err := emb.Embed(embed.WithPriority(ctx, embed.PriorityQuery), texts)
			var te *embed.TextError
			switch {
			case errors.As(err, &te) && te.Index >= 0 && te.Index < len(need):
				i := need[te.Index]
				if reqs[i].Mode == index.ModeVector {
					return nil, badField(field(i, "query"), "has nothing to embed (no letters or digits)")
				}
				// Nothing to embed: the text leg alone may still match.
				reqs[i].Mode = index.ModeText
				need = append(need[:te.Index], need[te.Index+1:]...)
				continue
			case err != nil:
				return nil, err
			}
			for j, i := range need {
				reqs[i].Vector = vs[j]
			}
			need = nil
		}
	}
	for i, req := range reqs {
		if req.Mode == index.ModeVector && req.Vector == nil {
			if rs[i].GetQuery() == "" {
				return nil, badField(field(i, "vector"), "is required for a vector search (or a query, in a collection with an embedder)")
			}
			return nil, badField(field(i, "vector"), "is required for a vector search: collection %q has no embedder for the query", c.Name())
		}
		if req.Vector == nil && req.Text == "" {
			return nil, badField(field(i, "query"), "neither query nor vector given")
		}
	}
	return reqs, nil
}

// SearchBatch implements ragv1.DocumentsServer.
func (d *documents) SearchBatch(ctx context.Context, r *ragv1.SearchBatchRequest) (*ragv1.SearchBatchResponse, error) {
	start := time.Now()
	c, err := d.sv.collection("collection", r.GetCollection())
	if err != nil {
		return nil, grpcError(err)
	}
	l := d.sv.s.cfg.Limits
	switch n := len(r.GetSearches()); {
	case n == 0:
		return nil, grpcError(badField("searches", "is empty; give at least one search"))
	case n > l.MaxBatchSearches:
		return nil, grpcError(badField("searches", "%d searches exceed the limit of %d (--max-batch-searches); split the request", n, l.MaxBatchSearches))
	}
	for i, s := range r.GetSearches() {
		if s.GetCollection() != "" && s.GetCollection() != r.GetCollection() {
			return nil, grpcError(badField(fmt.Sprintf("searches[%d].collection", i), "%q differs from the batch's %q", s.GetCollection(), r.GetCollection()))
		}
	}
	reqs, err := d.sv.searchRequests(ctx, c, r.GetSearches(), "searches")
	if err != nil {
		return nil, grpcError(err)
	}
	res, err := c.SearchBatch(ctx, reqs)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &ragv1.SearchBatchResponse{Results: make([]*ragv1.SearchResponse, len(res))}
	for i, one := range res {
		out := &ragv1.SearchResponse{Results: make([]*ragv1.SearchResult, len(one.Hits)), TookMs: float64(one.Took.Microseconds()) / 1000, Fusion: fusionToProto(one)}
		for j, h := range one.Hits {
			if out.Results[j], err = hitToProto(h); err != nil {
				return nil, grpcError(err)
			}
		}
		resp.Results[i] = out
	}
	resp.TookMs = float64(time.Since(start).Microseconds()) / 1000
	return resp, nil
}

// embeddings is the Embeddings service.
type embeddings struct {
	ragv1.UnimplementedEmbeddingsServer
	sv *service
}

// Create implements ragv1.EmbeddingsServer.
func (e *embeddings) Create(ctx context.Context, r *ragv1.CreateEmbeddingRequest) (*ragv1.CreateEmbeddingResponse, error) {
	l := e.sv.s.cfg.Limits
	in := r.GetInput()
	switch {
	case len(in) == 0:
		return nil, grpcError(badField("input", "is empty; give at least one text"))
	case len(in) > l.MaxEmbedInputs:
		return nil, grpcError(badField("input", "%d texts exceed the limit of %d", len(in), l.MaxEmbedInputs))
	}
	for i, t := range in {
		switch {
		case t == "":
			return nil, grpcError(badField(fmt.Sprintf("input[%d]", i), "is empty"))
		case len(t) > l.MaxTextBytes:
			return nil, grpcError(badField(fmt.Sprintf("input[%d]", i), "%d bytes exceed the limit of %d bytes", len(t), l.MaxTextBytes))
		}
	}
	switch r.GetEncodingFormat() {
	case "", "float":
	default:
		return nil, grpcError(badField("encoding_format", "%q (want float; base64 is served over REST)", r.GetEncodingFormat()))
	}
	if r.GetDimensions() < 0 {
		return nil, grpcError(badField("dimensions", "%d is negative", r.GetDimensions()))
	}
	keyName, role := callerRole(ctx)
	if role < RoleWrite {
		if err := e.sv.s.emb.checkReadModel(r.GetModel()); err != nil {
			return nil, grpcError(err)
		}
	}
	emb, err := e.sv.s.emb.forModel(r.GetModel(), int(r.GetDimensions()))
	if err != nil {
		return nil, grpcError(err)
	}
	if role < RoleWrite && upstream(emb) {
		if err := e.sv.s.emb.spend(keyName, len(in), l.ReadEmbedRate, l.MaxEmbedInputs); err != nil {
			return nil, grpcError(err)
		}
	}
	vs, err := emb.Embed(ctx, in)
	if err != nil {
		var te *embed.TextError
		if errors.As(err, &te) && te.Index >= 0 && te.Index < len(in) {
			return nil, grpcError(badField(fmt.Sprintf("input[%d]", te.Index), "has nothing to embed (no letters or digits)"))
		}
		return nil, grpcError(err)
	}
	resp := &ragv1.CreateEmbeddingResponse{Object: "list", Model: emb.Model(), Data: make([]*ragv1.Embedding, len(vs))}
	for i, v := range vs {
		resp.Data[i] = &ragv1.Embedding{Object: "embedding", Index: int32(i), Embedding: v}
	}
	n := int32(e.sv.s.emb.countTokens(emb, in))
	resp.Usage = &ragv1.EmbeddingUsage{PromptTokens: n, TotalTokens: n}
	return resp, nil
}
