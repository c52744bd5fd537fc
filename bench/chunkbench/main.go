// Command chunkbench measures what chunking settings do to retrieval: it
// chunks every document of a BEIR-layout collection with ingest.Split
// (each document a level-1 heading, its title, over one paragraph, its
// text, as ragctl ingest reads a Markdown file), indexes the chunks, runs
// the judged queries and scores the documents by their best chunk
// (nDCG@10, MAP@100, Recall@100 as trec_eval computes them). It compares
// the heading line (ChunkConfig.HeadingPrefix) on and off at chunk sizes
// of -tokens, in BM25, vector and hybrid search, with the local model
// (embeddings and tokenizer) or the hash embedder.
//
//	go run ./bench/chunkbench -beir ../shared/data/ir/cranfield [-tokens 64,128] [-embedder local|hash] [-out FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/local"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/ingest"
	"github.com/ragd/ragd/internal/beir"
)

var (
	beirDir   = flag.String("beir", "../shared/data/ir/cranfield", "BEIR-layout folder")
	tokensF   = flag.String("tokens", "64,128", "chunk sizes in tokens (comma-separated)")
	embedderF = flag.String("embedder", "local", "local (the built-in model) or hash")
	outF      = flag.String("out", "", "also write the report here")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chunkbench:", err)
		os.Exit(1)
	}
}

func run() error {
	ds, err := beir.Load(*beirDir)
	if err != nil {
		return err
	}
	var emb embed.Embedder
	var tok embed.Tokenizer
	switch *embedderF {
	case "local":
		m, err := local.New(local.Config{})
		if err != nil {
			return err
		}
		p, err := embed.NewPool(m, embed.PoolConfig{Workers: runtime.GOMAXPROCS(0), MaxBatch: 8, BatchWindow: -1})
		if err != nil {
			return err
		}
		defer p.Close()
		emb, tok = p, m
	case "hash":
		h, err := embed.NewHash(embed.HashConfig{})
		if err != nil {
			return err
		}
		emb, tok = h, embed.WordTokenizer{}
	default:
		return fmt.Errorf("-embedder %q: want local or hash", *embedderF)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "chunkbench: %s, %d documents, %d queries, embedder %s; documents scored by their best chunk.\n\n",
		*beirDir, len(ds.Corpus), len(ds.Queries), emb.Model())
	fmt.Fprintln(&out, "| tokens | heading line | chunks | mode | nDCG@10 | MAP@100 | R@100 |")
	fmt.Fprintln(&out, "|---:|---|---:|---|---:|---:|---:|")
	for _, ts := range strings.Split(*tokensF, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(ts))
		if err != nil {
			return fmt.Errorf("-tokens: %q", ts)
		}
		for _, prefix := range []bool{false, true} {
			cfg := ingest.ChunkConfig{MaxTokens: n, Overlap: n / 8, Tokenizer: tok, HeadingPrefix: prefix}
			if err := measure(ds, emb, cfg, &out); err != nil {
				return err
			}
		}
	}
	fmt.Print(out.String())
	if *outF != "" {
		return os.WriteFile(*outF, []byte(out.String()), 0o644)
	}
	return nil
}

// measure indexes the corpus chunked by cfg and scores every mode.
func measure(ds *beir.Dataset, emb embed.Embedder, cfg ingest.ChunkConfig, out io.Writer) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "chunkbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ix, err := index.Open(dir, index.Config{NoSync: true, SnapshotInterval: -1})
	if err != nil {
		return err
	}
	defer ix.Close()
	c, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "c", Dimension: emb.Dimension()})
	if err != nil {
		return err
	}
	start := time.Now()
	var docs []index.Document
	for _, d := range ds.Corpus {
		title := strings.TrimSpace(d.Title)
		text := strings.TrimSpace(d.Text)
		doc := ingest.Document{Source: d.ID, Title: title}
		if title != "" {
			doc.Text = title + "\n\n" + text
			doc.Blocks = []ingest.Block{{Kind: ingest.BlockHeading, Level: 1, Start: 0, End: len(title)},
				{Kind: ingest.BlockParagraph, Start: len(title) + 2, End: len(doc.Text), Headings: []string{title}}}
		} else {
			doc.Text = text
			doc.Blocks = []ingest.Block{{Kind: ingest.BlockParagraph, Start: 0, End: len(text)}}
		}
		if strings.TrimSpace(doc.Text) == "" {
			continue
		}
		chunks, err := ingest.Split(doc, cfg)
		if err != nil {
			return err
		}
		for _, r := range ingest.Records(doc, chunks, "") {
			docs = append(docs, index.Document{ID: r.ID, Text: r.Text, Source: d.ID})
		}
	}
	for lo := 0; lo < len(docs); lo += 256 {
		batch := docs[lo:min(lo+256, len(docs))]
		texts := make([]string, len(batch))
		for i, d := range batch {
			texts[i] = d.Text
		}
		vs, err := emb.Embed(ctx, texts)
		if err != nil {
			return err
		}
		for i := range batch {
			batch[i].Vector = vs[i]
		}
		if _, err := c.Upsert(ctx, batch); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "%d tokens, heading line %v: %d chunks indexed in %v\n", cfg.MaxTokens, cfg.HeadingPrefix, len(docs), time.Since(start).Round(time.Second))
	for _, mode := range []index.Mode{index.ModeText, index.ModeVector, index.ModeHybrid} {
		run := beir.Run{}
		for _, q := range ds.Queries {
			req := index.SearchRequest{Mode: mode, K: 400, Text: q.Text}
			if mode != index.ModeText {
				vs, err := emb.Embed(ctx, []string{q.Text})
				if err != nil {
					return err
				}
				req.Vector = vs[0]
			}
			res, err := c.Search(ctx, req)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			var hits []beir.Scored
			for _, h := range res.Hits {
				if !seen[h.Source] && len(hits) < 100 {
					seen[h.Source] = true
					hits = append(hits, beir.Scored{ID: h.Source, Score: h.Score})
				}
			}
			run[q.ID] = hits
		}
		m := beir.Evaluate(run, ds.Qrels).Mean
		name := map[index.Mode]string{index.ModeText: "bm25", index.ModeVector: "vector", index.ModeHybrid: "hybrid"}[mode]
		fmt.Fprintf(out, "| %d | %v | %d | %s | %.4f | %.4f | %.4f |\n", cfg.MaxTokens, onOff(cfg.HeadingPrefix), len(docs), name, m.NDCG10, m.MAP100, m.Recall100)
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
