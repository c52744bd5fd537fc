package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/ragd/ragd/flat"
	"github.com/ragd/ragd/flat/cuda"
	"github.com/ragd/ragd/simd"
	"github.com/spf13/cobra"
)

// exactOptions are the flags of `ragctl bench exact`.
type exactOptions struct {
	base, query, gt string
	metric          string
	k               int
	batch           int
	threads         int
	queries         int
	gpu             bool
	gpuLib          string
	gpuDevice       int
	fp16            bool
	json            bool
	cpuProfile      string
}

// exactRow is the report: the JSON contract of the benchmark.
type exactRow struct {
	QPS     float64 `json:"qps"`
	Recall  float64 `json:"recall"`
	GFLOPS  float64 `json:"gflops"`
	Batch   int     `json:"batch"`
	Threads int     `json:"threads"`
	Engine  string  `json:"engine"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the process's CPU time (user + system) over the timed
	// searches: on a shared machine, wall time minus what other jobs took.
	CPUSeconds float64 `json:"cpu_seconds"`
	N          int     `json:"n"`
	Dim        int     `json:"dim"`
	Queries    int     `json:"queries"`
	K          int     `json:"k"`
	Metric     string  `json:"metric"`
}

// exactSearcher is what the benchmark needs of an engine: flat.Index on
// the CPU, cuda.Index on a GPU.
type exactSearcher interface {
	Add(vectors []float32) (uint32, error)
	Search(ctx context.Context, queries []float32, k int, allow flat.AllowList, resp *flat.Response) error
}

func newBenchExactCmd() *cobra.Command {
	var o exactOptions
	cmd := &cobra.Command{
		Use:   "exact",
		Short: "Exact (brute-force) batch search over a TEXMEX data set: QPS, recall and GFLOP/s",
		Long: `Adds --base to an exact index (package flat: the CPU engine, or with --gpu the CUDA
library when it loads), then searches the queries of --query in batches of --batch on
--threads cores and reports queries per second, recall@k against --gt and the GFLOP/s of
the distance computation (2·queries·base·dim flops). One untimed batch first warms the
caches and page tables. A missing GPU library or device gives one log line and the CPU
engine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExact(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.base, "base", "", "base vectors (.fvecs)")
	f.StringVar(&o.query, "query", "", "query vectors (.fvecs)")
	f.StringVar(&o.gt, "gt", "", "ground-truth neighbour ids (.ivecs), nearest first")
	f.StringVar(&o.metric, "metric", "l2", "distance: l2, cosine or dot")
	f.IntVar(&o.k, "k", 10, "neighbours per query (recall@k)")
	f.IntVar(&o.batch, "batch", 0, "queries per search call (0 = all at once)")
	f.IntVar(&o.threads, "threads", 1, "cores one search runs on")
	f.IntVar(&o.queries, "queries", 0, "use only the first N queries (0 = all)")
	f.BoolVar(&o.gpu, "gpu", false, "search on a GPU through the CUDA library (binaries built with -tags gpu)")
	f.StringVar(&o.gpuLib, "gpu-lib", "", "path of the CUDA library (default $"+cuda.LibraryEnv+" or "+cuda.DefaultLibrary+")")
	f.IntVar(&o.gpuDevice, "gpu-device", 0, "CUDA device number")
	f.BoolVar(&o.fp16, "fp16", false, "with --gpu: keep the vectors in fp16 (fp32 accumulation)")
	f.BoolVar(&o.json, "json", false, "print one JSON object instead of a line of text")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed searches to this file")
	for _, name := range []string{"base", "query", "gt"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runExact(ctx context.Context, stdout, stderr io.Writer, o exactOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	metric, err := flat.ParseMetric(o.metric)
	if err != nil {
		return err
	}
	if o.k < 1 || o.threads < 1 || o.batch < 0 || o.queries < 0 {
		return errors.New("--k and --threads must be positive, --batch and --queries not negative")
	}
	in, err := readANNFiles(o.base, o.query, o.gt, o.queries, o.k)
	if err != nil {
		return err
	}
	base, dim, n, queries, nq, gt, gdim := in.base, in.dim, in.n, in.queries, in.nq, in.gt, in.gdim
	batch := o.batch
	if batch == 0 || batch > nq {
		batch = nq
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	s, engine, closeFn, err := openExact(o, dim, metric, n, logger)
	if err != nil {
		return err
	}
	defer closeFn()
	if _, err := s.Add(base); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "exact: %d × %d base, %d queries in batches of %d, %s, %d threads, engine %s\n",
		n, dim, nq, batch, metric, o.threads, engine)

	var resp flat.Response
	// Warm-up: one batch of a few queries reads every base vector once.
	if err := s.Search(ctx, queries[:min(batch, 16)*dim], o.k, nil, &resp); err != nil {
		return err
	}
	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			pf.Close()
		}()
	}
	ids := make([]int32, nq*o.k)
	cpu0 := processCPU()
	start := time.Now()
	for b0 := 0; b0 < nq; b0 += batch {
		b1 := min(nq, b0+batch)
		if err := s.Search(ctx, queries[b0*dim:b1*dim], o.k, nil, &resp); err != nil {
			return err
		}
		for i := range b1 - b0 {
			row := ids[(b0+i)*o.k : (b0+i+1)*o.k]
			hits := resp.Hits(i)
			for j := range row {
				row[j] = -1
				if j < len(hits) {
					row[j] = int32(hits[j].ID)
				}
			}
		}
	}
	secs := time.Since(start).Seconds()
	cpuSecs := processCPU() - cpu0
	row := exactRow{
		QPS: float64(nq) / secs, Recall: recallAt(ids, gt, gdim, o.k, nq),
		GFLOPS: 2 * float64(nq) * float64(n) * float64(dim) / secs / 1e9,
		Batch:  batch, Threads: o.threads, Engine: engine, Seconds: secs, CPUSeconds: cpuSecs,
		N: n, Dim: dim, Queries: nq, K: o.k, Metric: metric.String(),
	}
	if o.json {
		b, _ := json.Marshal(row)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "%s: %.0f queries/s, recall@%d %.4f, %.1f GFLOP/s (%d queries in %.2f s, %.2f s of CPU, batch %d, %d threads)\n",
		row.Engine, row.QPS, o.k, row.Recall, row.GFLOPS, nq, secs, cpuSecs, batch, o.threads)
	return nil
}

// processCPU returns the CPU time the process has used, in seconds (0
// where the OS does not say).
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// openExact returns the engine: the GPU index when --gpu is set and the
// library and device are there, the CPU index otherwise.
func openExact(o exactOptions, dim int, metric flat.Metric, n int, logger *slog.Logger) (exactSearcher, string, func(), error) {
	if o.gpu {
		g, err := cuda.NewIndex(cuda.Config{Library: o.gpuLib, Device: o.gpuDevice, Dim: dim, Metric: metric, FP16: o.fp16, Capacity: n})
		switch {
		case err == nil:
			name := "ragd-gpu-fp32"
			if o.fp16 {
				name = "ragd-gpu-fp16"
			}
			return g, name, func() { g.Close() }, nil
		case errors.Is(err, cuda.ErrUnavailable):
			logger.Warn("GPU engine unavailable, using the CPU engine", "err", err)
		default:
			return nil, "", nil, err
		}
	}
	x, err := flat.NewIndex(flat.IndexConfig{Dim: dim, Metric: metric, Capacity: n, Engine: flat.Config{Threads: o.threads}})
	if err != nil {
		return nil, "", nil, err
	}
	return x, "ragd-cpu-" + simd.Impl(), func() {}, nil
}
