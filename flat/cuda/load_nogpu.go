//go:build !gpu || !(linux || darwin || freebsd)

package cuda

import "fmt"

// load always fails: this binary was built without the gpu tag (or for an
// OS purego does not serve), so it cannot open shared libraries.
func load(path string) (*library, error) {
	return nil, fmt.Errorf("%w: built without GPU support (build with -tags gpu to load %s)", ErrUnavailable, path)
}
