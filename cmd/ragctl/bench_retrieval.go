package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/internal/beir"
	"github.com/spf13/cobra"
)

type retrievalOptions struct {
	dir      string
	mode     string
	embedder string
	fusion   string
	alpha    float64
	// fusionSet and alphaSet: the flags were given; without either a
	// hybrid run calibrates the collection and uses its default, as the
	// server does.
	fusionSet, alphaSet bool
	calQueries          int
	k                   int
	run                 string
	json                bool
	shards              int
	analyzer            string
	dim                 int
}

// retrievalResult is the JSON contract of `ragctl bench retrieval`.
type retrievalResult struct {
	Mode         string  `json:"mode"`
	Fusion       string  `json:"fusion,omitempty"`
	Alpha        float64 `json:"alpha,omitempty"`
	Calibrated   bool    `json:"calibrated,omitempty"`
	Embedder     string  `json:"embedder,omitempty"`
	NDCG10       float64 `json:"ndcg@10"`
	MAP100       float64 `json:"map@100"`
	Recall100    float64 `json:"recall@100"`
	MRR10        float64 `json:"mrr@10"`
	Queries      int     `json:"queries"`
	Docs         int     `json:"docs"`
	IndexSeconds float64 `json:"index_seconds"`
	QPS          float64 `json:"qps"`
}

func newBenchRetrievalCmd() *cobra.Command {
	var o retrievalOptions
	cmd := &cobra.Command{
		Use:   "retrieval",
		Short: "Index a BEIR-layout collection and measure nDCG@10, MAP@100, Recall@100 and MRR@10",
		Long: `Ingests corpus.jsonl of a BEIR-layout folder (title and text) into a temporary collection,
runs every judged query of queries.jsonl (qrels/test.tsv) and scores the runs as trec_eval
does (graded gains). --run writes the TREC run file. Vector and hybrid modes embed texts with
--embedder (hash: a deterministic feature-hashing embedder, no model needed). A hybrid run
without --fusion and --alpha runs what a server does by default: it calibrates the collection
(pseudo-queries drawn from its documents) and searches with the fusion chosen.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.fusionSet, o.alphaSet = cmd.Flags().Changed("fusion"), cmd.Flags().Changed("alpha")
			return runRetrieval(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "beir", "", "BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)")
	f.StringVar(&o.mode, "mode", "bm25", "bm25, vector or hybrid")
	f.StringVar(&o.embedder, "embedder", "local", "embedder for vector and hybrid modes: local (the built-in model), hash (deterministic feature hashing, no model) or openai ($OPENAI_API_KEY, default endpoint and model)")
	f.StringVar(&o.fusion, "fusion", "", "hybrid fusion: dbsf, relative or rrf; with neither --fusion nor --alpha, the collection is calibrated as the server does in the background and searched with its default")
	f.Float64Var(&o.alpha, "alpha", 0.5, "weight of the vector leg in dbsf and relative fusion, in [0, 1]")
	f.IntVar(&o.calQueries, "calibration-queries", 0, "pseudo-queries of the calibration (0: the server's default)")
	f.IntVar(&o.k, "k", 100, "hits per query")
	f.StringVar(&o.run, "run", "", "write the TREC run file here")
	f.BoolVar(&o.json, "json", false, "print one JSON object")
	f.IntVar(&o.shards, "shards", 1, "shards of the temporary collection")
	f.StringVar(&o.analyzer, "analyzer", "en", "text analyzer")
	f.IntVar(&o.dim, "dim", 256, "dimension of the hash embedder")
	_ = cmd.MarkFlagRequired("beir")
	return cmd
}

func runRetrieval(ctx context.Context, stdout, stderr io.Writer, o retrievalOptions) (err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var mode index.Mode
	switch o.mode {
	case "bm25", "text":
		mode = index.ModeText
	case "vector":
		mode = index.ModeVector
	case "hybrid":
		mode = index.ModeHybrid
	default:
		return fmt.Errorf("--mode %q: want bm25, vector or hybrid", o.mode)
	}
	var emb embed.Embedder
	if mode != index.ModeText {
		eo := embedOptions{embedder: o.embedder, baseURL: embed.DefaultOpenAIBaseURL, model: embed.DefaultOpenAIModel, timeout: time.Minute}
		if o.embedder == "hash" {
			eo.dimensions = o.dim
		}
		e, release, err := newCLIEmbedder(eo)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, release()) }()
		emb = e
	}
	if o.k < 1 || o.k > 10000 {
		return fmt.Errorf("--k %d out of range [1, 10000]", o.k)
	}
	ds, err := beir.Load(o.dir)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "ragd-bench-retrieval-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// A temporary collection: durability is not what is measured.
	ix, err := index.Open(tmp, index.Config{NoSync: true, SnapshotInterval: -1})
	if err != nil {
		return err
	}
	defer ix.Close()
	cc := index.CollectionConfig{Name: "bench", Shards: o.shards, Text: index.TextConfig{Analyzer: o.analyzer}}
	if emb != nil {
		cc.Dimension = emb.Dimension()
		cc.Metric = index.Cosine
		cc.Embedder = index.EmbedderConfig{Provider: o.embedder, Model: emb.Model(), Dimension: emb.Dimension()}
	}
	coll, err := ix.CreateCollection(ctx, cc)
	if err != nil {
		return err
	}

	fmt.Fprintf(stderr, "indexing %d documents (%s)\n", len(ds.Corpus), o.mode)
	start := time.Now()
	const batch = 256
	for i := 0; i < len(ds.Corpus); i += batch {
		part := ds.Corpus[i:min(i+batch, len(ds.Corpus))]
		docs := make([]index.Document, len(part))
		texts := make([]string, len(part))
		for j, d := range part {
			texts[j] = joinTitle(d.Title, d.Text)
			docs[j] = index.Document{ID: d.ID, Text: texts[j]}
		}
		if emb != nil {
			vecs, err := embedEach(ctx, emb, texts)
			if err != nil {
				return err
			}
			for j := range docs {
				docs[j].Vector = vecs[j]
			}
		}
		if _, err := coll.Upsert(ctx, docs); err != nil {
			return err
		}
	}
	indexSeconds := time.Since(start).Seconds()

	calibrated := mode == index.ModeHybrid && !o.fusionSet && !o.alphaSet
	if calibrated {
		cs := time.Now()
		f, err := coll.Calibrate(ctx, emb.Embed, index.CalibrationConfig{Queries: o.calQueries})
		switch {
		case errors.Is(err, index.ErrTooFewDocuments):
			fmt.Fprintf(stderr, "not calibrated (%v): the built-in default applies\n", err)
		case err != nil:
			return fmt.Errorf("calibrate: %w", err)
		default:
			fmt.Fprintf(stderr, "calibrated in %v: %s alpha %.2f on %d pseudo-queries (nDCG@10 there %.4f; BM25 %.4f, vector %.4f)\n",
				time.Since(cs).Round(time.Millisecond), f.Fusion, f.Alpha, f.Queries, f.NDCG10, f.TextNDCG10, f.VectorNDCG10)
		}
	}

	queries := ds.JudgedQueries()
	var used *index.SearchResponse
	run := make(beir.Run, len(queries))
	start = time.Now()
	for _, q := range queries {
		req := index.SearchRequest{Mode: mode, K: o.k, Text: q.Text, Fusion: index.Fusion(o.fusion)}
		if mode == index.ModeVector {
			req.Text = ""
		}
		if mode != index.ModeText {
			vecs, err := emb.Embed(ctx, []string{q.Text})
			if err != nil {
				return fmt.Errorf("query %s: %w", q.ID, err)
			}
			req.Vector = vecs[0]
			if !calibrated {
				if !o.fusionSet {
					req.Fusion = index.FusionRelative
				}
				req.Alpha = &o.alpha
			}
			req.Depth = o.k
		}
		res, err := coll.Search(ctx, req)
		if err != nil {
			return fmt.Errorf("query %s: %w", q.ID, err)
		}
		used = res
		hits := make([]beir.Scored, len(res.Hits))
		for i, h := range res.Hits {
			hits[i] = beir.Scored{ID: h.ID, Score: h.Score}
		}
		run[q.ID] = hits
	}
	qps := float64(len(queries)) / time.Since(start).Seconds()
	m := beir.Evaluate(run, ds.Qrels)
	if o.run != "" {
		f, err := os.Create(o.run)
		if err != nil {
			return err
		}
		if err := errors.Join(beir.WriteTREC(f, run, "ragd-"+o.mode), f.Close()); err != nil {
			return err
		}
	}
	r := retrievalResult{
		Mode: o.mode, NDCG10: m.Mean.NDCG10, MAP100: m.Mean.MAP100, Recall100: m.Mean.Recall100, MRR10: m.Mean.MRR10,
		Queries: len(queries), Docs: len(ds.Corpus), IndexSeconds: indexSeconds, QPS: qps,
	}
	if mode != index.ModeText {
		r.Embedder = emb.Model()
	}
	if mode == index.ModeHybrid && used != nil {
		r.Fusion, r.Alpha, r.Calibrated = string(used.Fusion), used.Alpha, used.Calibrated
	}
	if o.json {
		b, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "mode\tnDCG@10\tMAP@100\tRecall@100\tMRR@10\tqueries\tdocs\tindex s\tQPS\n")
	fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.4f\t%d\t%d\t%.1f\t%.0f\n", o.mode, r.NDCG10, r.MAP100, r.Recall100, r.MRR10,
		r.Queries, r.Docs, r.IndexSeconds, r.QPS)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Fusion != "" {
		how := "as asked"
		if r.Calibrated {
			how = "the collection's calibrated default"
		}
		_, err := fmt.Fprintf(stdout, "fusion: %s, alpha %.2f (%s)\n", r.Fusion, r.Alpha, how)
		return err
	}
	return nil
}

// joinTitle makes the indexed text of a BEIR document: its title, then its
// text, as the BEIR baselines index them.
func joinTitle(title, text string) string {
	switch {
	case title == "":
		return text
	case text == "":
		return title
	}
	return title + "\n" + text
}

// embedEach embeds texts; a text the embedder rejects as empty gets no
// vector (its document is then found by text only) instead of failing the
// batch: it is left out and the rest embedded again.
func embedEach(ctx context.Context, emb embed.Embedder, texts []string) ([][]float32, error) {
	vecs := make([][]float32, len(texts))
	left := make([]int, len(texts)) // positions still to embed
	for i := range left {
		left[i] = i
	}
	for len(left) > 0 {
		batch := make([]string, len(left))
		for j, i := range left {
			batch[j] = texts[i]
		}
		vs, err := emb.Embed(ctx, batch)
		var te *embed.TextError
		switch {
		case err == nil:
			for j, i := range left {
				vecs[i] = vs[j]
			}
			return vecs, nil
		case errors.As(err, &te) && errors.Is(err, embed.ErrEmptyText) && te.Index >= 0 && te.Index < len(left):
			left = slices.Delete(left, te.Index, te.Index+1)
		default:
			return nil, err
		}
	}
	return vecs, nil
}
