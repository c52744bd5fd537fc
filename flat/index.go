package flat

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/ragd/ragd/simd"
)

// IndexConfig describes an Index.
type IndexConfig struct {
	// Dim is the length of every vector. Required, positive.
	Dim int
	// Metric is the distance; default Cosine, as hnsw's, what sentence
	// embeddings use.
	Metric Metric
	// Capacity is the number of vectors to reserve room for; more are
	// added by doubling. Default 1024.
	Capacity int
	// Engine configures the search engine (threads, cache budget).
	Engine Config
}

// DefaultIndexConfig returns the defaults for vectors of dim floats.
func DefaultIndexConfig(dim int) IndexConfig {
	return IndexConfig{Dim: dim}.withDefaults()
}

func (c IndexConfig) withDefaults() IndexConfig {
	if c.Metric == 0 {
		c.Metric = Cosine
	}
	if c.Capacity == 0 {
		c.Capacity = 1024
	}
	c.Engine = c.Engine.withDefaults()
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// zero ones.
func (c IndexConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Dim < 1:
		return fmt.Errorf("%w: Dim %d is not positive", ErrInvalidConfig, c.Dim)
	case !c.Metric.valid():
		return fmt.Errorf("%w: unknown metric %d", ErrInvalidConfig, c.Metric)
	case c.Capacity < 0:
		return fmt.Errorf("%w: Capacity %d is negative", ErrInvalidConfig, c.Capacity)
	}
	return c.Engine.Validate()
}

// Index is an exact index that owns its vectors, as FAISS's IndexFlat:
// vectors are appended with consecutive ids from 0, deleted ones are masked
// out of the results (their ids are not reused), and every search scores
// every live vector with the Engine. Cosine vectors are stored normalised
// and L2 vectors with their squared norms, so a search computes neither.
//
// An Index is safe for concurrent use: searches share a read lock, Add and
// Delete take the write lock (and wait for the searches in flight).
type Index struct {
	cfg  IndexConfig
	eng  *Engine
	dead func(id uint32) bool // isDead, bound once

	mu struct {
		sync.RWMutex
		data  []float32 // n rows of Dim floats
		norms []float32 // squared norms (L2 only)
		del   []uint64  // deleted ids, one bit each
		n     int       // rows added
		live  int       // rows not deleted
	}
}

// NewIndex returns an empty index.
func NewIndex(cfg IndexConfig) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	eng, err := New(cfg.Engine)
	if err != nil {
		return nil, err
	}
	x := &Index{cfg: cfg, eng: eng}
	x.dead = x.isDead
	x.mu.data = make([]float32, 0, cfg.Capacity*cfg.Dim)
	return x, nil
}

// Config returns the index's configuration, defaults applied.
func (x *Index) Config() IndexConfig { return x.cfg }

// Add appends the vectors (back to back, Dim floats each) and returns the
// id of the first; the others follow in order. A vector holding NaN or
// ±Inf, or a zero vector under Cosine, fails the whole call.
func (x *Index) Add(vectors []float32) (first uint32, err error) {
	dim := x.cfg.Dim
	if len(vectors)%dim != 0 {
		return 0, fmt.Errorf("%w: %d floats are not a multiple of dimension %d", ErrDimensionMismatch, len(vectors), dim)
	}
	m := len(vectors) / dim
	for i := range m {
		if err := x.check(vectors[i*dim : (i+1)*dim]); err != nil {
			return 0, fmt.Errorf("vector %d: %w", i, err)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.mu.n
	if n+m > 1<<32 {
		return 0, fmt.Errorf("%w: %d + %d vectors", ErrFull, n, m)
	}
	data := append(x.mu.data, vectors...)
	if x.cfg.Metric == Cosine {
		for i := n; i < n+m; i++ {
			normalize(data[i*dim : (i+1)*dim])
		}
	}
	if x.cfg.Metric == L2 {
		for i := n; i < n+m; i++ {
			row := data[i*dim : (i+1)*dim]
			x.mu.norms = append(x.mu.norms, simd.Dot(row, row))
		}
	}
	for len(x.mu.del)*64 < n+m {
		x.mu.del = append(x.mu.del, 0)
	}
	x.mu.data, x.mu.n = data, n+m
	x.mu.live += m
	return uint32(n), nil
}

// check validates one vector.
func (x *Index) check(v []float32) error {
	var ss float64
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("%w: element %d is %v", ErrInvalidVector, i, f)
		}
		ss += float64(f) * float64(f)
	}
	if x.cfg.Metric == Cosine && ss == 0 {
		return fmt.Errorf("%w: zero vector has no direction under the cosine metric", ErrInvalidVector)
	}
	return nil
}

// normalize scales v to unit length in float64, as hnsw does.
func normalize(v []float32) {
	var ss float64
	for _, f := range v {
		ss += float64(f) * float64(f)
	}
	s := 1 / math.Sqrt(ss)
	for i, f := range v {
		v[i] = float32(float64(f) * s)
	}
}

// Delete masks vector id out of every later search.
func (x *Index) Delete(id uint32) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if int(id) >= x.mu.n || x.isDead(id) {
		return fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	x.mu.del[id/64] |= 1 << (id % 64)
	x.mu.live--
	return nil
}

// isDead reports whether id is deleted; the caller holds mu.
func (x *Index) isDead(id uint32) bool { return x.mu.del[id/64]&(1<<(id%64)) != 0 }

// Len returns the number of vectors added, deleted ones included: the next
// id.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.mu.n
}

// Live returns the number of vectors not deleted.
func (x *Index) Live() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.mu.live
}

// Vector appends vector id as stored (normalised under Cosine) to dst.
func (x *Index) Vector(dst []float32, id uint32) ([]float32, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if int(id) >= x.mu.n || x.isDead(id) {
		return dst, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	dim := x.cfg.Dim
	return append(dst, x.mu.data[int(id)*dim:(int(id)+1)*dim]...), nil
}

// Search finds the k nearest live vectors of each query (back to back,
// Dim floats each), restricted to allow when it is not nil, and fills
// resp (see Engine.Search).
func (x *Index) Search(ctx context.Context, queries []float32, k int, allow AllowList, resp *Response) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	req := Request{
		Vectors: Vectors{Dim: x.cfg.Dim, Chunks: [][]float32{x.mu.data}, Len: x.mu.n, Unit: x.cfg.Metric == Cosine},
		Metric:  x.cfg.Metric, Queries: queries, K: k, Allow: allow,
	}
	if x.cfg.Metric == L2 {
		req.Vectors.Norms = x.mu.norms
	}
	if x.mu.live < x.mu.n {
		req.Exclude = x.dead
	}
	return x.eng.Search(ctx, &req, resp)
}
