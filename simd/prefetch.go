package simd

import "unsafe"

// Prefetch asks the CPU to start loading v (vectors, neighbour lists) into
// the L1 cache, so that a
// distance computed on it a little later does not wait for memory. It reads
// nothing and never faults; on CPUs without a prefetch instruction (and
// under the purego tag) it does nothing. Graph searches call it on the next
// candidate's vector while they score the current one.
func Prefetch[T any](v []T) {
	if len(v) == 0 {
		return
	}
	p := unsafe.Pointer(unsafe.SliceData(v))
	start := uintptr(p) &^ 63
	end := uintptr(p) + uintptr(len(v))*unsafe.Sizeof(v[0])
	prefetchLines(p, int((end-start+63)/64))
}
