// Command prepare builds the benchmark data sets of bench/: it fetches the
// source data, verifies it against the sha256 sums recorded in
// shared/data/ann/*/SOURCE.md, converts it to TEXMEX files, computes exact
// top-100 ground truth by brute force and checks that ground truth against
// the reference copy in shared/data/ann.
//
//	go run ./bench/prepare [-out bench/data] [-dataset mnist|glove|all]
//	                       [-check ../shared/data/ann] [-force] [-workers N]
//
// It writes, for each data set, <prefix>.base.fvecs, .query.fvecs, .gt.ivecs
// (the ids of the 100 nearest base rows per query, nearest first, ties by
// lower id) and .gt-dist.fvecs (their distances); GloVe also gets
// .base.words.txt and .query.words.txt. A data set whose files already exist
// and are well formed is not rebuilt unless -force is given; the check runs
// every time. Progress goes to stderr, the summary to stdout, and the exit
// status is non-zero on any error or a real ground-truth mismatch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// config is what the flags set.
type config struct {
	out     string // output folder
	work    string // scratch folder for downloads (out/.work)
	check   string // reference folder; "" skips the check
	dataset string // mnist, glove or all
	force   bool   // rebuild even if valid outputs exist
	workers int    // goroutines for the ground truth
	log     *slog.Logger
}

// timings records how long each phase of one data set took; a zero value
// means the phase did not run.
type timings struct {
	download, convert, groundTruth, check time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "prepare: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.work, 0o755); err != nil {
		return err
	}

	var sets []*dataset
	switch cfg.dataset {
	case "mnist":
		sets = []*dataset{mnistDataset()}
	case "glove":
		sets = []*dataset{gloveDataset()}
	case "all":
		sets = []*dataset{mnistDataset(), gloveDataset()}
	default:
		return fmt.Errorf("-dataset %q: want mnist, glove or all", cfg.dataset)
	}

	var failed []error
	for _, ds := range sets {
		t, err := prepare(ctx, cfg, ds)
		if err != nil {
			return fmt.Errorf("%s: %w", ds.name, err)
		}
		start := time.Now()
		report, err := checkDataset(cfg, ds)
		t.check = time.Since(start)
		if err != nil {
			return fmt.Errorf("%s: check: %w", ds.name, err)
		}
		fmt.Fprintf(stdout, "%s (%s): download %s, convert %s, ground truth %s, check %s\n",
			ds.name, ds.prefix, fmtDur(t.download), fmtDur(t.convert), fmtDur(t.groundTruth), fmtDur(t.check))
		fmt.Fprint(stdout, report.text)
		if report.failed {
			failed = append(failed, fmt.Errorf("%s: check failed", ds.name))
		}
	}
	return errors.Join(failed...)
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("prepare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	fs.StringVar(&cfg.out, "out", "", "output folder (default bench/data under the repository root)")
	fs.StringVar(&cfg.check, "check", "", `reference folder to check against (default ../shared/data/ann from the repository root; "none" skips)`)
	fs.StringVar(&cfg.dataset, "dataset", "all", "data set to build: mnist, glove or all")
	fs.BoolVar(&cfg.force, "force", false, "rebuild even if the outputs exist and are valid")
	fs.IntVar(&cfg.workers, "workers", runtime.NumCPU(), "goroutines computing ground truth")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.workers < 1 {
		return nil, fmt.Errorf("-workers %d: want at least 1", cfg.workers)
	}

	// Defaults are relative to the repository root, so that the command
	// works from any folder inside it; explicit flags are relative to the
	// working directory, as usual.
	if cfg.out == "" || cfg.check == "" {
		root, err := repoRoot()
		if err != nil {
			return nil, fmt.Errorf("find the repository root for the default -out and -check (or set both): %w", err)
		}
		if cfg.out == "" {
			cfg.out = filepath.Join(root, "bench", "data")
		}
		if cfg.check == "" {
			cfg.check = filepath.Join(root, "..", "shared", "data", "ann")
		}
	}
	if cfg.check == "none" {
		cfg.check = ""
	}
	cfg.work = filepath.Join(cfg.out, ".work")
	cfg.log = slog.New(slog.NewTextHandler(stderr, nil))
	return cfg, nil
}

// repoRoot returns the nearest folder at or above the working directory that
// holds a go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// prepare makes sure the data files and the ground truth of ds exist and are
// valid, building whatever is missing.
func prepare(ctx context.Context, cfg *config, ds *dataset) (timings, error) {
	var t timings
	log := cfg.log.With("dataset", ds.name)
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return t, err
	}

	var base, queries []float32
	if err := ds.validData(cfg.out); err == nil && !cfg.force {
		log.Info("data files present and valid; skipping download and conversion (-force rebuilds)")
	} else {
		if !cfg.force && !errors.Is(err, os.ErrNotExist) {
			log.Warn("rebuilding invalid data files", "err", err)
		}
		src, err := ds.fetch(ctx, cfg, log, &t)
		if err != nil {
			return t, err
		}
		// New data invalidates any ground truth computed before; remove it
		// first, so that no crash can leave it next to the new data.
		for _, p := range []string{ds.path(cfg.out, gtIDsFile), ds.path(cfg.out, gtDistFile)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return t, err
			}
		}
		start := time.Now()
		if err := ds.write(cfg.out, src); err != nil {
			return t, err
		}
		t.convert += time.Since(start)
		base, queries = src.base, src.queries
	}

	if err := ds.validGT(cfg.out); err == nil && !cfg.force {
		log.Info("ground truth present and valid; skipping (-force recomputes)")
		return t, nil
	}
	if base == nil {
		var err error
		if base, queries, err = ds.readData(cfg.out); err != nil {
			return t, err
		}
	}
	start := time.Now()
	ids, dists, err := computeGT(ctx, cfg, ds, base, queries, log)
	if err != nil {
		return t, err
	}
	if err := ds.writeGT(cfg.out, ids, dists); err != nil {
		return t, err
	}
	t.groundTruth = time.Since(start)
	return t, nil
}

// computeGT runs the brute-force ground truth of ds, with progress logged
// every ten seconds.
func computeGT(ctx context.Context, cfg *config, ds *dataset, base, queries []float32, log *slog.Logger) ([]int32, []float32, error) {
	if ds.metric == angular {
		// As gtgen does: rank by 1 − dot on copies normalised in float64.
		base, queries = normalized(base, ds.dim), normalized(queries, ds.dim)
	}
	nq := len(queries) / ds.dim
	log.Info("computing ground truth", "metric", ds.metric.String(), "queries", nq, "base", len(base)/ds.dim, "dim", ds.dim, "workers", cfg.workers)
	start := time.Now()
	res, err := groundTruth(ctx, gtInput{
		base: base, queries: queries, dim: ds.dim, k: gtK, metric: ds.metric, workers: cfg.workers,
		progress: func(done int) {
			el := time.Since(start)
			eta := time.Duration(float64(el) / float64(max(done, 1)) * float64(nq-done))
			log.Info("ground truth", "done", done, "of", nq, "elapsed", fmtDur(el), "eta", fmtDur(eta))
		},
	})
	if err != nil {
		return nil, nil, err
	}
	log.Info("ground truth done", "dur", fmtDur(time.Since(start)), "rescans", res.rescans)
	return res.ids, res.dists, nil
}

func fmtDur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
