//go:build gpu && (linux || darwin || freebsd)

package cuda

import (
	"fmt"
	"sync"

	"github.com/ebitengine/purego"
)

// Built with the gpu tag, the package loads the library with purego: no
// cgo and no CUDA at build time. (purego makes the binary dynamically
// linked against libc, which is why it sits behind a build tag: the
// default build stays a static binary.)

var (
	loadMu sync.Mutex
	loaded = map[string]*library{} // by path, guarded by loadMu; never unloaded
)

// load opens the library at path (once) and binds its functions.
func load(path string) (*library, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if lib, ok := loaded[path]; ok {
		return lib, nil
	}
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("%w: load %s: %v", ErrUnavailable, path, err)
	}
	lib := &library{path: path}
	for _, sym := range []struct {
		name string
		fn   any
	}{
		{"rf_abi_version", &lib.abiVersion},
		{"rf_device_count", &lib.deviceCount},
		{"rf_create", &lib.create},
		{"rf_add", &lib.add},
		{"rf_delete", &lib.remove},
		{"rf_search", &lib.search},
		{"rf_destroy", &lib.destroy},
	} {
		p, err := purego.Dlsym(h, sym.name)
		if err != nil {
			_ = purego.Dlclose(h)
			return nil, fmt.Errorf("%w: %s: symbol %s: %v", ErrUnavailable, path, sym.name, err)
		}
		purego.RegisterFunc(sym.fn, p)
	}
	loaded[path] = lib
	return lib, nil
}
