package hnsw

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// adviseHugePages asks Linux to back the interior 2 MiB-aligned part of a
// large slab with transparent huge pages. A search touches vectors and
// neighbour lists all over the slabs; with 4 KiB pages nearly every one of
// those touches also misses the TLB (a 136 MB slab spans 33,000 pages, the
// TLB holds a few thousand), with 2 MiB pages the whole slab fits. Systems
// whose THP setting is "madvise" (Debian's and Ubuntu's default) give huge
// pages only to memory that asks. The advice is best-effort: an error, or a
// kernel without THP, leaves ordinary pages.
func adviseHugePages[T any](s []T) {
	const huge = 2 << 20
	if len(s) == 0 {
		return
	}
	n := uintptr(len(s)) * unsafe.Sizeof(s[0])
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), n)
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start+huge-1)&^(huge-1) - start
	hi := (start+n)&^(huge-1) - start
	if hi <= lo || hi > n {
		return
	}
	_ = unix.Madvise(b[lo:hi], unix.MADV_HUGEPAGE)
}
