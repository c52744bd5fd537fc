package text

import (
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildClosed builds an index with a few batches in dir and closes it.
func buildClosed(t *testing.T, dir string) {
	t.Helper()
	ix, err := Open(dir, Config{})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, ix.Apply(uint64(i+1), docsOf(uint32(i*100), corpus...), nil))
	}
	require.NoError(t, ix.Close())
}

// files returns the paths in dir whose names end with suffix.
func files(t *testing.T, dir, suffix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

func garble(t *testing.T, path string, at int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	if at < 0 {
		at += st.Size()
	}
	buf := make([]byte, n)
	_, err = f.ReadAt(buf, at)
	require.NoError(t, err)
	for i := range buf {
		buf[i] ^= 0x5a
	}
	_, err = f.WriteAt(buf, at)
	require.NoError(t, err)
}

func truncate(t *testing.T, path string, keep func(size int64) int64) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, keep(st.Size())))
}

// quietLog silences the standard logger, through which scorch reports the
// segments it cannot load, until the test ends.
func quietLog(t *testing.T) {
	w := log.Writer()
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(w) })
}

func TestOpenCorrupt(t *testing.T) {
	quietLog(t)
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"segment garbled in the middle", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, ".zap") {
				st, _ := os.Stat(p)
				garble(t, p, st.Size()/2, 16)
			}
		}},
		{"segment garbled at the start", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, ".zap") {
				garble(t, p, 0, 64)
			}
		}},
		{"segment footer garbled", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, ".zap") {
				garble(t, p, -20, 12)
			}
		}},
		{"segment checksum garbled", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, ".zap") {
				garble(t, p, -4, 4)
			}
		}},
		{"segment truncated to half", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, ".zap") {
				truncate(t, p, func(s int64) int64 { return s / 2 })
			}
		}},
		{"segment truncated to 3 bytes", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, ".zap") {
				truncate(t, p, func(int64) int64 { return 3 })
			}
		}},
		{"segment emptied", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, ".zap") {
				truncate(t, p, func(int64) int64 { return 0 })
			}
		}},
		{"segment removed", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, ".zap") {
				require.NoError(t, os.Remove(p))
			}
		}},
		{"root meta pages garbled", func(t *testing.T, dir string) {
			garble(t, filepath.Join(dir, rootFile), 0, 2*4096)
		}},
		{"root garbled after its meta pages", func(t *testing.T, dir string) {
			p := filepath.Join(dir, rootFile)
			st, err := os.Stat(p)
			require.NoError(t, err)
			garble(t, p, 2*4096, int(st.Size()-2*4096))
		}},
		{"root truncated", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, rootFile), func(s int64) int64 { return s / 3 })
		}},
		{"root truncated to its meta pages", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, rootFile), func(int64) int64 { return 2 * 4096 })
		}},
		{"root truncated by a byte of its pages", func(t *testing.T, dir string) {
			p := filepath.Join(dir, rootFile)
			f, err := os.Open(p)
			require.NoError(t, err)
			m0, ok0 := readBoltMeta(f, 0)
			m1, ok1 := readBoltMeta(f, 4096)
			require.NoError(t, f.Close())
			require.True(t, ok0 && ok1)
			inUse := int64(max(m0.pgid, m1.pgid)) * int64(m0.pageSize)
			truncate(t, p, func(int64) int64 { return inUse - 1 })
		}},
		{"root emptied", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, rootFile), func(int64) int64 { return 0 })
		}},
		{"root removed", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, rootFile)))
		}},
		{"folder is a file", func(t *testing.T, dir string) {
			require.NoError(t, os.RemoveAll(dir))
			require.NoError(t, os.WriteFile(dir, []byte("not a folder"), 0o644))
		}},
		{"stranger's files", func(t *testing.T, dir string) {
			require.NoError(t, os.RemoveAll(dir))
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "text")
			buildClosed(t, dir)
			require.NotEmpty(t, files(t, dir, ".zap"))
			c.damage(t, dir)

			ix, err := Open(dir, Config{})
			if err == nil {
				ix.Close()
			}
			require.ErrorIs(t, err, ErrCorrupt)
			t.Log(err)
			var ce *CorruptionError
			require.ErrorAs(t, err, &ce)

			// The caller's remedy: delete and rebuild.
			require.NoError(t, os.RemoveAll(dir))
			ix = openDirT(t, dir, Config{})
			require.Zero(t, ix.Seq())
		})
	}
}

// TestOpenRootMetaPage garbles one of the root file's two meta pages:
// bbolt falls back to the other, an older but whole state. Open either
// accepts it, consistent, or reports it corrupt; it never panics.
func TestOpenRootMetaPage(t *testing.T) {
	quietLog(t)
	for _, page := range []int64{0, 4096} {
		dir := filepath.Join(t.TempDir(), "text")
		buildClosed(t, dir)
		garble(t, filepath.Join(dir, rootFile), page, 4096)
		ix, err := Open(dir, Config{})
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			continue
		}
		require.LessOrEqual(t, ix.Seq(), uint64(3))
		checkInvariants(t, ix)
		require.NoError(t, ix.Close())
	}
}

func TestOpenCreates(t *testing.T) {
	for _, name := range []string{"missing", "missing/and/nested", "empty"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if name == "empty" {
				require.NoError(t, os.MkdirAll(dir, 0o755))
			}
			ix := openDirT(t, dir, Config{})
			require.Zero(t, ix.Seq())
			n, err := ix.Count()
			require.NoError(t, err)
			require.Zero(t, n)
			st, err := ix.Stats([]string{"wing"})
			require.NoError(t, err)
			require.Equal(t, Stats{DF: map[string]uint64{"wing": 0}}, st)
			require.FileExists(t, filepath.Join(dir, rootFile))
		})
	}
}

func TestOpenIntactAfterManyBatches(t *testing.T) {
	// Every segment bleve writes, merged or not, passes the checksum.
	dir := filepath.Join(t.TempDir(), "text")
	ix, err := Open(dir, Config{})
	require.NoError(t, err)
	for i := range 40 {
		require.NoError(t, ix.Apply(uint64(i+1), docsOf(uint32(i*100), corpus...), []uint32{uint32(i * 50)}))
	}
	require.NoError(t, ix.Close())
	for range 2 {
		ix = openDirT(t, dir, Config{})
		require.Equal(t, uint64(40), ix.Seq())
		checkInvariants(t, ix)
		require.NoError(t, ix.Close())
	}
}

func TestOpenAnalyzerMismatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "text")
	buildClosed(t, dir)
	_, err := Open(dir, Config{Analyzer: "standard"})
	require.ErrorIs(t, err, ErrAnalyzerMismatch)
	require.NotErrorIs(t, err, ErrCorrupt)
	ix := openDirT(t, dir, Config{K1: new(2.0), B: new(0.5)}) // k1 and b may change
	require.Equal(t, uint64(3), ix.Seq())
}

func TestOpenLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "text")
	ix := openDirT(t, dir, Config{})
	require.NoError(t, ix.Apply(1, docsOf(1, corpus...), nil))
	start := time.Now()
	_, err := Open(dir, Config{})
	require.ErrorIs(t, err, ErrLocked)
	require.NotErrorIs(t, err, ErrCorrupt)
	require.Less(t, time.Since(start), 10*time.Second)
}
