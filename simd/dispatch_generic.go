//go:build !amd64 || purego

package simd

// Without amd64 assembly (other architectures, or the purego build tag) the
// pure-Go reference kernels are the implementation.

// kernelSets returns every kernel set this CPU can run, for the tests and
// benchmarks; the last is the one chosen.
func kernelSets() []namedSet { return []namedSet{{"generic", generic}} }
