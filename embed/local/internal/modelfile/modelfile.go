// Package modelfile reads and writes the file that holds the local
// embedder's model: the tokenizer's vocabulary and the network's tensors,
// behind a header and a CRC-32C. docs/format/use-lite.md describes the
// layout; the constants below are on-disk format: do not change them, a new
// layout gets a new version.
//
// Decode never panics on input: a short, corrupt or inconsistent file
// gives a *CorruptionError.
package modelfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"unicode/utf8"
	"unsafe"
)

// On-disk format; do not change.
const (
	// Magic opens every file.
	Magic = "USE-LITE"
	// Version is the layout version Encode writes and Decode reads.
	Version = 1

	headerSize  = 32
	trailerSize = 4
	alignment   = 8 // tensor data starts at a multiple of this offset

	maxPieces     = 1 << 20
	maxTensors    = 1 << 10
	maxRank       = 4
	maxPieceBytes = 255 // a piece's length is one byte
	maxNameBytes  = 255 // a tensor name's length is one byte
)

// DType is how a tensor's elements are stored.
type DType uint8

// The element types. Decode turns both into float32.
const (
	Float32 DType = 1 // IEEE 754 binary32
	Float16 DType = 2 // IEEE 754 binary16, round to nearest even on writing
)

func (d DType) size() int {
	switch d {
	case Float32:
		return 4
	case Float16:
		return 2
	}
	return 0
}

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var le = binary.LittleEndian

// Piece is one vocabulary entry: its text and its score (a log
// probability; higher is more likely).
type Piece struct {
	Text  string
	Score float64
}

// Tensor is a named array of float32 in row-major order. DType says how
// Encode stores it; Decode sets it to the stored type.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []float32
}

// File is the whole content of a model file.
type File struct {
	Pieces  []Piece
	Tensors []Tensor
}

// Tensor returns the tensor with the given name, or nil.
func (f *File) Tensor(name string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i]
		}
	}
	return nil
}

// ErrCorrupt matches every *CorruptionError through errors.Is.
var ErrCorrupt = errors.New("modelfile: corrupt model file")

// CorruptionError reports a file that cannot be decoded: truncated,
// failing its checksum, or structurally invalid.
type CorruptionError struct {
	Offset int64  // byte offset of the problem, or -1 when not known
	Reason string // what is wrong, for a human
}

func (e *CorruptionError) Error() string { return "modelfile: corrupt model file: " + e.Detail() }

// Detail says what is wrong and where, without the package prefix.
func (e *CorruptionError) Detail() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("at byte %d: %s", e.Offset, e.Reason)
	}
	return e.Reason
}

// Is makes errors.Is(err, ErrCorrupt) match every CorruptionError.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

func corrupt(off int, format string, args ...any) error {
	return &CorruptionError{Offset: int64(off), Reason: fmt.Sprintf(format, args...)}
}

func numElements(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 || d > math.MaxInt32 {
			return 0, false
		}
		n *= d
		if n > math.MaxInt32 {
			return 0, false
		}
	}
	return n, true
}

func alignUp(n int) int { return (n + alignment - 1) / alignment * alignment }

// Encode writes f to w. It fails on a piece or name longer than 255 bytes,
// an invalid UTF-8 piece, a shape that does not match the data, an unknown
// DType, or a float16 tensor holding a value that binary16 cannot hold
// (|x| > 65504, NaN, ±Inf).
func Encode(w io.Writer, f *File) error {
	if len(f.Pieces) > maxPieces || len(f.Tensors) > maxTensors {
		return fmt.Errorf("modelfile: %d pieces and %d tensors exceed the limits %d and %d", len(f.Pieces), len(f.Tensors), maxPieces, maxTensors)
	}
	b := make([]byte, headerSize, headerSize+len(f.Pieces)*16)
	copy(b, Magic)
	le.PutUint32(b[8:], Version)
	le.PutUint32(b[12:], 0)
	le.PutUint32(b[16:], uint32(len(f.Pieces)))
	le.PutUint32(b[20:], uint32(len(f.Tensors)))
	// b[24:32], the file length, is set at the end.

	for _, p := range f.Pieces {
		b = le.AppendUint64(b, math.Float64bits(p.Score))
	}
	for i, p := range f.Pieces {
		if len(p.Text) == 0 || len(p.Text) > maxPieceBytes || !utf8.ValidString(p.Text) {
			return fmt.Errorf("modelfile: piece %d: %q is empty, longer than %d bytes or not UTF-8", i, p.Text, maxPieceBytes)
		}
		b = append(b, byte(len(p.Text)))
		b = append(b, p.Text...)
	}
	for _, t := range f.Tensors {
		if len(t.Name) == 0 || len(t.Name) > maxNameBytes {
			return fmt.Errorf("modelfile: tensor name %q is empty or longer than %d bytes", t.Name, maxNameBytes)
		}
		if len(t.Shape) > maxRank {
			return fmt.Errorf("modelfile: tensor %s: rank %d above %d", t.Name, len(t.Shape), maxRank)
		}
		if n, ok := numElements(t.Shape); !ok || n != len(t.Data) {
			return fmt.Errorf("modelfile: tensor %s: shape %v does not hold %d elements", t.Name, t.Shape, len(t.Data))
		}
		if t.DType.size() == 0 {
			return fmt.Errorf("modelfile: tensor %s: unknown dtype %v", t.Name, t.DType)
		}
		b = append(b, byte(len(t.Name)))
		b = append(b, t.Name...)
		b = append(b, byte(t.DType), byte(len(t.Shape)))
		for _, d := range t.Shape {
			b = le.AppendUint32(b, uint32(d))
		}
	}
	for _, t := range f.Tensors {
		b = append(b, make([]byte, alignUp(len(b))-len(b))...)
		switch t.DType {
		case Float32:
			for i, x := range t.Data {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return fmt.Errorf("modelfile: tensor %s: element %d is %g", t.Name, i, x)
				}
				b = le.AppendUint32(b, math.Float32bits(x))
			}
		case Float16:
			for i, x := range t.Data {
				h, ok := toFloat16(x)
				if !ok {
					return fmt.Errorf("modelfile: tensor %s: element %d (%g) does not fit float16", t.Name, i, x)
				}
				b = le.AppendUint16(b, h)
			}
		}
	}
	le.PutUint64(b[24:], uint64(len(b)+trailerSize))
	b = le.AppendUint32(b, crc32.Checksum(b, castagnoli))
	_, err := w.Write(b)
	return err
}

// reader walks the body of a file, checking every read against the end.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = corrupt(r.off, "%s (%d bytes) runs past the end of the body", what, n)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8(what string) int {
	if s := r.take(1, what); s != nil {
		return int(s[0])
	}
	return 0
}

// memAlign is the alignment in memory of every tensor's Data, in floats: a
// cache line (64 bytes). The SIMD kernels that read a matrix row by row are
// about a third faster when no load straddles two lines, which holds when
// the matrix starts on a line and its rows are a multiple of 16 floats long.
const memAlign = 16

// alignFloats rounds n up to a multiple of memAlign.
func alignFloats(n int) int { return (n + memAlign - 1) / memAlign * memAlign }

// alignedSlab returns n zero floats starting on a 64-byte boundary.
func alignedSlab(n int) []float32 {
	s := make([]float32, n+memAlign-1)
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	off := int((4*memAlign - addr%(4*memAlign)) % (4 * memAlign) / 4)
	return s[off : off+n : off+n]
}

// Decode parses a model file. It checks the magic, the version, the
// length recorded in the header and the CRC-32C before it reads anything
// else, then every count, length and shape against the bytes that are
// there, and that every element is finite. The tensors come back as
// float32 whatever their stored type, in one allocation, each tensor's
// Data starting on a 64-byte boundary (memAlign).
func Decode(b []byte) (*File, error) {
	if len(b) < headerSize+trailerSize {
		return nil, corrupt(-1, "%d bytes, shorter than a header and a trailer (%d): truncated", len(b), headerSize+trailerSize)
	}
	if string(b[:8]) != Magic {
		return nil, corrupt(0, "magic %q, want %q: not a model file", b[:8], Magic)
	}
	if v := le.Uint32(b[8:]); v != Version {
		return nil, corrupt(8, "version %d, this build reads version %d", v, Version)
	}
	if flags := le.Uint32(b[12:]); flags != 0 {
		return nil, corrupt(12, "unknown flags %#x", flags)
	}
	if n := le.Uint64(b[24:]); n != uint64(len(b)) {
		reason := "truncated"
		if n < uint64(len(b)) {
			reason = "trailing bytes"
		}
		return nil, corrupt(24, "header says %d bytes, file has %d: %s", n, len(b), reason)
	}
	body := b[:len(b)-trailerSize]
	if got, want := crc32.Checksum(body, castagnoli), le.Uint32(b[len(body):]); got != want {
		return nil, corrupt(len(body), "CRC-32C %#08x, trailer says %#08x", got, want)
	}
	nPieces, nTensors := le.Uint32(b[16:]), le.Uint32(b[20:])
	if nPieces > maxPieces || nTensors > maxTensors {
		return nil, corrupt(16, "%d pieces and %d tensors exceed the limits %d and %d", nPieces, nTensors, maxPieces, maxTensors)
	}

	r := &reader{b: body, off: headerSize}
	f := &File{Pieces: make([]Piece, 0, min(int(nPieces), len(body)/9)), Tensors: make([]Tensor, 0, nTensors)}
	scores := r.take(8*int(nPieces), "piece scores")
	for i := range int(nPieces) {
		off := r.off
		text := r.take(r.u8("piece length"), "piece text")
		if r.err != nil {
			return nil, r.err
		}
		if len(text) == 0 || !utf8.Valid(text) {
			return nil, corrupt(off, "piece %d is empty or not UTF-8", i)
		}
		f.Pieces = append(f.Pieces, Piece{Text: string(text), Score: math.Float64frombits(le.Uint64(scores[8*i:]))})
	}
	total := 0
	for i := range int(nTensors) {
		off := r.off
		name := r.take(r.u8("name length"), "tensor name")
		dtype := DType(r.u8("dtype"))
		rank := r.u8("rank")
		dims := r.take(4*rank, "shape")
		if r.err != nil {
			return nil, r.err
		}
		if len(name) == 0 || dtype.size() == 0 || rank > maxRank {
			return nil, corrupt(off, "tensor %d: empty name, unknown dtype %v or rank %d above %d", i, dtype, rank, maxRank)
		}
		shape := make([]int, rank)
		for j := range shape {
			shape[j] = int(le.Uint32(dims[4*j:]))
		}
		n, ok := numElements(shape)
		if !ok || total+n > len(body) { // every element takes at least 2 bytes
			return nil, corrupt(off, "tensor %s: shape %v too large for the file", name, shape)
		}
		total += alignFloats(n)
		f.Tensors = append(f.Tensors, Tensor{Name: string(name), DType: dtype, Shape: shape})
	}
	slab := alignedSlab(total)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		n, _ := numElements(t.Shape)
		pad := r.take(alignUp(r.off)-r.off, "padding")
		data := r.take(n*t.DType.size(), "tensor "+t.Name)
		if r.err != nil {
			return nil, r.err
		}
		for _, p := range pad {
			if p != 0 {
				return nil, corrupt(r.off-len(data)-len(pad), "non-zero padding before tensor %s", t.Name)
			}
		}
		t.Data, slab = slab[:n:n], slab[alignFloats(n):]
		finite := true
		switch t.DType {
		case Float32:
			data := data[:4*len(t.Data)]
			for j := range t.Data {
				u := le.Uint32(data[4*j:])
				finite = finite && u&0x7f800000 != 0x7f800000
				t.Data[j] = math.Float32frombits(u)
			}
		case Float16:
			data := data[:2*len(t.Data)]
			for j := range t.Data {
				h := uint16(data[2*j]) | uint16(data[2*j+1])<<8
				finite = finite && h&0x7c00 != 0x7c00
				t.Data[j] = fromFloat16(h)
			}
		}
		if !finite {
			return nil, corrupt(r.off-len(data), "tensor %s holds NaN or infinity", t.Name)
		}
	}
	if r.off != len(body) {
		return nil, corrupt(r.off, "%d unread bytes before the trailer", len(body)-r.off)
	}
	return f, nil
}
