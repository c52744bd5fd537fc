package texmex

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/ragd/ragd/internal/fsutil"
)

// Writer encodes rows in TEXMEX format. Every row must have the dimension of
// the first one. Call Flush when done.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	bw   *bufio.Writer
	dim  int    // dimension of row 0; 0 before it is written
	rows int    // rows written
	buf  []byte // one encoded row, reused
}

// NewWriter returns a Writer that encodes rows onto w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, 1<<16)}
}

// Rows returns the number of rows written so far.
func (w *Writer) Rows() int { return w.rows }

// WriteFloat32 appends one .fvecs row.
func (w *Writer) WriteFloat32(row []float32) error {
	buf, err := w.header(len(row))
	if err != nil {
		return err
	}
	for i, v := range row {
		binary.LittleEndian.PutUint32(buf[4+4*i:], math.Float32bits(v))
	}
	return w.put(buf)
}

// WriteInt32 appends one .ivecs row.
func (w *Writer) WriteInt32(row []int32) error {
	buf, err := w.header(len(row))
	if err != nil {
		return err
	}
	for i, v := range row {
		binary.LittleEndian.PutUint32(buf[4+4*i:], uint32(v))
	}
	return w.put(buf)
}

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("texmex: flush: %w", err)
	}
	return nil
}

// header checks the row's dimension and returns the row buffer with the
// dimension already encoded.
func (w *Writer) header(dim int) ([]byte, error) {
	switch {
	case dim <= 0 || dim > MaxDim:
		return nil, fmt.Errorf("texmex: row %d has dimension %d, want 1..%d: %w", w.rows, dim, MaxDim, ErrDim)
	case w.dim != 0 && dim != w.dim:
		return nil, fmt.Errorf("texmex: row %d has dimension %d, row 0 has %d: %w", w.rows, dim, w.dim, ErrDim)
	}
	size := 4 + 4*dim
	if cap(w.buf) < size {
		w.buf = make([]byte, size)
	}
	buf := w.buf[:size]
	binary.LittleEndian.PutUint32(buf, uint32(dim))
	return buf, nil
}

func (w *Writer) put(buf []byte) error {
	if _, err := w.bw.Write(buf); err != nil {
		return fmt.Errorf("texmex: write row %d: %w", w.rows, err)
	}
	w.dim = (len(buf) - 4) / 4
	w.rows++
	return nil
}

// WriteFvecs writes data, n rows of dim values stored row-major, as the
// .fvecs file at path (gzipped if path ends in ".gz"), atomically: see
// WriteFile. data must hold at least one row.
func WriteFvecs(path string, data []float32, dim int) error {
	if err := checkSlab(path, len(data), dim); err != nil {
		return err
	}
	return WriteFile(path, func(w *Writer) error {
		for i := 0; i < len(data); i += dim {
			if err := w.WriteFloat32(data[i : i+dim]); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteIvecs is WriteFvecs for int32 rows (.ivecs).
func WriteIvecs(path string, data []int32, dim int) error {
	if err := checkSlab(path, len(data), dim); err != nil {
		return err
	}
	return WriteFile(path, func(w *Writer) error {
		for i := 0; i < len(data); i += dim {
			if err := w.WriteInt32(data[i : i+dim]); err != nil {
				return err
			}
		}
		return nil
	})
}

func checkSlab(path string, n, dim int) error {
	if dim <= 0 || dim > MaxDim || n == 0 || n%dim != 0 {
		return fmt.Errorf("texmex: write %s: %d values do not make whole rows of dimension %d: %w", path, n, dim, ErrDim)
	}
	return nil
}

// WriteFile creates the file at path with the rows that fill writes, for
// output too large to build in memory first. The rows go to a temporary file
// in the same directory, which is flushed, fsynced and renamed over path, and
// the directory is fsynced: a reader sees the old file or the complete new
// one, never a partial one. If fill fails or writes no row, path is left as
// it was and the temporary file is removed. A path ending in ".gz" is
// gzipped.
func WriteFile(path string, fill func(w *Writer) error) error {
	wrap := func(err error) error { return fmt.Errorf("texmex: write %s: %w", path, err) }
	return fsutil.AtomicWrite(path, 0o644, func(f io.Writer) error {
		out := f
		var gz *gzip.Writer
		if strings.HasSuffix(path, ".gz") {
			gz = gzip.NewWriter(f)
			out = gz
		}
		w := NewWriter(out)
		if err := fill(w); err != nil {
			return err // the caller's own error, or a Writer error that says what it is
		}
		if w.Rows() == 0 {
			return wrap(fmt.Errorf("no rows: %w", ErrDim))
		}
		if err := w.Flush(); err != nil {
			return wrap(err)
		}
		if gz != nil {
			if err := gz.Close(); err != nil {
				return wrap(err)
			}
		}
		return nil
	})
}
