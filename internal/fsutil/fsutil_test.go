package fsutil

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")

	require.NoError(t, AtomicWrite(path, 0o644, func(w io.Writer) error {
		_, err := w.Write([]byte("first"))
		return err
	}))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "first", string(got))

	// A failing writer leaves the old file and no temporary behind.
	boom := errors.New("boom")
	err = AtomicWrite(path, 0o644, func(w io.Writer) error {
		if _, err := w.Write([]byte("partial")); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "first", string(got))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "temporary file left behind")

	// Replacing works.
	require.NoError(t, AtomicWrite(path, 0o644, func(w io.Writer) error {
		_, err := w.Write([]byte("second"))
		return err
	}))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "second", string(got))
}

func TestAtomicWriteMissingDir(t *testing.T) {
	err := AtomicWrite(filepath.Join(t.TempDir(), "nope", "f"), 0o644, func(io.Writer) error { return nil })
	require.Error(t, err)
}
