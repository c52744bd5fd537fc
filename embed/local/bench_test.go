package local

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The benchmarks embed a 50-word English passage (75 tokens).

func BenchmarkEmbed(b *testing.B) {
	m := newTestModel(b, Config{})
	ctx := context.Background()
	texts := []string{passage(0)}
	b.SetBytes(int64(len(texts[0])))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Embed(ctx, texts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
	b.ReportMetric(float64(len(m.Tokenize(texts[0]))), "tokens")
}

// BenchmarkEmbedGoroutines shares b.N embeddings of one passage among 1
// and 2 goroutines calling Embed on the same Model (GOMAXPROCS must allow
// them to run in parallel).
func BenchmarkEmbedGoroutines(b *testing.B) {
	m := newTestModel(b, Config{})
	texts := []string{passage(0)}
	for _, g := range []int{1, 2} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			b.ReportAllocs()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range g {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := m.Embed(context.Background(), texts); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
		})
	}
}

// BenchmarkEmbedLong embeds a text cut at 128 tokens, the most the model
// reads.
func BenchmarkEmbedLong(b *testing.B) {
	m := newTestModel(b, Config{})
	texts := []string{strings.Repeat(passage(1)+" ", 3)}
	for b.Loop() {
		if _, err := m.Embed(context.Background(), texts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
}

// BenchmarkLoad decodes the embedded model file: what the first New costs.
func BenchmarkLoad(b *testing.B) {
	b.SetBytes(int64(len(modelFile)))
	for b.Loop() {
		if _, err := load(modelFile); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/load")
}

// benchTexts returns batch texts of the given kind: "query" (a question of
// about 8 words, 10 tokens), "50w" (a 50-word passage, 66-79 tokens) or
// "100w" (two of them, cut at the 128-token window).
func benchTexts(kind string, batch int) []string {
	queries := []string{
		"how is heat transfer measured at supersonic speed",
		"what do retrieval systems store in the index",
		"why did the pods restart during the update",
		"when should strawberries on a balcony be fed",
	}
	texts := make([]string, batch)
	for i := range texts {
		switch kind {
		case "query":
			texts[i] = queries[i%len(queries)]
		case "50w":
			texts[i] = passage(i)
		case "100w":
			texts[i] = passage(i) + " " + passage(i+1)
		}
	}
	return texts
}

// BenchmarkEmbedBatch embeds batches of 1, 8 and 32 texts as one Embed
// call, packed (path=packed, the default) and one text per forward pass
// (path=each, the path before packing), side by side. Besides the wall
// time it reports the thread's CPU time per text (cpu-ms/text), which
// other processes on a shared machine disturb much less:
//
//	for i in 1 2 3 4 5 6; do go test -run '^$' -bench EmbedBatch -benchtime 10x ./embed/local; done | tee pack.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /path pack.txt
func BenchmarkEmbedBatch(b *testing.B) {
	m := newTestModel(b, Config{})
	for _, kind := range []string{"query", "50w", "100w"} {
		for _, batch := range []int{1, 8, 32} {
			texts := benchTexts(kind, batch)
			tokens := 0
			for _, t := range texts {
				tokens += min(len(m.Tokenize(t)), MaxSequenceLength)
			}
			for _, path := range []string{"each", "packed"} {
				b.Run(fmt.Sprintf("text=%s/batch=%d/path=%s", kind, batch, path), func(b *testing.B) {
					pm := newModel(m.w, DefaultConfig())
					if path == "each" {
						pm.packTokens = 0
					}
					if _, err := pm.Embed(context.Background(), texts); err != nil { // grow the workspace
						b.Fatal(err)
					}
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					b.ReportAllocs()
					cpu0, cpuOK := threadCPU()
					for b.Loop() {
						if _, err := pm.Embed(context.Background(), texts); err != nil {
							b.Fatal(err)
						}
					}
					texts := float64(b.N * batch)
					b.ReportMetric(texts/b.Elapsed().Seconds(), "sentences/s")
					if cpu1, ok := threadCPU(); ok && cpuOK {
						b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1e3/texts, "cpu-ms/text")
					}
					b.ReportMetric(float64(tokens)/float64(batch), "tokens/text")
				})
			}
		}
	}
}
