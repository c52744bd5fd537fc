package flat

import (
	"fmt"
	"slices"
)

// Vectors is a read-only view of the stored vectors a search runs over: a
// shard's slab, or the chunks of a graph. It is a value the caller fills
// in; nothing is copied.
//
// Rows are numbered from 0 across the chunks: chunk c holds the rows after
// those of chunks 0 to c−1, row j of a chunk at Chunks[c][j*Stride :
// j*Stride+Dim]. Only the first Len rows are searched, so the last chunk
// may have room to spare.
type Vectors struct {
	// Dim is the length of every vector. Required, positive.
	Dim int
	// Stride is the distance in floats from one row to the next within a
	// chunk; at least Dim (a graph keeps links after each vector). 0 means
	// Dim.
	Stride int
	// Chunks hold the rows. Each chunk but the last holds a whole number of
	// rows: len(chunk) is a multiple of Stride, or, when it is not, the
	// chunk ends with a last row of Dim floats.
	Chunks [][]float32
	// Len is the number of rows searched, from row 0.
	Len int
	// Norms, optional, holds the squared Euclidean norm of each of the Len
	// rows (simd.Dot(row, row)); L2 and Cosine searches read it instead of
	// computing the norms of every row on every search.
	Norms []float32
	// Unit says the rows are already of unit length (hnsw stores Cosine
	// vectors normalised): a Cosine search then takes 1 − cos as
	// |q − r|²/2, as hnsw does, and needs no norms.
	Unit bool
}

// Slab returns the view of a plain slab of len(data)/dim vectors of dim
// floats back to back.
func Slab(data []float32, dim int) Vectors {
	n := 0
	if dim > 0 {
		n = len(data) / dim
	}
	return Vectors{Dim: dim, Stride: dim, Chunks: [][]float32{data}, Len: n}
}

// stride returns Stride, or Dim when Stride is 0.
func (v *Vectors) stride() int {
	if v.Stride == 0 {
		return v.Dim
	}
	return v.Stride
}

// chunkRows returns the number of rows chunk c holds.
func (v *Vectors) chunkRows(c int) int {
	n, s := len(v.Chunks[c]), v.stride()
	rows := n / s
	if n-rows*s >= v.Dim {
		rows++
	}
	return rows
}

// validate checks the view and returns the first row of each chunk (and
// Len after the last chunk used) in starts.
func (v *Vectors) validate(starts []int) ([]int, error) {
	switch {
	case v.Dim < 1:
		return starts, fmt.Errorf("%w: Vectors.Dim %d is not positive", ErrInvalidArgument, v.Dim)
	case v.Stride != 0 && v.Stride < v.Dim:
		return starts, fmt.Errorf("%w: Vectors.Stride %d is less than Dim %d", ErrInvalidArgument, v.Stride, v.Dim)
	case v.Len < 0 || v.Len > 1<<32:
		return starts, fmt.Errorf("%w: Vectors.Len %d out of range", ErrInvalidArgument, v.Len)
	case v.Norms != nil && len(v.Norms) < v.Len:
		return starts, fmt.Errorf("%w: %d norms for %d rows", ErrInvalidArgument, len(v.Norms), v.Len)
	}
	starts = starts[:0]
	total := 0
	for c := range v.Chunks {
		if total >= v.Len {
			break
		}
		starts = append(starts, total)
		total += v.chunkRows(c)
	}
	if total < v.Len {
		return starts, fmt.Errorf("%w: the chunks hold %d rows, fewer than Len %d", ErrInvalidArgument, total, v.Len)
	}
	return append(starts, v.Len), nil
}

// rowAt returns row id, given the chunk starts from validate.
func (v *Vectors) rowAt(starts []int, id int) []float32 {
	c := 0
	if len(starts) > 2 {
		c, _ = slices.BinarySearch(starts[:len(starts)-1], id+1)
		c--
	}
	o := (id - starts[c]) * v.stride()
	return v.Chunks[c][o : o+v.Dim : o+v.Dim]
}

// AllowList restricts a search to the rows it holds. *roaring.Bitmap
// (github.com/RoaringBitmap/roaring/v2) satisfies it, and so does IDs.
// Rows at or beyond Vectors.Len are ignored.
type AllowList interface {
	GetCardinality() uint64
	Iterate(cb func(id uint32) bool)
}

// IDs is an AllowList of row numbers. Ascending order is cheapest (the
// search sorts a copy otherwise); duplicates count once.
type IDs []uint32

// GetCardinality returns len(ids).
func (ids IDs) GetCardinality() uint64 { return uint64(len(ids)) }

// Iterate calls cb on each id in order until it returns false.
func (ids IDs) Iterate(cb func(id uint32) bool) {
	for _, id := range ids {
		if !cb(id) {
			return
		}
	}
}
