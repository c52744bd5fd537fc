package local

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ragd/ragd/embed"
)

// BenchmarkQueryDuringBulk measures the latency of one-text queries
// through a Pool over the local model (configured as the server's:
// GOMAXPROCS workers, batches of 8, no window) while bulk producers keep
// it busy, each embedding 64 passages at a time in a loop, as upserts do.
// Each iteration is one query; the benchmark reports the latencies' p50,
// p90 and p99 and the bulk passages embedded per second meanwhile:
//
//   - fifo: the queries are not marked, and wait in the one queue behind
//     the bulk backlog (the behaviour before priorities);
//   - query: they are marked PriorityQuery, served ahead of queued bulk
//     work, with one query worker;
//   - query-noworker: marked, without a query worker (QueryWorkers -1):
//     they wait for a worker to finish its bulk batch.
//
// The fifo case waits for the whole backlog per query: run it with a
// fixed count,
//
//	go test -run '^$' -bench QueryDuringBulk -benchtime 20x ./embed/local
func BenchmarkQueryDuringBulk(b *testing.B) {
	m := newTestModel(b, Config{})
	queries := benchTexts("query", 4)
	bulkTexts := benchTexts("50w", 64)
	for i := range bulkTexts { // distinct, else the pool embeds each once
		bulkTexts[i] += fmt.Sprintf(" (%d)", i)
	}
	const producers = 2
	for _, mode := range []string{"fifo", "query", "query-noworker"} {
		b.Run(mode, func(b *testing.B) {
			cfg := embed.PoolConfig{Workers: runtime.GOMAXPROCS(0), MaxBatch: 8, BatchWindow: -1}
			if mode != "query" {
				cfg.QueryWorkers = -1
			}
			inner := &counting{Embedder: m}
			p, err := embed.NewPool(inner, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			qctx := context.Background()
			if mode != "fifo" {
				qctx = embed.WithPriority(qctx, embed.PriorityQuery)
			}

			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range producers {
				wg.Go(func() {
					for ctx.Err() == nil {
						if _, err := p.Embed(ctx, bulkTexts); err != nil && ctx.Err() == nil {
							b.Error(err)
							return
						}
					}
				})
			}
			// Let the backlog build up.
			for p.QueueDepth() < producers*len(bulkTexts)/2 {
				time.Sleep(time.Millisecond)
			}

			var lat []time.Duration
			texts0, start := inner.texts.Load(), time.Now()
			i := 0
			for b.Loop() {
				t0 := time.Now()
				if _, err := p.Embed(qctx, queries[i%len(queries):i%len(queries)+1]); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				i++
				time.Sleep(50 * time.Millisecond) // queries arrive apart, 20 a second at most
			}
			bulkRate := float64(inner.texts.Load()-texts0-int64(len(lat))) / time.Since(start).Seconds()
			stop()
			wg.Wait()

			slices.Sort(lat)
			q := func(f float64) float64 {
				return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))].Microseconds()) / 1e3
			}
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.9), "p90-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(bulkRate, "bulk-passages/s")
			b.ReportMetric(0, "ns/op")
			if testing.Verbose() {
				fmt.Printf("%s: %d queries, latencies %v\n", mode, len(lat), lat)
			}
		})
	}
}

// counting is an Embedder that counts the texts it embeds.
type counting struct {
	embed.Embedder
	texts atomic.Int64
}

func (c *counting) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vs, err := c.Embedder.Embed(ctx, texts)
	if err == nil {
		c.texts.Add(int64(len(texts)))
	}
	return vs, err
}
