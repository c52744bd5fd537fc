//go:build !amd64 || purego

package simd

import "unsafe"

func prefetchLines(p unsafe.Pointer, lines int) {}
