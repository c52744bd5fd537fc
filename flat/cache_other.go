//go:build !linux

package flat

// l2CacheBytes returns the default L2 size where the OS does not tell it.
func l2CacheBytes() int { return defaultL2 }
