package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragd/ragd/embed"
)

// tree writes files (path → content) under a new folder and returns it.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
	}
	return dir
}

func walkSources(t *testing.T, inputs []string, cfg WalkConfig) []string {
	t.Helper()
	var out []string
	require.NoError(t, Walk(inputs, cfg, func(f File) error {
		out = append(out, f.Source)
		return nil
	}))
	return out
}

func TestWalk(t *testing.T) {
	dir := tree(t, map[string]string{
		"a.md":                 "a",
		"b.txt":                "b",
		"sub/c.md":             "c",
		"sub/deep/d.html":      "d",
		"sub/deep/skip.log":    "log",
		".hidden/h.md":         "h",
		".dotfile":             "x",
		"build/out.md":         "o",
		"node_modules/m/x.md":  "m",
		".gitignore":           "build/\n*.log\n",
		"sub/.ragignore":       "deep/d.html\n!deep/skip.log\n",
		"notes/keep.md":        "k",
		"notes/.gitignore":     "*.md\n!keep.md\n",
		"notes/drop.md":        "d",
		"weird name ü/f.md":    "w",
		"sub/deep/.git/config": "git",
	})
	cases := []struct {
		name string
		in   []string
		cfg  WalkConfig
		want []string
	}{
		{"ignore files and hidden", []string{dir}, WalkConfig{Root: dir},
			[]string{"a.md", "b.txt", "node_modules/m/x.md", "notes/keep.md", "sub/c.md", "sub/deep/skip.log", "weird name ü/f.md"}},
		{"no ignore files", []string{dir}, WalkConfig{Root: dir, NoIgnoreFiles: true},
			[]string{"a.md", "b.txt", "build/out.md", "node_modules/m/x.md", "notes/drop.md", "notes/keep.md", "sub/c.md", "sub/deep/d.html", "sub/deep/skip.log", "weird name ü/f.md"}},
		{"hidden", []string{dir}, WalkConfig{Root: dir, Hidden: true, NoIgnoreFiles: true, Include: []string{"*.md"}},
			[]string{".hidden/h.md", "a.md", "build/out.md", "node_modules/m/x.md", "notes/drop.md", "notes/keep.md", "sub/c.md", "weird name ü/f.md"}},
		{"include by name", []string{dir}, WalkConfig{Root: dir, Include: []string{"*.md"}},
			[]string{"a.md", "node_modules/m/x.md", "notes/keep.md", "sub/c.md", "weird name ü/f.md"}},
		{"include by path", []string{dir}, WalkConfig{Root: dir, Include: []string{"sub/**"}},
			[]string{"sub/c.md", "sub/deep/skip.log"}},
		{"exclude a folder", []string{dir}, WalkConfig{Root: dir, Exclude: []string{"node_modules", "sub/deep"}},
			[]string{"a.md", "b.txt", "notes/keep.md", "sub/c.md", "weird name ü/f.md"}},
		{"an ignored file named explicitly", []string{filepath.Join(dir, "build/out.md")}, WalkConfig{Root: dir},
			[]string{"build/out.md"}},
		{"a subfolder keeps the root's paths", []string{filepath.Join(dir, "sub")}, WalkConfig{Root: dir},
			[]string{"sub/c.md", "sub/deep/skip.log"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, walkSources(t, c.in, c.cfg))
		})
	}

	t.Run("default root outside the working directory", func(t *testing.T) {
		require.Equal(t, []string{"c.md", "deep/skip.log"}, walkSources(t, []string{filepath.Join(dir, "sub")}, WalkConfig{}))
		require.Equal(t, []string{"c.md"}, walkSources(t, []string{filepath.Join(dir, "sub/c.md")}, WalkConfig{}))
	})
	t.Run("default root is the working directory", func(t *testing.T) {
		t.Chdir(dir)
		require.Equal(t, []string{"sub/c.md", "sub/deep/skip.log"}, walkSources(t, []string{"sub"}, WalkConfig{}))
		require.Equal(t, []string{"sub/c.md"}, walkSources(t, []string{"sub/c.md"}, WalkConfig{}))
	})
	t.Run("errors", func(t *testing.T) {
		err := Walk([]string{filepath.Join(dir, "missing")}, WalkConfig{}, func(File) error { return nil })
		require.ErrorContains(t, err, "missing")
		err = Walk([]string{dir}, WalkConfig{Include: []string{"[a-"}}, func(File) error { return nil })
		require.ErrorIs(t, err, ErrInvalidConfig)
		err = Walk([]string{dir}, WalkConfig{Root: filepath.Join(dir, "sub")}, func(File) error { return nil })
		require.ErrorContains(t, err, "outside the root")
	})
}

// TestWalkGitTop: the .gitignore of the repository's top applies to a
// folder walked inside it.
func TestWalkGitTop(t *testing.T) {
	dir := tree(t, map[string]string{
		".git/HEAD":         "ref",
		".gitignore":        "docs/drafts/\n",
		"docs/a.md":         "a",
		"docs/drafts/b.md":  "b",
		"docs/more/c.md":    "c",
		"docs/more/.keep":   "",
		"other/.gitignore":  "*.md\n",
		"other/unrelated.m": "x",
	})
	require.Equal(t, []string{"a.md", "more/c.md"}, walkSources(t, []string{filepath.Join(dir, "docs")}, WalkConfig{}))
}

func TestWalkSymlinks(t *testing.T) {
	dir := tree(t, map[string]string{"real/a.md": "a", "outside/b.md": "b"})
	require.NoError(t, os.Symlink(filepath.Join(dir, "outside/b.md"), filepath.Join(dir, "real/b.md")))
	require.NoError(t, os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "real/loop")))
	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "real/dangling.md")))
	require.Equal(t, []string{"a.md", "b.md"}, walkSources(t, []string{filepath.Join(dir, "real")}, WalkConfig{}))
}

func TestRecords(t *testing.T) {
	d := docOf("Guide", "# Guide", "Intro text here.", "## Install", "Run go install.")
	d.Source = "guides/intro.md"
	d.Metadata = map[string]any{"tags": []any{"a", "b"}, "title": "front matter title", "chunk": "theirs"}
	chunks, err := Split(d, ChunkConfig{MaxTokens: 100, Tokenizer: embed.WordTokenizer{}, HeadingPrefix: true})
	require.NoError(t, err)
	h := Hash([]byte("content"), "settings")
	recs := Records(d, chunks, h)
	require.Len(t, recs, 2)
	require.Equal(t, "guides/intro.md#0", recs[0].ID)
	require.Equal(t, FirstChunkID(d.Source), recs[0].ID)
	require.Equal(t, "guides/intro.md#1", recs[1].ID)
	md := recs[1].Metadata
	require.Equal(t, "guides/intro.md", md[KeySource])
	require.Equal(t, 1, md[KeyChunk], "ours replace the document's")
	require.Equal(t, "Guide", md[KeyTitle])
	require.Equal(t, "Guide > Install", md[KeyHeading])
	require.Equal(t, h, md[KeyHash])
	require.Equal(t, chunks[1].Offset, md[KeyOffset])
	require.Equal(t, []any{"a", "b"}, md["tags"])
	require.NotContains(t, md, KeyPage)

	// A document with its own id and one chunk keeps it.
	one := Records(Document{ID: "sku-42", Source: "products.jsonl"}, chunks[:1], h)
	require.Equal(t, "sku-42", one[0].ID)
	two := Records(Document{ID: "sku-42", Source: "products.jsonl"}, chunks, h)
	require.Equal(t, "sku-42#1", two[1].ID)
	// Ids stay within the index's limit.
	long := Records(Document{Source: strings.Repeat("x/", 300) + "f.md"}, chunks[:1], h)
	require.LessOrEqual(t, len(long[0].ID), maxIDBytes)
	require.Equal(t, FirstChunkID(strings.Repeat("x/", 300)+"f.md"), long[0].ID)

	require.NotEqual(t, Hash([]byte("content"), "settings"), Hash([]byte("content"), "other settings"))
	require.NotEqual(t, Hash([]byte("content"), "settings"), Hash([]byte("content2"), "settings"))
}
