package flat

import (
	"os"
	"strconv"
	"strings"
)

// l2CacheBytes reads the size of cpu0's level-2 data or unified cache from
// sysfs, or returns 512 KiB when it cannot.
func l2CacheBytes() int {
	for i := range 8 {
		dir := "/sys/devices/system/cpu/cpu0/cache/index" + strconv.Itoa(i) + "/"
		level, err1 := os.ReadFile(dir + "level")
		typ, err2 := os.ReadFile(dir + "type")
		size, err3 := os.ReadFile(dir + "size")
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if strings.TrimSpace(string(level)) != "2" || strings.TrimSpace(string(typ)) == "Instruction" {
			continue
		}
		if n := parseCacheSize(strings.TrimSpace(string(size))); n > 0 {
			return n
		}
	}
	return defaultL2
}
