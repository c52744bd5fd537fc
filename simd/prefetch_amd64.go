//go:build !purego

package simd

import "unsafe"

//go:noescape
func prefetchLines(p unsafe.Pointer, lines int)
