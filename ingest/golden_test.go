package ingest

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenText renders a document for a golden file: title, metadata, then
// each block with its kind, level, page and heading path, and its text.
func goldenText(d Document) string {
	var b strings.Builder
	fmt.Fprintf(&b, "title: %q\n", d.Title)
	keys := make([]string, 0, len(d.Metadata))
	for k := range d.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "created" || k == "modified" {
			continue // the build date of a made PDF
		}
		fmt.Fprintf(&b, "meta %s: %v\n", k, d.Metadata[k])
	}
	for _, blk := range d.Blocks {
		fmt.Fprintf(&b, "\n--- %s", blk.Kind)
		if blk.Level > 0 {
			fmt.Fprintf(&b, " h%d", blk.Level)
		}
		if blk.Page > 0 {
			fmt.Fprintf(&b, " p%d", blk.Page)
		}
		if len(blk.Headings) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(blk.Headings, " > "))
		}
		fmt.Fprintf(&b, "\n%s\n", d.Text[blk.Start:blk.End])
	}
	return b.String()
}

// TestGolden compares the documents of testdata's files with
// testdata/golden; -update rewrites them.
func TestGolden(t *testing.T) {
	files := []struct {
		name string
		f    Format
	}{
		{"defer-panic-and-recover.md", FormatMarkdown},
		{"querying.md", FormatMarkdown},
		{"manage-install.html", FormatHTML},
		{"race_detector.html", FormatHTML},
		{"pdf/latex-twocolumn.pdf", FormatPDF},
		{"pdf/libreoffice.pdf", FormatPDF},
		{"pdf/groff-ghostscript.pdf", FormatPDF},
	}
	for _, file := range files {
		t.Run(file.name, func(t *testing.T) {
			if file.f == FormatPDF && raceEnabled {
				t.Skip("PDFium is interpreted under -race: real PDFs take minutes")
			}
			data, err := os.ReadFile(filepath.Join("testdata", file.name))
			require.NoError(t, err)
			docs, err := Load(file.name, data, file.f, LoadConfig{})
			require.NoError(t, err)
			requireValidDocs(t, docs)
			got := goldenText(docs[0])
			path := filepath.Join("testdata", "golden", strings.ReplaceAll(file.name, "/", "_")+".txt")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./ingest -run TestGolden -update")
			require.Equal(t, string(want), got)
		})
	}
}

// goDocs is the shared copy of the Go blog and documentation, when this
// machine has it.
const goDocs = "/work/shared/data/docs/go"

// TestGoDocsCorpus loads every file of the Go documentation and checks
// the documents' invariants; it is skipped where the folder is absent.
func TestGoDocsCorpus(t *testing.T) {
	if _, err := os.Stat(goDocs); err != nil {
		t.Skipf("%s: %v", goDocs, err)
	}
	var files, size, blocks, empty int
	start := time.Now()
	err := filepath.WalkDir(goDocs, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, ok := Detect(path, data)
		if !ok || f == FormatPDF {
			return nil // SOURCE.md and friends are Markdown too
		}
		docs, err := Load(path, data, f, LoadConfig{})
		if errors.Is(err, ErrEmpty) {
			empty++ // pages that only redirect elsewhere
			return nil
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		for _, d := range docs {
			if err := checkDocument(d); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			blocks += len(d.Blocks)
			if strings.Contains(d.Text, "{{raw") && filepath.Base(path) != "SOURCE.md" { // which names it
				t.Errorf("%s: a {{raw}} action is left in the text", path)
			}
		}
		files++
		size += len(data)
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, files, 350)
	require.Less(t, empty, 100)
	d := time.Since(start)
	t.Logf("%d files (and %d without text), %.1f MB, %d blocks in %v: %.1f MB/s", files, empty, float64(size)/1e6, blocks, d.Round(time.Millisecond), float64(size)/1e6/d.Seconds())
}

// BenchmarkLoadGoDocs loads the whole Go documentation folder.
func BenchmarkLoadGoDocs(b *testing.B) {
	type file struct {
		path string
		data []byte
		f    Format
	}
	var files []file
	var size int64
	err := filepath.WalkDir(goDocs, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if f, ok := Detect(path, data); ok && err == nil {
			if _, err := Load(path, data, f, LoadConfig{}); err != nil {
				return nil // redirects
			}
			files = append(files, file{path, data, f})
			size += int64(len(data))
		}
		return err
	})
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range files {
			if _, err := Load(f.path, f.data, f.f, LoadConfig{}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
