package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragd/ragd/internal/texmex"
)

// fakeDataset is a small data set whose fetch counts its calls.
func fakeDataset(fetches *int) *dataset {
	rng := rand.New(rand.NewSource(5))
	gauss := func() float32 { return float32(rng.NormFloat64()) }
	src := &source{
		base: randomRows(rng, 500, 8, gauss), queries: randomRows(rng, 20, 8, gauss),
		baseWords: make([]string, 500), queryWords: make([]string, 20),
	}
	for i := range src.baseWords {
		src.baseWords[i] = "b" + string(rune('a'+i%26))
	}
	for i := range src.queryWords {
		src.queryWords[i] = "q" + string(rune('a'+i))
	}
	return &dataset{
		name: "fake", prefix: "fake-8-euclidean", dim: 8, nBase: 500, nQuery: 20, metric: euclidean, words: true,
		fetch: func(context.Context, *config, *slog.Logger, *timings) (*source, error) {
			*fetches++
			return src, nil
		},
		ref: reference{
			dir: "fake", prefix: "fake-ref", nQueries: 10,
			identical: map[string]string{queryWordsFile: "fake-ref.test.words.txt"},
		},
	}
}

func testConfig(t *testing.T) *config {
	out := t.TempDir()
	return &config{
		out: out, work: filepath.Join(out, ".work"), check: t.TempDir(), workers: 2,
		log: slog.New(slog.DiscardHandler),
	}
}

func TestPrepareIsIdempotent(t *testing.T) {
	cfg := testConfig(t)
	fetches := 0
	ds := fakeDataset(&fetches)
	ctx := context.Background()

	tm, err := prepare(ctx, cfg, ds)
	require.NoError(t, err)
	require.Equal(t, 1, fetches)
	require.Positive(t, tm.groundTruth)
	require.NoError(t, ds.validData(cfg.out))
	require.NoError(t, ds.validGT(cfg.out))
	gt, err := os.ReadFile(ds.path(cfg.out, gtIDsFile))
	require.NoError(t, err)

	// Valid outputs: nothing to do.
	tm, err = prepare(ctx, cfg, ds)
	require.NoError(t, err)
	require.Equal(t, 1, fetches)
	require.Zero(t, tm.groundTruth)

	// A torn ground-truth file is recomputed from the data files alone.
	require.NoError(t, os.Truncate(ds.path(cfg.out, gtDistFile), 100))
	tm, err = prepare(ctx, cfg, ds)
	require.NoError(t, err)
	require.Equal(t, 1, fetches)
	require.Positive(t, tm.groundTruth)
	again, err := os.ReadFile(ds.path(cfg.out, gtIDsFile))
	require.NoError(t, err)
	require.Equal(t, gt, again)

	// A bad data file, or -force, rebuilds everything.
	require.NoError(t, os.WriteFile(ds.path(cfg.out, queryWordsFile), []byte("one line\n"), 0o644))
	_, err = prepare(ctx, cfg, ds)
	require.NoError(t, err)
	require.Equal(t, 2, fetches)

	cfg.force = true
	_, err = prepare(ctx, cfg, ds)
	require.NoError(t, err)
	require.Equal(t, 3, fetches)
}

func TestPrepareFetchError(t *testing.T) {
	cfg := testConfig(t)
	fetches := 0
	ds := fakeDataset(&fetches)
	boom := errors.New("boom")
	ds.fetch = func(context.Context, *config, *slog.Logger, *timings) (*source, error) { return nil, boom }
	_, err := prepare(context.Background(), cfg, ds)
	require.ErrorIs(t, err, boom)
}

func TestCheckDataset(t *testing.T) {
	cfg := testConfig(t)
	fetches := 0
	ds := fakeDataset(&fetches)
	_, err := prepare(context.Background(), cfg, ds)
	require.NoError(t, err)

	// The reference: our first 10 queries, and our query words.
	ids, _, _, err := texmex.ReadIvecs(ds.path(cfg.out, gtIDsFile), 10)
	require.NoError(t, err)
	dists, _, _, err := texmex.ReadFvecs(ds.path(cfg.out, gtDistFile), 10)
	require.NoError(t, err)
	refDir := filepath.Join(cfg.check, "fake")
	require.NoError(t, os.Mkdir(refDir, 0o755))
	words, err := os.ReadFile(ds.path(cfg.out, queryWordsFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(refDir, "fake-ref.test.words.txt"), words, 0o644))
	writeRef := func(ids []int32) {
		require.NoError(t, texmex.WriteIvecs(filepath.Join(refDir, "fake-ref"+gtIDsFile), ids, gtK))
		require.NoError(t, texmex.WriteFvecs(filepath.Join(refDir, "fake-ref"+gtDistFile), dists, gtK))
	}
	writeRef(ids)

	rep, err := checkDataset(cfg, ds)
	require.NoError(t, err)
	require.False(t, rep.failed, rep.text)
	require.Contains(t, rep.text, "identical id lists: 10/10")
	require.Contains(t, rep.text, "fake-8-euclidean.query.words.txt: byte-identical")

	// The farthest row in place of the nearest is a real mismatch.
	bad := append([]int32(nil), ids...)
	bad[3*gtK] = ids[3*gtK+gtK-1]
	bad[3*gtK+gtK-1] = ids[3*gtK]
	writeRef(bad)
	rep, err = checkDataset(cfg, ds)
	require.NoError(t, err)
	require.True(t, rep.failed)
	require.Contains(t, rep.text, "FAIL: 1 queries differ from the reference beyond ties; first: query 3: position 0")

	// Files that must be identical, and SOURCE.md sums.
	ds.ref.sha256 = map[string]string{queryWordsFile: strings.Repeat("0", 64)}
	require.NoError(t, os.WriteFile(filepath.Join(refDir, "fake-ref.test.words.txt"), []byte("x\n"), 0o644))
	writeRef(ids)
	rep, err = checkDataset(cfg, ds)
	require.NoError(t, err)
	require.True(t, rep.failed)
	require.Contains(t, rep.text, "want 0000")
	require.Contains(t, rep.text, "differs from")

	// No reference: the check is skipped, not failed.
	ds.ref.sha256 = nil
	cfg.check = filepath.Join(t.TempDir(), "absent")
	rep, err = checkDataset(cfg, ds)
	require.NoError(t, err)
	require.False(t, rep.failed)
	require.Contains(t, rep.text, "reference check skipped")
}

func TestRunFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown data set", []string{"-out", t.TempDir(), "-dataset", "sift"}, `-dataset "sift": want mnist, glove or all`},
		{"extra argument", []string{"-out", t.TempDir(), "mnist"}, "unexpected arguments"},
		{"no workers", []string{"-out", t.TempDir(), "-workers", "0"}, "-workers 0"},
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	root, err := repoRoot()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "bench", "data"), cfg.out)
	require.Equal(t, filepath.Join(root, "..", "shared", "data", "ann"), cfg.check)
	require.Equal(t, filepath.Join(cfg.out, ".work"), cfg.work)
	require.Equal(t, "all", cfg.dataset)

	cfg, err = parseFlags([]string{"-check", "none", "-out", "x"}, io.Discard)
	require.NoError(t, err)
	require.Empty(t, cfg.check)
	require.Equal(t, "x", cfg.out)
}
