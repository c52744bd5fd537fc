package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ragd/ragd/index"
)

var transports = []string{"in-process", "gRPC", "REST"}

// report writes the results as markdown: one table per mode with the
// medians over rounds, then each round's QPS and ratios.
func (b *bench) report(w io.Writer) {
	fmt.Fprintf(w, "`%s`\n\n", strings.Join(append([]string{"serverbench"}, os.Args[1:]...), " "))
	fmt.Fprintf(w, "%d documents × %d-d (cosine, HNSW M 16, efConstruction 200, ef 64, 1 shard), ~500 characters of Zipfian text each; "+
		"k %d; a pool of %d queries (a document's vector, plus 3 of its words in hybrid mode); "+
		"%d round(s), each phase %s of warm-up then %s measured; GOMAXPROCS %d, %d CPUs, %s %s/%s, %s.\n\n",
		*docsN, *dim, *kFlag, *nQueries, *rounds, *warm, *dur, runtime.GOMAXPROCS(0), runtime.NumCPU(),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, time.Now().Format("2006-01-02"))
	for _, m := range b.modes {
		what := "query text + vector, relative fusion, 100 candidates per leg"
		if m == index.ModeVector {
			what = "vector only"
		}
		fmt.Fprintf(w, "### %s (%s)\n\n", m, what)
		fmt.Fprintln(w, "| transport | clients | QPS | mean ms | p50 ms | p99 ms | p99.9 ms | errors | search ms | cores | others | mean ÷ in-process | QPS ÷ in-process |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, c := range b.clients {
			for _, tr := range transports {
				ps := b.res[key{m, tr, c}]
				if len(ps) == 0 {
					continue
				}
				lat, qps := b.ratios(m, tr, c)
				errs := 0
				for _, p := range ps {
					errs += p.errors
				}
				fmt.Fprintf(w, "| %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %d | %.2f | %.2f | %.2f | %s | %s |\n", tr, c,
					med(ps, func(p phase) float64 { return p.qps }),
					med(ps, func(p phase) float64 { return ms(p.mean) }),
					med(ps, func(p phase) float64 { return ms(p.p50) }),
					med(ps, func(p phase) float64 { return ms(p.p99) }),
					med(ps, func(p phase) float64 { return ms(p.p999) }),
					errs,
					med(ps, func(p phase) float64 { return ms(p.took) }),
					med(ps, func(p phase) float64 { return p.cores }),
					med(ps, func(p phase) float64 { return p.others }),
					ratioCell(tr, median(lat)), ratioCell(tr, median(qps)))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "QPS and mean ÷ in-process, per round:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```")
	for _, m := range b.modes {
		for _, c := range b.clients {
			for _, tr := range transports {
				ps := b.res[key{m, tr, c}]
				var qs []string
				for _, p := range ps {
					qs = append(qs, fmt.Sprintf("%5.0f", p.qps))
				}
				line := fmt.Sprintf("%-6s %2d clients %-10s QPS %s", m, c, tr, strings.Join(qs, " "))
				if tr != "in-process" {
					lat, _ := b.ratios(m, tr, c)
					var rs []string
					for _, r := range lat {
						rs = append(rs, fmt.Sprintf("%.2f", r))
					}
					line += "   mean ÷ in-process " + strings.Join(rs, " ")
				}
				fmt.Fprintln(w, line)
			}
		}
	}
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	if len(b.notes) > 0 {
		fmt.Fprintln(w, "Same results (round 1):")
		fmt.Fprintln(w)
		for _, n := range b.notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Medians over rounds; errors summed. mean and percentiles are client-side latencies; search ms is the search time "+
		"the far side reported (the index's Took in process, the handler's took_ms over gRPC and REST); cores is the process's CPU time ÷ wall time while measuring (client and server: they share the process), others the CPU the rest of the machine used meanwhile (from /proc/stat; above a few hundredths, another program competed). The ratios are medians of each round's "+
		"ratio to that round's in-process phase: mean latency ÷ in-process mean, QPS ÷ in-process QPS.")
}

// ratios returns each round's mean latency and QPS of tr at c clients
// divided by the in-process figures of the same round.
func (b *bench) ratios(m index.Mode, tr string, c int) (lat, qps []float64) {
	base, ps := b.res[key{m, "in-process", c}], b.res[key{m, tr, c}]
	for i := range min(len(base), len(ps)) {
		if base[i].mean > 0 && base[i].qps > 0 {
			lat = append(lat, float64(ps[i].mean)/float64(base[i].mean))
			qps = append(qps, ps[i].qps/base[i].qps)
		}
	}
	return lat, qps
}

func ratioCell(tr string, r float64) string {
	if tr == "in-process" {
		return "1"
	}
	return fmt.Sprintf("%.2f", r)
}

func med(ps []phase, f func(phase) float64) float64 {
	xs := make([]float64, len(ps))
	for i, p := range ps {
		xs[i] = f(p)
	}
	return median(xs)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
