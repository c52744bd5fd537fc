package cuda

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/ragd/ragd/flat"
)

// library is the C ABI of csrc/ragdflat.h, bound to Go functions by the
// loader (load_gpu.go). Every fallible function takes a buffer for its
// error message and returns 0 or a negative code.
type library struct {
	path        string
	abiVersion  func() int32
	deviceCount func(n *int32, err *byte, errLen int32) int32
	create      func(device, dim, metric, fp16 int32, capacity int64, out *uintptr, err *byte, errLen int32) int32
	add         func(h uintptr, vecs *float32, n int64, err *byte, errLen int32) int32
	remove      func(h uintptr, id int64, err *byte, errLen int32) int32
	search      func(h uintptr, queries *float32, nq int64, k int32, allow *uint64, dist *float32, ids *int64, err *byte, errLen int32) int32
	destroy     func(h uintptr)
}

// abiVersion is the version of csrc/ragdflat.h this package speaks.
const abiVersion = 1

// errLen is the size of the error message buffers.
const errLen = 512

// call runs f with an error buffer and turns a failure into an *Error.
func call(op string, f func(buf *byte) int32) error {
	var buf [errLen]byte
	if code := f(&buf[0]); code != 0 {
		n := 0
		for n < len(buf) && buf[n] != 0 {
			n++
		}
		return &Error{Op: op, Code: int(code), Message: string(buf[:n])}
	}
	return nil
}

// Index is an exact index whose vectors live in GPU memory: the GPU twin of
// flat.Index, with the same ids (consecutive from 0), deletes masked on the
// device, and results equal to the CPU engine's up to rounding ties (and,
// with FP16, up to the rounding of the vectors to half precision).
//
// Add uploads only the new vectors. Search uploads the queries (and the
// allow-list as a bitmap), computes the distances with one cuBLAS GEMM per
// block of queries and rows, and selects each query's k best on the
// device.
//
// An Index is safe for concurrent use; its calls into the library are
// serialised (one cuBLAS handle, one set of device buffers).
type Index struct {
	cfg Config
	lib *library

	mu struct {
		sync.Mutex
		h      uintptr // the library's handle; 0 once closed
		n      int     // rows added
		live   int
		del    []uint64 // host copy of the device's delete mask
		qbuf   []float32
		vbuf   []float32
		allow  []uint64
		dist   []float32
		ids    []int64
		closed bool
	}
}

// NewIndex loads the library (once per path) and creates an empty index on
// the device. It returns an error wrapping ErrUnavailable when there is no
// usable library or device.
func NewIndex(cfg Config) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	lib, err := load(cfg.Library)
	if err != nil {
		return nil, err
	}
	if v := lib.abiVersion(); v != abiVersion {
		return nil, fmt.Errorf("%w: %s speaks ABI version %d, want %d", ErrUnavailable, lib.path, v, abiVersion)
	}
	var devices int32
	if err := call("rf_device_count", func(b *byte) int32 { return lib.deviceCount(&devices, b, errLen) }); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if int(devices) <= cfg.Device {
		return nil, fmt.Errorf("%w: device %d requested, %d found", ErrUnavailable, cfg.Device, devices)
	}
	fp16 := int32(0)
	if cfg.FP16 {
		fp16 = 1
	}
	var h uintptr
	err = call("rf_create", func(b *byte) int32 {
		return lib.create(int32(cfg.Device), int32(cfg.Dim), int32(cfg.Metric), fp16, int64(cfg.Capacity), &h, b, errLen)
	})
	if err != nil {
		if e := (*Error)(nil); errors.As(err, &e) && (e.Code == codeNoDev || e.Code == codeNoCUDA) {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return nil, err
	}
	x := &Index{cfg: cfg, lib: lib}
	x.mu.h = h
	return x, nil
}

// Config returns the index's configuration, defaults applied.
func (x *Index) Config() Config { return x.cfg }

// Close frees the device memory. Later calls return ErrClosed.
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.mu.h != 0 {
		x.lib.destroy(x.mu.h)
		x.mu.h = 0
	}
	return nil
}

// Add uploads the vectors (back to back, Dim floats each) and returns the
// id of the first; the others follow in order. Vectors are checked and,
// under Cosine, normalised as flat.Index does, on the host.
func (x *Index) Add(vectors []float32) (uint32, error) {
	dim := x.cfg.Dim
	if len(vectors)%dim != 0 {
		return 0, fmt.Errorf("%w: %d floats are not a multiple of dimension %d", flat.ErrDimensionMismatch, len(vectors), dim)
	}
	m := len(vectors) / dim
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.mu.h == 0 {
		return 0, ErrClosed
	}
	n := x.mu.n
	if n+m > 1<<32-1 {
		return 0, fmt.Errorf("%w: %d + %d vectors", flat.ErrFull, n, m)
	}
	for i := range m {
		if err := x.check(vectors[i*dim : (i+1)*dim]); err != nil {
			return 0, fmt.Errorf("vector %d: %w", i, err)
		}
	}
	if m == 0 {
		return uint32(n), nil
	}
	v := vectors
	if x.cfg.Metric == flat.Cosine {
		// Normalised in a copy, dropped afterwards if it is large.
		x.mu.vbuf = append(x.mu.vbuf[:0], vectors...)
		v = x.mu.vbuf
		defer func() {
			if cap(x.mu.vbuf) > 1<<20 {
				x.mu.vbuf = nil
			}
		}()
		for i := range m {
			normalize(v[i*dim : (i+1)*dim])
		}
	}
	if err := call("rf_add", func(b *byte) int32 { return x.lib.add(x.mu.h, &v[0], int64(m), b, errLen) }); err != nil {
		return 0, err
	}
	x.mu.n += m
	x.mu.live += m
	for len(x.mu.del)*64 < x.mu.n {
		x.mu.del = append(x.mu.del, 0)
	}
	return uint32(n), nil
}

// check rejects a vector holding NaN or ±Inf, or a zero vector under
// Cosine, as flat.Index does.
func (x *Index) check(v []float32) error {
	var ss float64
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("%w: element %d is %v", flat.ErrInvalidVector, i, f)
		}
		ss += float64(f) * float64(f)
	}
	if x.cfg.Metric == flat.Cosine && ss == 0 {
		return fmt.Errorf("%w: zero vector has no direction under the cosine metric", flat.ErrInvalidVector)
	}
	return nil
}

// Delete masks vector id out of every later search.
func (x *Index) Delete(id uint32) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.mu.h == 0 {
		return ErrClosed
	}
	if int(id) >= x.mu.n || x.mu.del[id/64]&(1<<(id%64)) != 0 {
		return fmt.Errorf("%w: %d", flat.ErrNotFound, id)
	}
	if err := call("rf_delete", func(b *byte) int32 { return x.lib.remove(x.mu.h, int64(id), b, errLen) }); err != nil {
		return err
	}
	x.mu.del[id/64] |= 1 << (id % 64)
	x.mu.live--
	return nil
}

// Len returns the number of vectors added, deleted ones included.
func (x *Index) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.mu.n
}

// Live returns the number of vectors not deleted.
func (x *Index) Live() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.mu.live
}

// Search finds the k (at most MaxK) nearest live vectors of each query,
// restricted to allow when it is not nil, and fills resp as
// flat.Engine.Search does. ctx is checked before the call into the
// library, which is not interrupted once it runs.
func (x *Index) Search(ctx context.Context, queries []float32, k int, allow flat.AllowList, resp *flat.Response) error {
	dim := x.cfg.Dim
	switch {
	case k < 1 || k > MaxK:
		return fmt.Errorf("%w: k %d out of range [1, %d] on the GPU", flat.ErrInvalidArgument, k, MaxK)
	case len(queries)%dim != 0:
		return fmt.Errorf("%w: %d query floats are not a multiple of dimension %d", flat.ErrDimensionMismatch, len(queries), dim)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	nq := len(queries) / dim
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.mu.h == 0 {
		return ErrClosed
	}
	n := x.mu.n
	resp.K = k
	resp.Results = grow(resp.Results, nq*k)
	resp.Found = grow(resp.Found, nq)
	clear(resp.Found)
	resp.Rows = n
	var allowPtr *uint64
	if allow != nil {
		words := grow(x.mu.allow, (n+63)/64)
		clear(words)
		rows := 0
		allow.Iterate(func(id uint32) bool {
			if int(id) < n && words[id/64]&(1<<(id%64)) == 0 {
				words[id/64] |= 1 << (id % 64)
				rows++
			}
			return true
		})
		x.mu.allow = words
		resp.Rows = rows
		if len(words) > 0 {
			allowPtr = &words[0]
		}
	}
	if nq == 0 || n == 0 || resp.Rows == 0 {
		return nil
	}
	q := queries
	if x.cfg.Metric == flat.Cosine {
		x.mu.qbuf = append(x.mu.qbuf[:0], queries...)
		q = x.mu.qbuf
		defer func() {
			if cap(x.mu.qbuf) > 1<<20 {
				x.mu.qbuf = nil
			}
		}()
		for i := range nq {
			normalize(q[i*dim : (i+1)*dim])
		}
	}
	x.mu.dist = grow(x.mu.dist, nq*k)
	x.mu.ids = grow(x.mu.ids, nq*k)
	dist, ids := x.mu.dist, x.mu.ids
	err := call("rf_search", func(b *byte) int32 {
		return x.lib.search(x.mu.h, &q[0], int64(nq), int32(k), allowPtr, &dist[0], &ids[0], b, errLen)
	})
	if err != nil {
		return err
	}
	for i := range nq {
		out := resp.Results[i*k : (i+1)*k]
		found := 0
		for j := range k {
			id := ids[i*k+j]
			if id < 0 {
				break
			}
			out[found] = flat.Result{ID: uint32(id), Dist: dist[i*k+j]}
			found++
		}
		// The library sorts by (distance, id); keep the contract even if a
		// build of it does not.
		if hits := out[:found]; !slices.IsSortedFunc(hits, cmpResult) {
			slices.SortFunc(hits, cmpResult)
		}
		resp.Found[i] = found
	}
	return nil
}

// cmpResult orders results by distance, then id.
func cmpResult(a, b flat.Result) int {
	switch {
	case a.Dist < b.Dist || a.Dist == b.Dist && a.ID < b.ID:
		return -1
	case a.Dist == b.Dist && a.ID == b.ID:
		return 0
	}
	return 1
}

// normalize scales q to unit length in float64, as flat and hnsw do;
// a zero query is left as it is.
func normalize(q []float32) {
	var ss float64
	for _, f := range q {
		ss += float64(f) * float64(f)
	}
	if ss == 0 {
		return
	}
	s := 1 / math.Sqrt(ss)
	for i, f := range q {
		q[i] = float32(float64(f) * s)
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
