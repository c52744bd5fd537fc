package texmex

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to a Reader. It must never panic; it must
// either reject the input with a *FormatError or accept it, and whatever it
// accepts must re-encode to exactly the input bytes.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add(encode(f32(1, 2, 3)))
	f.Add(encode(f32(1, 2), f32(3, 4)))
	f.Add(encode(f32(1, 2), f32(3)))
	f.Add(encode([]uint32{}))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3, 4})
	f.Add([]byte{1, 0, 0, 0, 1, 2})

	f.Fuzz(func(t *testing.T, in []byte) {
		var floats []float32
		rf := NewReader(bytes.NewReader(in), "fuzz")
		errF := drain(func() (err error) { floats, err = rf.ReadFloat32(floats); return err })

		var ints []int32
		ri := NewReader(bytes.NewReader(in), "fuzz")
		errI := drain(func() (err error) { ints, err = ri.ReadInt32(ints); return err })

		if (errF == nil) != (errI == nil) || rf.Rows() != ri.Rows() {
			t.Fatalf("float and int readers disagree: %v / %v, %d / %d rows", errF, errI, rf.Rows(), ri.Rows())
		}
		if errF != nil {
			var fe *FormatError
			if !errors.As(errF, &fe) || !errors.Is(errF, ErrFormat) {
				t.Fatalf("error %v is not a *FormatError", errF)
			}
			if fe.Row != rf.Rows() || fe.Offset > int64(len(in)) {
				t.Fatalf("error %v: row %d offset %d after %d good rows of %d bytes", errF, fe.Row, fe.Offset, rf.Rows(), len(in))
			}
			return
		}

		dim := rf.Dim()
		if dim <= 0 || dim > MaxDim || len(floats) != rf.Rows()*dim || len(in) != rf.Rows()*(4+4*dim) {
			t.Fatalf("accepted %d bytes as %d rows of dim %d with %d values", len(in), rf.Rows(), dim, len(floats))
		}
		for _, encodeRows := range []func(w *Writer) error{
			func(w *Writer) error {
				for i := 0; i < len(floats); i += dim {
					if err := w.WriteFloat32(floats[i : i+dim]); err != nil {
						return err
					}
				}
				return nil
			},
			func(w *Writer) error {
				for i := 0; i < len(ints); i += dim {
					if err := w.WriteInt32(ints[i : i+dim]); err != nil {
						return err
					}
				}
				return nil
			},
		} {
			var out bytes.Buffer
			w := NewWriter(&out)
			if err := encodeRows(w); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), in) {
				t.Fatalf("re-encoding changed the bytes")
			}
		}
	})
}

// drain calls read until it fails and returns nil if it stopped at io.EOF.
func drain(read func() error) error {
	for {
		if err := read(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
