//go:build unix

package store

import (
	"os"
	"syscall"
)

// unlockFile drops bbolt's flock on f. Closing f is not enough after bbolt
// has mapped it: the mapping keeps the open file, and so the lock, alive.
func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
