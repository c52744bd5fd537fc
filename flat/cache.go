package flat

import "strconv"

// defaultL2 is the L2 size assumed where it cannot be read.
const defaultL2 = 512 << 10

// parseCacheSize parses sysfs's "512K", "2048K" or "1M"; 0 if malformed.
func parseCacheSize(s string) int {
	mul := 1
	switch {
	case len(s) > 0 && (s[len(s)-1] == 'K' || s[len(s)-1] == 'k'):
		mul, s = 1<<10, s[:len(s)-1]
	case len(s) > 0 && s[len(s)-1] == 'M':
		mul, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0
	}
	return n * mul
}
