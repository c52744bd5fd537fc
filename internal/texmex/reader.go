package texmex

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// MaxDim is the largest dimension accepted on read and write. Real data sets
// stay far below it (GIST: 960, large text embeddings: 3,072, ground truth:
// k ≤ 10,000); a larger value is almost surely a corrupt header, and bounding
// it stops such a header from asking for gigabytes of buffer.
const MaxDim = 1 << 16

// Reader streams the rows of one .fvecs or .ivecs file. The same Reader reads
// either kind: ReadFloat32 interprets the values as float32, ReadInt32 as
// int32. It validates every row as it goes (see the package comment) and
// stops at the first error, which it then returns on every later call.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	br   *bufio.Reader
	name string // for error messages
	dim  int    // dimension of row 0; 0 until it has been read
	rows int    // rows read successfully
	off  int64  // byte offset of the next row
	raw  []byte // the current row's values, reused
	err  error  // sticky: the error that stopped the reader, or io.EOF
}

// NewReader returns a Reader over r. The name (usually the file path) is used
// only in error messages.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 1<<16), name: name}
}

// Dim returns the dimension of the rows, known once the first row has been
// read, 0 before.
func (r *Reader) Dim() int { return r.dim }

// Rows returns the number of rows read successfully so far.
func (r *Reader) Rows() int { return r.rows }

// ReadFloat32 reads the next row and appends its values, as float32, to dst.
// It returns io.EOF (and dst unchanged) at the end of a well-formed input, a
// *FormatError for malformed input (an empty input included) and a wrapped
// error if the underlying reader fails.
func (r *Reader) ReadFloat32(dst []float32) ([]float32, error) {
	raw, err := r.next()
	if err != nil {
		return dst, err
	}
	n := len(dst)
	dst = slices.Grow(dst, r.dim)[:n+r.dim]
	out := dst[n:]
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return dst, nil
}

// ReadInt32 is ReadFloat32 for .ivecs: it appends the next row's values, as
// int32, to dst.
func (r *Reader) ReadInt32(dst []int32) ([]int32, error) {
	raw, err := r.next()
	if err != nil {
		return dst, err
	}
	n := len(dst)
	dst = slices.Grow(dst, r.dim)[:n+r.dim]
	out := dst[n:]
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return dst, nil
}

// next reads and validates one row and returns its raw value bytes, valid
// until the following call.
func (r *Reader) next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	raw, err := r.readRow()
	if err != nil {
		r.err = err
		return nil, err
	}
	r.rows++
	r.off += int64(4 + len(raw))
	return raw, nil
}

func (r *Reader) readRow() ([]byte, error) {
	var hdr [4]byte
	n, err := io.ReadFull(r.br, hdr[:])
	switch {
	case err == io.EOF && r.rows == 0:
		return nil, r.formatError("empty input: no rows")
	case err == io.EOF:
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, r.formatError(fmt.Sprintf("truncated dimension header: got %d of 4 bytes", n))
	case err != nil:
		return nil, fmt.Errorf("texmex: read %s: row %d: %w", r.name, r.rows, err)
	}

	dim := int64(int32(binary.LittleEndian.Uint32(hdr[:])))
	switch {
	case dim <= 0:
		return nil, r.formatError(fmt.Sprintf("dimension %d is not positive", dim))
	case dim > MaxDim:
		return nil, r.formatError(fmt.Sprintf("dimension %d exceeds the maximum %d", dim, MaxDim))
	case r.dim != 0 && int(dim) != r.dim:
		return nil, r.formatError(fmt.Sprintf("dimension %d differs from %d of row 0", dim, r.dim))
	}

	size := 4 * int(dim)
	if cap(r.raw) < size {
		r.raw = make([]byte, size)
	}
	raw := r.raw[:size]
	n, err = io.ReadFull(r.br, raw)
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, r.formatError(fmt.Sprintf("truncated row: got %d of %d value bytes", n, size))
	case err != nil:
		return nil, fmt.Errorf("texmex: read %s: row %d: %w", r.name, r.rows, err)
	}
	r.dim = int(dim)
	return raw, nil
}

func (r *Reader) formatError(reason string) error {
	return &FormatError{Name: r.name, Row: r.rows, Offset: r.off, Reason: reason}
}

// ReadFvecs reads the .fvecs file at path into one contiguous row-major slab:
// row i is data[i*dim : (i+1)*dim], and n = len(data)/dim. If limit > 0 it
// reads at most the first limit rows (and does not look at the rest of the
// file); limit <= 0 reads them all. A path ending in ".gz" is gunzipped.
func ReadFvecs(path string, limit int) (data []float32, dim, n int, err error) {
	return readFile(path, limit, (*Reader).ReadFloat32)
}

// ReadIvecs is ReadFvecs for .ivecs files such as ground-truth neighbour ids.
func ReadIvecs(path string, limit int) (data []int32, dim, n int, err error) {
	return readFile(path, limit, (*Reader).ReadInt32)
}

func readFile[T any](path string, limit int, read func(*Reader, []T) ([]T, error)) (data []T, dim, n int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("texmex: %w", err)
	}
	defer func() { err = errors.Join(err, closeError(f)) }()

	var src io.Reader = f
	size := int64(-1) // unknown for compressed files
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("texmex: read %s: %w", path, err)
		}
		src = gz
	} else if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}

	rd := NewReader(src, path)
	if data, err = read(rd, nil); err != nil {
		return nil, 0, 0, err
	}
	dim = rd.Dim()

	// Size the slab once from the file length: a 340k×100 base is 136 MB
	// and growing it by appending would copy it several times.
	if size > 0 {
		rows := int(size / int64(4+4*dim))
		if limit > 0 {
			rows = min(rows, limit)
		}
		data = slices.Grow(data, max(rows-1, 0)*dim)
	}
	for limit <= 0 || rd.Rows() < limit {
		data, err = read(rd, data)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, 0, err
		}
	}
	return data, dim, rd.Rows(), nil
}

func closeError(f *os.File) error {
	if err := f.Close(); err != nil {
		return fmt.Errorf("texmex: %w", err)
	}
	return nil
}
