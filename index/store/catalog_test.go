package store

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func openCatalogAt(t *testing.T, path string) *Catalog {
	t.Helper()
	c, err := OpenCatalog(path, Config{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := c.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func TestCatalog(t *testing.T) {
	type step struct {
		put, del string
		value    []byte
	}
	tests := []struct {
		name  string
		steps []step
		want  map[string][]byte
	}{
		{"empty", nil, map[string][]byte{}},
		{"puts", []step{{put: "b", value: []byte(`{"dim":3}`)}, {put: "a", value: []byte(`{}`)}}, map[string][]byte{"a": []byte(`{}`), "b": []byte(`{"dim":3}`)}},
		{"replace", []step{{put: "a", value: []byte("1")}, {put: "a", value: []byte("2")}}, map[string][]byte{"a": []byte("2")}},
		{"delete", []step{{put: "a", value: []byte("1")}, {put: "b", value: []byte("2")}, {del: "a"}}, map[string][]byte{"b": []byte("2")}},
		{"delete missing", []step{{del: "nope"}}, map[string][]byte{}},
		{"empty value", []step{{put: "a"}}, map[string][]byte{"a": {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "catalog.db")
			c := openCatalogAt(t, path)
			for _, st := range tt.steps {
				if st.put != "" {
					v := append([]byte(nil), st.value...)
					require.NoError(t, c.Put(st.put, v))
					if len(v) > 0 {
						v[0] = '!' // the catalog kept its own copy
					}
				} else {
					require.NoError(t, c.Delete(st.del))
				}
			}
			check := func(c *Catalog) {
				names, err := c.List()
				require.NoError(t, err)
				require.Len(t, names, len(tt.want))
				require.IsIncreasing(t, names)
				for _, name := range names {
					v, ok, err := c.Get(name)
					require.NoError(t, err)
					require.True(t, ok)
					require.Equal(t, tt.want[name], v)
				}
				_, ok, err := c.Get("absent")
				require.NoError(t, err)
				require.False(t, ok)
			}
			check(c)
			require.NoError(t, c.Close())
			check(openCatalogAt(t, path))
		})
	}
}

func TestCatalogErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	c := openCatalogAt(t, path)
	err := c.Put("", []byte("x"))
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.ErrorContains(t, err, "catalog name is empty")
	require.ErrorIs(t, c.Delete("\xff"), ErrInvalidArgument)
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.Put("a", nil), ErrClosed)
	_, _, err = c.Get("a")
	require.ErrorIs(t, err, ErrClosed)
	_, err = c.List()
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, c.Close(), ErrClosed)

	// A store file is not a catalog.
	storePath := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(storePath, Config{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = OpenCatalog(storePath, Config{})
	require.ErrorIs(t, err, ErrNotStore)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"defaults", DefaultConfig(), true},
		{"negative batch", Config{MaxBatchOps: -1}, false},
		{"huge batch", Config{MaxBatchOps: 1 << 21}, false},
		{"file mode with type bits", Config{FileMode: 0o600 | 1<<31}, false},
		{"negative lock timeout", Config{LockTimeout: -1}, false},
		{"negative mmap", Config{InitialMmapSize: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			_, err = Open(filepath.Join(t.TempDir(), "s.db"), tt.cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}
