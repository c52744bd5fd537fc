package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ragd/ragd/internal/fsutil"
	"github.com/ragd/ragd/internal/texmex"
)

// gtK is the number of neighbours in the ground truth, as in ann-benchmarks
// and the reference files.
const gtK = 100

// Output file suffixes; a data set's files are <prefix><suffix>.
const (
	baseFile       = ".base.fvecs"
	queryFile      = ".query.fvecs"
	gtIDsFile      = ".gt.ivecs"
	gtDistFile     = ".gt-dist.fvecs"
	baseWordsFile  = ".base.words.txt"
	queryWordsFile = ".query.words.txt"
)

// source is a converted data set, before it is written.
type source struct {
	base, queries         []float32 // row-major, dataset.dim values a row
	baseWords, queryWords []string  // the word of each row; GloVe only
}

// dataset describes one benchmark data set: its shape, how to fetch it and
// what to check it against.
type dataset struct {
	name   string // -dataset value and log key
	prefix string // output file prefix, as in ann-benchmarks
	dim    int
	nBase  int
	nQuery int
	metric metric
	words  bool // writes .base.words.txt and .query.words.txt

	// fetch downloads, verifies and converts the source data, adding the
	// time it spends to t.download and t.convert.
	fetch func(ctx context.Context, cfg *config, log *slog.Logger, t *timings) (*source, error)

	ref reference
}

// reference says where the reference copy of a data set lives under the
// -check folder and what it holds.
type reference struct {
	dir      string // sub-folder of the -check folder
	prefix   string // file prefix there
	nQueries int    // the reference ground truth covers the first nQueries queries
	// identical maps our file suffixes to reference file names that must
	// match byte for byte.
	identical map[string]string
	// sha256 maps our file suffixes to the sums SOURCE.md records for them,
	// checked even without the reference folder.
	sha256 map[string]string
}

func (ds *dataset) path(dir, suffix string) string {
	return filepath.Join(dir, ds.prefix+suffix)
}

// write stores the converted data (not the ground truth) in dir.
func (ds *dataset) write(dir string, src *source) error {
	if len(src.base) != ds.nBase*ds.dim || len(src.queries) != ds.nQuery*ds.dim {
		return fmt.Errorf("converted data has %d base and %d query values, want %d×%d and %d×%d",
			len(src.base), len(src.queries), ds.nBase, ds.dim, ds.nQuery, ds.dim)
	}
	if err := texmex.WriteFvecs(ds.path(dir, baseFile), src.base, ds.dim); err != nil {
		return err
	}
	if err := texmex.WriteFvecs(ds.path(dir, queryFile), src.queries, ds.dim); err != nil {
		return err
	}
	if !ds.words {
		return nil
	}
	if len(src.baseWords) != ds.nBase || len(src.queryWords) != ds.nQuery {
		return fmt.Errorf("converted data has %d base and %d query words, want %d and %d",
			len(src.baseWords), len(src.queryWords), ds.nBase, ds.nQuery)
	}
	if err := writeLines(ds.path(dir, baseWordsFile), src.baseWords); err != nil {
		return err
	}
	return writeLines(ds.path(dir, queryWordsFile), src.queryWords)
}

// writeGT stores the ground truth in dir.
func (ds *dataset) writeGT(dir string, ids []int32, dists []float32) error {
	if err := texmex.WriteIvecs(ds.path(dir, gtIDsFile), ids, gtK); err != nil {
		return err
	}
	return texmex.WriteFvecs(ds.path(dir, gtDistFile), dists, gtK)
}

// validData returns nil if the data files in dir exist and have the expected
// shape, an error wrapping os.ErrNotExist if one is missing, another error if
// one is malformed.
func (ds *dataset) validData(dir string) error {
	if err := checkVecs(ds.path(dir, baseFile), ds.nBase, ds.dim); err != nil {
		return err
	}
	if err := checkVecs(ds.path(dir, queryFile), ds.nQuery, ds.dim); err != nil {
		return err
	}
	if !ds.words {
		return nil
	}
	if err := checkLines(ds.path(dir, baseWordsFile), ds.nBase); err != nil {
		return err
	}
	return checkLines(ds.path(dir, queryWordsFile), ds.nQuery)
}

// validGT is validData for the ground-truth files.
func (ds *dataset) validGT(dir string) error {
	if err := checkVecs(ds.path(dir, gtIDsFile), ds.nQuery, gtK); err != nil {
		return err
	}
	return checkVecs(ds.path(dir, gtDistFile), ds.nQuery, gtK)
}

// readData loads the base and query vectors written by write.
func (ds *dataset) readData(dir string) (base, queries []float32, err error) {
	if err := ds.validData(dir); err != nil {
		return nil, nil, err
	}
	if base, _, _, err = texmex.ReadFvecs(ds.path(dir, baseFile), 0); err != nil {
		return nil, nil, err
	}
	if queries, _, _, err = texmex.ReadFvecs(ds.path(dir, queryFile), 0); err != nil {
		return nil, nil, err
	}
	return base, queries, nil
}

// checkVecs checks that the TEXMEX file at path has n rows of dim values:
// first by its size, then by reading every row header.
func checkVecs(path string, n, dim int) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if want := int64(n) * int64(4+4*dim); fi.Size() != want {
		return fmt.Errorf("%s has %d bytes, want %d (%d rows of dimension %d)", path, fi.Size(), want, n, dim)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := texmex.NewReader(f, path)
	var row []int32 // the values are not looked at: int32 reads any file
	for {
		row, err = r.ReadInt32(row[:0])
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if r.Rows() != n || r.Dim() != dim {
		return fmt.Errorf("%s has %d rows of dimension %d, want %d of %d", path, r.Rows(), r.Dim(), n, dim)
	}
	return nil
}

// writeLines writes one line per element, each ending in "\n", atomically.
func writeLines(path string, lines []string) error {
	return fsutil.AtomicWrite(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<16)
		for _, l := range lines {
			bw.WriteString(l)
			bw.WriteByte('\n')
		}
		return bw.Flush()
	})
}

// checkLines checks that the text file at path has n lines, the last one
// ending in "\n".
func checkLines(path string, n int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if got := bytes.Count(b, []byte{'\n'}); got != n || (n > 0 && b[len(b)-1] != '\n') {
		return fmt.Errorf("%s has %d lines, want %d", path, got, n)
	}
	return nil
}

// fileSHA256 returns the hex sha256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verifySHA256 returns an error unless the file at path has the given sum.
func verifySHA256(path, want string) error {
	got, err := fileSHA256(path)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s: sha256 %s, want %s (as recorded in SOURCE.md)", path, got, want)
	}
	return nil
}
