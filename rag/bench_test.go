package rag

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/rag/chattest"
)

// benchHits are k chunks of about 300 tokens each from six sources: of 8,
// two pairs are adjacent chunks, so 6 passages remain.
func benchHits(k int) []index.Hit {
	hits := make([]index.Hit, k)
	for i := range hits {
		src := fmt.Sprintf("doc-%d.md", i%6)
		heading := fmt.Sprintf("Manual %d > Section %d", i%6, i/6)
		var b strings.Builder
		for j := range 14 {
			fmt.Fprintf(&b, "Paragraph %d of chunk %d explains how the component number %d is configured and monitored. ", j, i, i*31+j)
		}
		hits[i] = hit(fmt.Sprintf("c%d", i), heading+"\n\n"+b.String(), 1-float64(i)/100,
			"source", src, "chunk", float64(i/6), "heading", heading, "title", fmt.Sprintf("Manual %d", i%6))
	}
	return hits
}

// BenchmarkAsk measures what the pipeline adds around retrieval and the
// LLM: dedupe, merge, token counting and prompt assembly, citations; with
// no LLM, with an instant fake LLM over loopback HTTP (streamed and not),
// and with retrieval from a real collection included.
func BenchmarkAsk(b *testing.B) {
	const q = "How is the component configured and monitored?"
	const answer = "The component is configured in the manual [1] and monitored as described [2][3]. " +
		"Thresholds are set per component [4], and alerts go to the operator [1, 5]."
	for _, model := range []string{"gpt-4o-mini", "llama3.1:8b"} {
		b.Run("pipeline/"+model, func(b *testing.B) {
			e := newEngine(b, nil, Config{Tokenizer: tokenizerName("", model)})
			s := &searcher{hits: benchHits(8)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Ask(ctx, s, Request{Question: q}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, stream := range []bool{false, true} {
		b.Run(fmt.Sprintf("fake-llm/stream=%v", stream), func(b *testing.B) {
			srv := newFake(b, chattest.Config{Answer: chattest.Fixed(answer)})
			e := newEngine(b, srv, Config{})
			s := &searcher{hits: benchHits(8)}
			b.ReportAllocs()
			for b.Loop() {
				res, err := e.Ask(ctx, s, Request{Question: q, Stream: stream}, func(string) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Citations) != 5 {
					b.Fatalf("%d citations", len(res.Citations))
				}
			}
		})
	}
	b.Run("index", func(b *testing.B) {
		h, err := embed.NewHash(embed.HashConfig{Dimension: 64})
		if err != nil {
			b.Fatal(err)
		}
		ix, err := index.Open(b.TempDir(), index.Config{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		defer ix.Close()
		c, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "bench", Dimension: 64})
		if err != nil {
			b.Fatal(err)
		}
		var docs []index.Document
		for i, hh := range benchHits(200) {
			v, err := h.Embed(ctx, []string{hh.Text})
			if err != nil {
				b.Fatal(err)
			}
			docs = append(docs, index.Document{ID: hh.ID, Text: hh.Text, Metadata: hh.Metadata, Vector: v[0], Source: fmt.Sprint(hh.Metadata["source"]), Chunk: i / 6})
		}
		if _, err := c.Upsert(ctx, docs); err != nil {
			b.Fatal(err)
		}
		qv, err := h.Embed(ctx, []string{q})
		if err != nil {
			b.Fatal(err)
		}
		sreq := index.SearchRequest{Vector: qv[0], Text: q, K: 8}
		// The search alone, for reference: what the pipeline adds is the
		// difference.
		b.Run("search", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Search(ctx, sreq); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("search+pipeline", func(b *testing.B) {
			e := newEngine(b, nil, Config{Tokenizer: TokenizerO200k})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Ask(ctx, c, Request{Question: q, Search: sreq}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
