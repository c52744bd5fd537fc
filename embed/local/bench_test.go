package local

import (
	"context"
	"fmt"
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
