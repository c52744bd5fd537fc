//go:build !amd64 || purego

package simd

// tileKernels returns every score tile this CPU can run, for the tests and
// benchmarks: the portable one only.
func tileKernels() []tileKernel { return []tileKernel{tileGo} }
