package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/ragd/ragd/hnsw"
	"github.com/ragd/ragd/internal/texmex"
	"github.com/ragd/ragd/simd"
	"github.com/spf13/cobra"
)

// annOptions are the flags of `ragctl bench ann`.
type annOptions struct {
	base, query, gt string
	metric          string
	m, efc          int
	efs             []int
	k               int
	threads         int
	buildThreads    int
	queries         int
	json            bool
	markdown        bool
	results         string
	plot            string
	title           string
	cpuProfile      string
}

// annRow is one line of the report: the JSON contract of the benchmark.
type annRow struct {
	Engine         string  `json:"engine"`
	Ef             int     `json:"ef"`
	Recall         float64 `json:"recall"`
	QPS            float64 `json:"qps"`
	P50us          float64 `json:"p50_us"`
	P99us          float64 `json:"p99_us"`
	BuildSeconds   float64 `json:"build_seconds"`
	BytesPerVector float64 `json:"bytes_per_vector"`
	N              int     `json:"n"`
	Dim            int     `json:"dim"`
	Queries        int     `json:"queries"`
	Threads        int     `json:"threads"`
	BuildThreads   int     `json:"build_threads"`
	Kernels        string  `json:"kernels"`
}

func newBenchANNCmd() *cobra.Command {
	var o annOptions
	var efList string
	cmd := &cobra.Command{
		Use:   "ann",
		Short: "Build an HNSW graph over a TEXMEX data set and measure recall, QPS and latency per ef",
		Long: `Builds the graph over --base, then for each ef runs every query of --query one at a time
on --threads goroutines and reports recall@k against --gt, QPS, p50/p99 latency, build
seconds and resident bytes per vector. The data sets of the published runs are made by
'make bench-data'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			efs, err := parseIntList(efList)
			if err != nil {
				return fmt.Errorf("--ef: %w", err)
			}
			o.efs = efs
			return runANN(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.base, "base", "", "base vectors (.fvecs)")
	f.StringVar(&o.query, "query", "", "query vectors (.fvecs)")
	f.StringVar(&o.gt, "gt", "", "ground-truth neighbour ids (.ivecs), nearest first")
	f.StringVar(&o.metric, "metric", "l2", "distance: l2, cosine or dot")
	f.IntVar(&o.m, "m", 16, "HNSW M (level 0 keeps 2·M links)")
	f.IntVar(&o.efc, "ef-construction", 200, "beam width while building")
	f.StringVar(&efList, "ef", "10,20,40,80,160", "comma-separated beam widths to measure")
	f.IntVar(&o.k, "k", 10, "neighbours per query (recall@k)")
	f.IntVar(&o.threads, "threads", 1, "goroutines running queries")
	f.IntVar(&o.buildThreads, "build-threads", 0, "goroutines building the graph (0 = all cores)")
	f.IntVar(&o.queries, "queries", 0, "use only the first N queries (0 = all)")
	f.BoolVar(&o.json, "json", false, "print one JSON object per ef instead of a table")
	f.BoolVar(&o.markdown, "markdown", false, "print the table as GitHub Markdown")
	f.StringVar(&o.results, "results", "", "write the ids returned at the last ef to this .ivecs file")
	f.StringVar(&o.plot, "plot", "", "write a PNG of recall against QPS to this file")
	f.StringVar(&o.title, "title", "", "title of the plot (default: the base file name)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed searches to this file")
	for _, name := range []string{"base", "query", "gt"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func parseIntList(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		v, err := strconv.Atoi(p)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", p)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("no values")
	}
	return out, nil
}

func runANN(stdout, stderr io.Writer, o annOptions) error {
	metric, err := hnsw.ParseMetric(o.metric)
	if err != nil {
		return err
	}
	if o.k < 1 || o.threads < 1 || o.buildThreads < 0 || o.queries < 0 {
		return errors.New("--k and --threads must be positive, --build-threads and --queries not negative")
	}
	if o.buildThreads == 0 {
		o.buildThreads = runtime.GOMAXPROCS(0)
	}
	in, err := readANNFiles(o.base, o.query, o.gt, o.queries, o.k)
	if err != nil {
		return err
	}
	base, dim, n, queries, nq, gt, gdim := in.base, in.dim, in.n, in.queries, in.nq, in.gt, in.gdim
	if n > int(^uint32(0)) {
		return fmt.Errorf("%d base vectors exceed the 2^32 keys of one graph", n)
	}

	cfg := hnsw.Config{Dim: dim, Metric: metric, M: o.m, EfConstruction: o.efc, Seed: 1, Capacity: n}
	if err := cfg.Validate(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "building: %d × %d, %s, M=%d, efC=%d, %d threads, kernels %s\n",
		n, dim, metric, o.m, o.efc, o.buildThreads, simd.Impl())

	before := residentBytes()
	start := time.Now()
	g, err := buildGraph(cfg, base, dim, n, o.buildThreads)
	if err != nil {
		return err
	}
	buildSeconds := time.Since(start).Seconds()
	after := residentBytes()
	bytesPerVector := float64(after-before) / float64(n)
	fmt.Fprintf(stderr, "built in %.1f s; %.0f resident bytes per vector\n", buildSeconds, bytesPerVector)

	// One untimed pass, so that page faults and cold caches do not count.
	if _, err := runQueries(g, queries, dim, nq, o.k, o.efs[0], o.threads); err != nil {
		return err
	}
	var rows []annRow
	var lastIDs []int32
	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			pf.Close()
		}()
	}
	for _, ef := range o.efs {
		r, err := runQueries(g, queries, dim, nq, o.k, ef, o.threads)
		if err != nil {
			return err
		}
		row := annRow{
			Engine: "ragd", Ef: ef, Recall: recallAt(r.ids, gt, gdim, o.k, nq),
			QPS: float64(nq) / r.wall.Seconds(), P50us: percentile(r.lat, 0.50), P99us: percentile(r.lat, 0.99),
			BuildSeconds: buildSeconds, BytesPerVector: bytesPerVector, N: n, Dim: dim, Queries: nq,
			Threads: o.threads, BuildThreads: o.buildThreads, Kernels: simd.Impl(),
		}
		rows = append(rows, row)
		lastIDs = r.ids
		if o.json {
			b, _ := json.Marshal(row)
			fmt.Fprintln(stdout, string(b))
		}
	}
	switch {
	case o.markdown:
		printANNMarkdown(stdout, rows)
	case !o.json:
		printANNTable(stdout, rows)
	}
	if o.results != "" {
		if err := texmex.WriteIvecs(o.results, lastIDs, o.k); err != nil {
			return err
		}
	}
	if o.plot != "" {
		title := o.title
		if title == "" {
			title = o.base
		}
		if err := plotRecallQPS(o.plot, title, map[string][]annRow{"ragd": rows}); err != nil {
			return err
		}
	}
	runtime.KeepAlive(base)
	return nil
}

func buildGraph(cfg hnsw.Config, base []float32, dim, n, threads int) (*hnsw.Graph, error) {
	g, err := hnsw.New(cfg)
	if err != nil {
		return nil, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, threads)
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := g.Add(uint32(i), base[i*dim:(i+1)*dim]); err != nil {
					errs[t] = fmt.Errorf("add base vector %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return g, errors.Join(errs...)
}

type queryRun struct {
	ids  []int32   // k per query, -1 where fewer came back
	lat  []float64 // microseconds per query
	wall time.Duration
}

func runQueries(g *hnsw.Graph, queries []float32, dim, nq, k, ef, threads int) (queryRun, error) {
	r := queryRun{ids: make([]int32, nq*k), lat: make([]float64, nq)}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, threads)
	start := time.Now()
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]hnsw.Result, 0, k)
			for {
				i := int(next.Add(1) - 1)
				if i >= nq {
					return
				}
				t0 := time.Now()
				res, err := g.SearchAppend(dst[:0], queries[i*dim:(i+1)*dim], k, ef, nil)
				r.lat[i] = float64(time.Since(t0).Nanoseconds()) / 1e3
				if err != nil {
					errs[t] = fmt.Errorf("query %d: %w", i, err)
					return
				}
				row := r.ids[i*k : (i+1)*k]
				for j := range row {
					row[j] = -1
					if j < len(res) {
						row[j] = int32(res[j].Key)
					}
				}
			}
		}()
	}
	wg.Wait()
	r.wall = time.Since(start)
	return r, errors.Join(errs...)
}

// recallAt is the mean over queries of |returned ∩ first k of gt| / k.
func recallAt(ids, gt []int32, gdim, k, nq int) float64 {
	var sum float64
	for i := range nq {
		want := gt[i*gdim : i*gdim+k]
		hit := 0
		for _, id := range ids[i*k : (i+1)*k] {
			if id >= 0 && slices.Contains(want, id) {
				hit++
			}
		}
		sum += float64(hit) / float64(k)
	}
	return sum / float64(nq)
}

func percentile(lat []float64, p float64) float64 {
	s := slices.Clone(lat)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// residentBytes is the process's resident set after a full GC, from
// /proc/self/statm; where that is missing, the Go heap in use.
func residentBytes() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return pages * int64(os.Getpagesize())
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

func printANNTable(w io.Writer, rows []annRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ef\trecall@k\tQPS\tp50 µs\tp99 µs\tbuild s\tbytes/vector\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%.4f\t%.0f\t%.1f\t%.1f\t%.1f\t%.0f\t\n",
			r.Ef, r.Recall, r.QPS, r.P50us, r.P99us, r.BuildSeconds, r.BytesPerVector)
	}
	tw.Flush()
}

func printANNMarkdown(w io.Writer, rows []annRow) {
	fmt.Fprintln(w, "| ef | recall@k | QPS | p50 µs | p99 µs | build s | bytes/vector |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %.4f | %.0f | %.1f | %.1f | %.1f | %.0f |\n",
			r.Ef, r.Recall, r.QPS, r.P50us, r.P99us, r.BuildSeconds, r.BytesPerVector)
	}
}

// annFiles are the inputs of an ANN benchmark: base vectors, queries and
// their ground truth (.fvecs/.ivecs).
type annFiles struct {
	base, queries []float32
	gt            []int32
	dim, n, nq    int
	gdim          int // neighbours per ground-truth row
}

// readANNFiles reads the base vectors, up to maxQueries queries (0: all) and
// their ground truth, and checks that they fit together and hold k
// neighbours per query.
func readANNFiles(basePath, queryPath, gtPath string, maxQueries, k int) (annFiles, error) {
	var f annFiles
	var err error
	if f.base, f.dim, f.n, err = texmex.ReadFvecs(basePath, 0); err != nil {
		return f, err
	}
	var qdim, ngt int
	if f.queries, qdim, f.nq, err = texmex.ReadFvecs(queryPath, maxQueries); err != nil {
		return f, err
	}
	if f.gt, f.gdim, ngt, err = texmex.ReadIvecs(gtPath, maxQueries); err != nil {
		return f, err
	}
	switch {
	case qdim != f.dim:
		return f, fmt.Errorf("queries have dimension %d, base vectors %d", qdim, f.dim)
	case ngt < f.nq:
		return f, fmt.Errorf("ground truth has %d rows for %d queries", ngt, f.nq)
	case f.gdim < k:
		return f, fmt.Errorf("ground truth has %d neighbours per query, fewer than k = %d", f.gdim, k)
	}
	return f, nil
}
