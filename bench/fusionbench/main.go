// Command fusionbench measures how hybrid search's two legs are best
// fused on a BEIR-layout collection: it indexes the corpus (title and
// text, embedded by -embedder), runs each judged query's vector and text
// legs once, keeps their top candidates, and scores fusions of them —
// relative-score fusion at every alpha, distribution-based score fusion
// (z-scores), reciprocal rank fusion — and the weights that the
// collection's own calibration (index.Calibrate, pseudo-queries drawn from
// the documents) chooses. Judged queries are never seen by the
// calibration.
//
//	go run ./bench/fusionbench -beir DIR [-embedder local|hash] [-depth 100] [-json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/local"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/internal/beir"
)

var (
	beirDir   = flag.String("beir", "../shared/data/ir/cranfield", "BEIR-layout folder")
	embedderF = flag.String("embedder", "local", "local or hash")
	depth     = flag.Int("depth", 100, "candidates per leg")
	asJSON    = flag.Bool("json", false, "print JSON rows")
	seeds     = flag.String("seeds", "1", "calibration seeds, comma-separated: one default row each")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fusionbench:", err)
		os.Exit(1)
	}
}

// row is one fusion's scores.
type row struct {
	Dataset string  `json:"dataset"`
	Fusion  string  `json:"fusion"`
	Alpha   float64 `json:"alpha"`
	NDCG10  float64 `json:"ndcg@10"`
	MAP100  float64 `json:"map@100"`
	R100    float64 `json:"recall@100"`
}

func run() error {
	ctx := context.Background()
	var seedList []uint64
	for _, f := range strings.Split(*seeds, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil || v == 0 {
			return fmt.Errorf("-seeds: %q is not a positive integer", f)
		}
		seedList = append(seedList, v)
	}
	ds, err := beir.Load(*beirDir)
	if err != nil {
		return err
	}
	var emb embed.Embedder
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
		emb = p
	case "hash":
		h, err := embed.NewHash(embed.HashConfig{})
		if err != nil {
			return err
		}
		emb = h
	default:
		return fmt.Errorf("-embedder %q", *embedderF)
	}
	dir, err := os.MkdirTemp("", "fusionbench-")
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
		text := strings.TrimSpace(strings.TrimSpace(d.Title) + "\n\n" + d.Text)
		if text == "" {
			continue
		}
		docs = append(docs, index.Document{ID: d.ID, Text: text})
	}
	for lo := 0; lo < len(docs); lo += 256 {
		b := docs[lo:min(lo+256, len(docs))]
		texts := make([]string, len(b))
		for i, d := range b {
			texts[i] = d.Text
		}
		vs, err := emb.Embed(ctx, texts)
		if err != nil {
			return err
		}
		for i := range b {
			b[i].Vector = vs[i]
		}
		if _, err := c.Upsert(ctx, b); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %d documents indexed in %v\n", *beirDir, len(docs), time.Since(start).Round(time.Second))

	name := strings.TrimSuffix(*beirDir, "/")
	name = name[strings.LastIndex(name, "/")+1:]
	var rows []row
	eval := func(fusion string, alpha float64, req func(q beir.Query, v []float32) index.SearchRequest) error {
		runs := beir.Run{}
		for _, q := range ds.Queries {
			vs, err := emb.Embed(ctx, []string{q.Text})
			if err != nil {
				return err
			}
			res, err := c.Search(ctx, req(q, vs[0]))
			if err != nil {
				return err
			}
			hits := make([]beir.Scored, len(res.Hits))
			for i, h := range res.Hits {
				hits[i] = beir.Scored{ID: h.ID, Score: h.Score}
			}
			runs[q.ID] = hits
		}
		m := beir.Evaluate(runs, ds.Qrels).Mean
		rows = append(rows, row{Dataset: name, Fusion: fusion, Alpha: alpha, NDCG10: m.NDCG10, MAP100: m.MAP100, R100: m.Recall100})
		return nil
	}
	base := func(mode index.Mode) func(q beir.Query, v []float32) index.SearchRequest {
		return func(q beir.Query, v []float32) index.SearchRequest {
			return index.SearchRequest{Mode: mode, K: 100, Text: q.Text, Vector: v, Depth: *depth}
		}
	}
	if err := eval("bm25", 0, base(index.ModeText)); err != nil {
		return err
	}
	if err := eval("vector", 0, base(index.ModeVector)); err != nil {
		return err
	}
	for _, f := range []index.Fusion{index.FusionRelative, index.FusionDBSF} {
		for _, a := range []float64{0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9} {
			if err := eval(string(f), a, func(q beir.Query, v []float32) index.SearchRequest {
				r := base(index.ModeHybrid)(q, v)
				r.Fusion, r.Alpha = f, &a
				return r
			}); err != nil {
				return err
			}
		}
	}
	if err := eval("rrf", 0, func(q beir.Query, v []float32) index.SearchRequest {
		r := base(index.ModeHybrid)(q, v)
		r.Fusion = index.FusionRRF
		return r
	}); err != nil {
		return err
	}
	// The collection's own calibration, then the default search: for each
	// seed, as the server would run it.
	for _, sd := range seedList {
		calStart := time.Now()
		cal, err := c.Calibrate(ctx, emb.Embed, index.CalibrationConfig{Seed: sd})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "seed %d: calibrated in %v: %s alpha %.2f on %d pseudo-queries (nDCG@10 there %.4f; BM25 %.4f, vector %.4f)\n",
			sd, time.Since(calStart).Round(time.Millisecond), cal.Fusion, cal.Alpha, cal.Queries, cal.NDCG10, cal.TextNDCG10, cal.VectorNDCG10)
		if err := eval(fmt.Sprintf("default, seed %d (%s)", sd, cal.Fusion), cal.Alpha, base(index.ModeHybrid)); err != nil {
			return err
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return strings.Compare(a.Fusion, b.Fusion) })
	for _, r := range rows {
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
			continue
		}
		fmt.Printf("| %s | %s | %.2f | %.4f | %.4f | %.4f |\n", r.Dataset, r.Fusion, r.Alpha, r.NDCG10, r.MAP100, r.R100)
	}
	return nil
}
