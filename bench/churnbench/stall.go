package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ragd/ragd/index"
)

// logger returns the index's logger: it feeds ev, and prints with -v.
func logger(ev *events) *slog.Logger {
	var next slog.Handler
	if *verbose {
		next = slog.NewTextHandler(os.Stderr, nil)
	}
	return slog.New(capture{e: ev, next: next})
}

// load upserts docs in batches and returns the wall time.
func load(c *index.Collection, docs func(i int) index.Document, n int) (time.Duration, error) {
	start := time.Now()
	batch := make([]index.Document, 0, *buildB)
	for i := range n {
		batch = append(batch, docs(i))
		if len(batch) == *buildB || i == n-1 {
			if _, err := c.Upsert(context.Background(), batch); err != nil {
				return 0, err
			}
			batch = batch[:0]
		}
	}
	return time.Since(start), nil
}

// runStall builds a synthetic collection, then runs single-document upserts
// from -probe clients for -for while the index snapshots its graph every
// -snapshot, and reports their latency overall and during the snapshots.
// It uses only the index API that predates the churn work, so that it runs
// against older trees for a before/after comparison.
func runStall(dir string) error {
	ctx := context.Background()
	ev := &events{}
	ix, err := index.Open(filepath.Join(dir, "stall"), index.Config{Logger: logger(ev), SnapshotInterval: *snapEvery})
	if err != nil {
		return err
	}
	defer ix.Close()
	c, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "stall", Dimension: *dim, Shards: *shardsF})
	if err != nil {
		return err
	}
	cs := newSynth(0, *dim, 0)
	doc := func(i int) index.Document {
		return index.Document{ID: fmt.Sprintf("doc-%d", i), Text: cs.text(i), Vector: unitVector(uint64(i), 0, *dim)}
	}
	took, err := load(c, doc, *docsN)
	if err != nil {
		return err
	}
	fmt.Printf("built %d × %d-d in %.1f s\n", *docsN, *dim, took.Seconds())
	start := time.Now()
	stop := start.Add(*stallFor)
	var mu sync.Mutex
	var all []sample
	var wg sync.WaitGroup
	var failed error
	for w := range *probes {
		wg.Go(func() {
			var mine []sample
			for i := 0; time.Now().Before(stop); i++ {
				d := doc(*docsN + w*10_000_000 + i)
				s := time.Now()
				if _, err := c.Upsert(ctx, []index.Document{d}); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				mine = append(mine, sample{s, time.Since(s)})
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	snaps, comps := ev.spans(start, time.Now())
	l := summarise(all, snaps, comps)
	var durs []time.Duration
	for _, s := range snaps {
		durs = append(durs, s.to.Sub(s.from))
	}
	slices.Sort(durs)
	fmt.Printf("single-document upserts, %d client(s), %s, snapshots every %s: %d upserts, %.0f/s; p50 %.2f ms, p99 %.2f ms, max %.1f ms\n",
		*probes, stallFor.String(), snapEvery.String(), l.n, float64(l.n)/stallFor.Seconds(), ms(l.p50), ms(l.p99), ms(l.max))
	fmt.Printf("  during the %d graph snapshots (median %.0f ms each): %d upserts, p50 %.2f ms, p99 %.2f ms, max %.1f ms\n",
		len(snaps), ms(pct(durs, 0.5)), l.nSnap, ms(l.snapP50), ms(l.snapP99), ms(l.snapMax))
	return nil
}
