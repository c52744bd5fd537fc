package cuda

import (
	"errors"
	"fmt"
)

var (
	// ErrUnavailable is returned by NewIndex when no GPU engine can run: the
	// binary was built without the gpu tag, the library cannot be loaded
	// or lacks a symbol, its ABI version differs, or it finds no CUDA
	// device. The caller falls back to the CPU engine (package flat).
	ErrUnavailable = errors.New("cuda: GPU engine unavailable")
	// ErrClosed is returned by the methods of a closed Index.
	ErrClosed = errors.New("cuda: index is closed")
)

// Error is a failure reported by the library: a CUDA or cuBLAS error, or
// an out-of-memory on the device.
type Error struct {
	Op      string // the library function: "rf_add", "rf_search", …
	Code    int    // the library's return code (see csrc/ragdflat.h)
	Message string // the library's message
}

func (e *Error) Error() string {
	return fmt.Sprintf("cuda: %s: %s (code %d)", e.Op, e.Message, e.Code)
}

// Library return codes (csrc/ragdflat.h).
const (
	codeArg    = -1 // bad argument
	codeCUDA   = -2 // CUDA runtime or cuBLAS error
	codeNoMem  = -3 // device out of memory
	codeNoDev  = -4 // no such device
	codeNoCUDA = -5 // no CUDA driver / runtime usable
)
