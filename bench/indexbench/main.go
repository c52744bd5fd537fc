// Command indexbench measures the index package: upsert throughput and
// latency, hybrid query throughput and latency, and shard open time from a
// snapshot against a rebuild. Every figure comes with the parameters that
// produced it; run it on a quiet machine and compare medians.
//
//	go run ./bench/indexbench -bench upsert   [-docs 100000] [-dim 384] [-shards 1]
//	go run ./bench/indexbench -bench query    [-docs 100000] [-dim 384] [-shards 1,4]
//	go run ./bench/indexbench -bench open     [-docs 1000000] [-dim 128]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ragd/ragd/bench/internal/synth"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/index/filter"
)

var (
	benchName = flag.String("bench", "upsert", "upsert, query or open")
	docsN     = flag.Int("docs", 100000, "documents")
	dim       = flag.Int("dim", 384, "vector dimension")
	shardsF   = flag.String("shards", "1,4", "shard counts (comma-separated)")
	batch     = flag.Int("batch", 256, "documents per upsert")
	clients   = flag.Int("clients", 8, "concurrent single-document writers (upsert) or searchers (query, 1 = one at a time)")
	seconds   = flag.Duration("for", 10*time.Second, "how long each latency phase runs")
	dirF      = flag.String("dir", "", "work directory (default: a temporary one, removed at the end)")
	verbose   = flag.Bool("v", false, "log the index's lifecycle events")
	cpuProf   = flag.String("cpuprofile", "", "write a CPU profile here")
	noRebuild = flag.Bool("no-rebuild", false, "open: time the open from the snapshot only")
)

func main() {
	flag.Parse()
	dir := *dirF
	if dir == "" {
		d, err := os.MkdirTemp("", "ragd-indexbench-")
		check(err)
		defer os.RemoveAll(d)
		dir = d
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	var err error
	switch *benchName {
	case "upsert":
		err = benchUpsert(dir)
	case "query":
		err = benchQuery(dir)
	case "open":
		err = benchOpen(dir)
	default:
		err = fmt.Errorf("-bench %q: want upsert, query or open", *benchName)
	}
	check(err)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "indexbench:", err)
		os.Exit(1)
	}
}

func cfg() index.Config {
	c := index.Config{}
	if *verbose {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return c
}

func shardCounts() []int {
	var out []int
	for _, s := range strings.Split(*shardsF, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		check(err)
		out = append(out, n)
	}
	return out
}

// load upserts docs [0, n) in batches and returns the wall time.
func load(c *index.Collection, n, dim int) (time.Duration, error) {
	ctx := context.Background()
	start := time.Now()
	docs := make([]index.Document, 0, *batch)
	for i := range n {
		docs = append(docs, synth.Document(i, dim))
		if len(docs) == *batch || i == n-1 {
			if _, err := c.Upsert(ctx, docs); err != nil {
				return 0, err
			}
			docs = docs[:0]
		}
	}
	return time.Since(start), nil
}

func benchUpsert(dir string) error {
	ctx := context.Background()
	for _, shards := range shardCounts() {
		ix, err := index.Open(filepath.Join(dir, fmt.Sprintf("up-%d", shards)), cfg())
		if err != nil {
			return err
		}
		c, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "bench", Dimension: *dim, Shards: shards})
		if err != nil {
			return err
		}
		// Generation is timed apart so that only the index counts.
		t0 := time.Now()
		for i := range min(*docsN, 2000) {
			synth.Document(i, *dim)
		}
		genPerDoc := time.Since(t0) / time.Duration(min(*docsN, 2000))
		took, err := load(c, *docsN, *dim)
		if err != nil {
			return err
		}
		net := took - genPerDoc*time.Duration(*docsN)
		fmt.Printf("upsert: %d docs × %d-d + ~500 chars, batches of %d, %d shard(s): %.1f s, %.0f docs/s (generation excluded)\n",
			*docsN, *dim, *batch, shards, net.Seconds(), float64(*docsN)/net.Seconds())

		// Single-document upserts from concurrent clients.
		lat := make([][]time.Duration, *clients)
		var wg sync.WaitGroup
		stop := time.Now().Add(*seconds)
		for w := range *clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; time.Now().Before(stop); i++ {
					d := synth.Document(*docsN+w*1_000_000+i, *dim)
					s := time.Now()
					if _, err := c.Upsert(ctx, []index.Document{d}); err != nil {
						panic(err)
					}
					lat[w] = append(lat[w], time.Since(s))
				}
			}()
		}
		wg.Wait()
		all := slices.Concat(lat...)
		p50, p99 := pct(all, 0.5), pct(all, 0.99)
		fmt.Printf("single-document upserts, %d concurrent clients, %d shard(s): %.0f docs/s, p50 %.2f ms, p99 %.2f ms\n",
			*clients, shards, float64(len(all))/seconds.Seconds(), ms(p50), ms(p99))
		if err := ix.Close(); err != nil {
			return err
		}
	}
	return nil
}

func benchQuery(dir string) error {
	ctx := context.Background()
	f, err := filter.Parse([]byte(`{"must":[{"key":"bucket","range":{"lt":10}}]}`))
	if err != nil {
		return err
	}
	for _, shards := range shardCounts() {
		ix, err := index.Open(filepath.Join(dir, fmt.Sprintf("q-%d", shards)), cfg())
		if err != nil {
			return err
		}
		c, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "bench", Dimension: *dim, Shards: shards})
		if err != nil {
			return err
		}
		took, err := load(c, *docsN, *dim)
		if err != nil {
			return err
		}
		fmt.Printf("loaded %d docs into %d shard(s) in %.1f s\n", *docsN, shards, took.Seconds())
		for _, withFilter := range []bool{false, true} {
			var fl *filter.Filter
			name := "no filter"
			if withFilter {
				fl, name = f, "filter bucket < 10 (10 %)"
			}
			rng := rand.New(rand.NewPCG(5, 5))
			var lat []time.Duration
			stop := time.Now().Add(*seconds)
			for time.Now().Before(stop) {
				q := synth.Document(rng.IntN(*docsN), *dim)
				words := strings.Fields(q.Text)
				text := words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
				s := time.Now()
				if _, err := c.Search(ctx, index.SearchRequest{Vector: q.Vector, Text: text, K: 10, Filter: fl}); err != nil {
					return err
				}
				lat = append(lat, time.Since(s))
			}
			fmt.Printf("hybrid search, %d docs × %d-d, %d shard(s), %s, 1 client: %.0f QPS, p50 %.2f ms, p99 %.2f ms\n",
				*docsN, *dim, shards, name, float64(len(lat))/seconds.Seconds(), ms(pct(lat, 0.5)), ms(pct(lat, 0.99)))
		}
		if err := ix.Close(); err != nil {
			return err
		}
	}
	return nil
}

func benchOpen(dir string) error {
	ctx := context.Background()
	ix, err := index.Open(dir, cfg())
	if err != nil {
		return err
	}
	// With -dir naming a folder a previous run kept, the loading is skipped.
	if _, err := ix.Collection("big"); err != nil {
		c, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "big", Dimension: *dim, Shards: 1})
		if err != nil {
			return err
		}
		took, err := load(c, *docsN, *dim)
		if err != nil {
			return err
		}
		fmt.Printf("loaded %d docs × %d-d into 1 shard in %.1f s\n", *docsN, *dim, took.Seconds())
	}
	t0 := time.Now()
	if err := ix.Close(); err != nil {
		return err
	}
	fmt.Printf("close (graph snapshot written): %.1f s\n", time.Since(t0).Seconds())

	t0 = time.Now()
	ix, err = index.Open(dir, cfg())
	if err != nil {
		return err
	}
	fromSnapshot := time.Since(t0)
	check(ix.Close())
	if *noRebuild {
		fmt.Printf("open 1 shard of %d × %d-d from snapshot: %.2f s\n", *docsN, *dim, fromSnapshot.Seconds())
		return nil
	}
	graph := filepath.Join(dir, "collections", "big", "shard-000", "graph.hnsw")
	if err := os.Remove(graph); err != nil {
		return err
	}
	t0 = time.Now()
	ix, err = index.Open(dir, cfg())
	if err != nil {
		return err
	}
	rebuilt := time.Since(t0)
	check(ix.Close())
	fmt.Printf("open 1 shard of %d × %d-d: from snapshot %.1f s, rebuilding the graph from the store %.1f s (%.1f×)\n",
		*docsN, *dim, fromSnapshot.Seconds(), rebuilt.Seconds(), rebuilt.Seconds()/fromSnapshot.Seconds())
	return nil
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
