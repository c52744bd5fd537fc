package local

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time of the calling thread, or false where it
// cannot. Benchmarks lock their goroutine to its thread and report it
// beside the wall time: on a shared machine, time lost to other processes
// inflates the wall time, not this.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
