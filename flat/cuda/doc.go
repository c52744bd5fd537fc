// Package cuda is the optional GPU engine of package flat: an exact index
// whose vectors live in GPU memory (fp32, or fp16 with fp32 accumulation),
// searched with one cuBLAS GEMM per block of queries and rows and a top-k
// selection on the device, in a small CUDA library loaded at run time.
//
// # Pieces
//
//   - csrc/ragdflat.cu and csrc/ragdflat.h: the library, a C ABI of seven
//     functions (documented in the header) over CUDA and cuBLAS. `make
//     cuda` builds bench/work/libragdflat.so with nvcc; nothing else in
//     the repository needs CUDA.
//   - Index: the Go side, the GPU twin of flat.Index (Add uploads only the
//     new vectors, Delete masks on the device, Search takes the same
//     allow-lists and fills the same flat.Response). Results equal the CPU
//     engine's up to rounding ties (and with FP16 up to the rounding of the
//     vectors); distances follow flat's conventions.
//   - The loader (load_gpu.go) binds the library with purego
//     (github.com/ebitengine/purego): no cgo, no CUDA at build time. It is
//     compiled only under the gpu build tag, because purego makes a binary
//     dynamically linked against libc even when it never loads anything,
//     and ragd's default binaries are static. Without the tag NewIndex
//     always fails with ErrUnavailable.
//
// # Fallback
//
// NewIndex returns an error wrapping ErrUnavailable when the binary was
// built without the gpu tag, the library is missing or of another ABI
// version, or there is no CUDA device. The caller logs that once and uses
// the CPU engine (`ragctl bench exact --gpu` does exactly this).
//
// # Concurrency
//
// Index is safe for concurrent use: its calls into the library are
// serialised by a mutex (one cuBLAS handle and one set of device buffers
// per index). The library keeps no thread-local state and selects the
// index's device on each call, so calls may come from any OS thread.
// Search checks its context before it calls the library; a running GPU
// search is not interrupted.
package cuda
