package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	ragv1 "github.com/ragd/ragd/api/ragv1"
)

func newCollectionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "collections",
		Aliases: []string{"collection", "coll"},
		Short:   "Create, list, describe and drop collections",
	}
	cmd.AddCommand(newCollectionsCreateCmd(g), newCollectionsListCmd(g), newCollectionsGetCmd(g), newCollectionsDropCmd(g), newCollectionsCalibrateCmd(g))
	return cmd
}

type createOptions struct {
	dimension      int
	metric         string
	shards         int
	provider       string
	model          string
	baseURL        string
	dims           int
	m, efc, efs    int
	analyzer       string
	k1, b          float64
	json           bool
	ifNotExists    bool
	explicitK1, eB bool
}

func newCollectionsCreateCmd(g *globals) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a collection (with the server's defaults unless flags say otherwise)",
		Long: `Creates a collection. Without flags it gets the server's defaults: the server's default
embedder (the built-in local model unless ragd says otherwise), cosine, one shard.

  ragctl collections create notes
  ragctl collections create docs --embedder openai --model text-embedding-3-small --shards 4
  ragctl collections create vectors --embedder none --dimension 768 --metric dot`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.explicitK1, o.eB = cmd.Flags().Changed("k1"), cmd.Flags().Changed("b")
			return g.withClient(cmd, func(ctx context.Context, c client) error {
				coll, err := c.CreateCollection(ctx, o.request(args[0]))
				if err != nil {
					if o.ifNotExists && isAlreadyExists(err) {
						if coll, err = c.GetCollection(ctx, args[0]); err == nil {
							return printCollection(cmd.OutOrStdout(), coll, o.json)
						}
					}
					return callError(fmt.Sprintf("create collection %q", args[0]), err)
				}
				return printCollection(cmd.OutOrStdout(), coll, o.json)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.dimension, "dimension", 0, "vector dimension (default: the embedder's)")
	f.StringVar(&o.metric, "metric", "", "cosine (default), dot or l2")
	f.IntVar(&o.shards, "shards", 0, "shards (default 1)")
	f.StringVar(&o.provider, "embedder", "", "embedder provider: local, openai, hash or none (default: the server's)")
	f.StringVar(&o.model, "model", "", "embedder model (default: the provider's)")
	f.StringVar(&o.baseURL, "base-url", "", "base URL of an OpenAI-compatible embeddings endpoint (default: the server's)")
	f.IntVar(&o.dims, "embed-dimensions", 0, "dimensions asked of the embedder (models that can shorten their vectors)")
	f.IntVar(&o.m, "m", 0, "HNSW M (default 16)")
	f.IntVar(&o.efc, "ef-construction", 0, "HNSW efConstruction (default 200)")
	f.IntVar(&o.efs, "ef-search", 0, "HNSW ef at search time (default 64)")
	f.StringVar(&o.analyzer, "analyzer", "", "text analyzer (default en)")
	f.Float64Var(&o.k1, "k1", 0, "BM25 k1 (default 1.2)")
	f.Float64Var(&o.b, "b", 0, "BM25 b (default 0.75)")
	f.BoolVar(&o.ifNotExists, "if-not-exists", false, "succeed, describing it, when the collection exists")
	f.BoolVar(&o.json, "json", false, "print the collection as JSON")
	return cmd
}

func (o createOptions) request(name string) *ragv1.CreateCollectionRequest {
	r := &ragv1.CreateCollectionRequest{Name: name, Dimension: int32(o.dimension), Metric: o.metric, Shards: int32(o.shards)}
	if o.provider != "" || o.model != "" || o.baseURL != "" || o.dims != 0 {
		r.Embedder = &ragv1.EmbedderConfig{Provider: o.provider, Model: o.model, BaseUrl: o.baseURL, Dimensions: int32(o.dims)}
	}
	if o.m != 0 || o.efc != 0 || o.efs != 0 {
		r.Hnsw = &ragv1.HnswConfig{M: int32(o.m), EfConstruction: int32(o.efc), EfSearch: int32(o.efs)}
	}
	if o.analyzer != "" || o.explicitK1 || o.eB {
		r.Text = &ragv1.TextConfig{Analyzer: o.analyzer}
		if o.explicitK1 {
			r.Text.K1 = proto.Float64(o.k1)
		}
		if o.eB {
			r.Text.B = proto.Float64(o.b)
		}
	}
	return r
}

func newCollectionsListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the collections with their counts",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd, func(ctx context.Context, c client) error {
				resp, err := c.ListCollections(ctx)
				if err != nil {
					return callError("list collections", err)
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tDOCUMENTS\tVECTORS\tDIMENSION\tMETRIC\tSHARDS\tEMBEDDER")
				for _, cl := range resp.GetCollections() {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%s\n", cl.GetName(), cl.GetDocuments(), cl.GetVectors(),
						cl.GetDimension(), cl.GetMetric(), cl.GetShards(), embedderName(cl.GetEmbedder()))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the server's response as JSON")
	return cmd
}

func newCollectionsGetCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "get NAME",
		Aliases: []string{"describe"},
		Short:   "Describe a collection: configuration and counts",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd, func(ctx context.Context, c client) error {
				coll, err := c.GetCollection(ctx, args[0])
				if err != nil {
					return callError(fmt.Sprintf("get collection %q", args[0]), err)
				}
				return printCollection(cmd.OutOrStdout(), coll, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the collection as JSON")
	return cmd
}

func newCollectionsCalibrateCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "calibrate NAME",
		Short: "Choose the collection's default hybrid fusion now, from pseudo-queries drawn from its documents",
		Long: `Calibrates the collection's default hybrid fusion (the server also does it in the
background once a collection has 50 documents and whenever it has doubled) and prints the
collection with the fusion chosen. Needs an admin key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd, func(ctx context.Context, c client) error {
				coll, err := c.CalibrateCollection(ctx, args[0])
				if err != nil {
					return callError(fmt.Sprintf("calibrate collection %q", args[0]), err)
				}
				return printCollection(cmd.OutOrStdout(), coll, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the collection as JSON")
	return cmd
}

func newCollectionsDropCmd(g *globals) *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:     "drop NAME",
		Aliases: []string{"delete", "rm"},
		Short:   "Drop a collection and every document in it",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd, func(ctx context.Context, c client) error {
				err := c.DropCollection(ctx, args[0])
				if err != nil && !(ifExists && isNotFound(err)) {
					return callError(fmt.Sprintf("drop collection %q", args[0]), err)
				}
				if err == nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "dropped collection %q\n", args[0])
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "succeed when the collection does not exist")
	return cmd
}

func embedderName(e *ragv1.EmbedderConfig) string {
	switch {
	case e == nil || e.GetProvider() == "":
		return "-"
	case e.GetModel() == "":
		return e.GetProvider()
	}
	return e.GetProvider() + "/" + e.GetModel()
}

// printCollection describes a collection for people, or as JSON.
func printCollection(w io.Writer, c *ragv1.Collection, asJSON bool) error {
	if asJSON {
		return printJSON(w, c)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("name", c.GetName())
	row("documents", c.GetDocuments())
	row("vectors", c.GetVectors())
	if n := c.GetTombstones(); n > 0 {
		row("tombstones", fmt.Sprintf("%d (deleted vectors awaiting compaction)", n))
	}
	row("dimension", c.GetDimension())
	row("metric", c.GetMetric())
	row("shards", c.GetShards())
	row("embedder", embedderName(c.GetEmbedder()))
	if u := c.GetEmbedder().GetBaseUrl(); u != "" {
		row("embedder base url", u)
	}
	h := c.GetHnsw()
	row("hnsw", fmt.Sprintf("m %d, ef_construction %d, ef_search %d", h.GetM(), h.GetEfConstruction(), h.GetEfSearch()))
	t := c.GetText()
	row("text", fmt.Sprintf("analyzer %s, k1 %g, b %g", t.GetAnalyzer(), t.GetK1(), t.GetB()))
	if f := c.GetFusion(); f != nil {
		row("hybrid fusion", fmt.Sprintf("%s, alpha %.2f (calibrated %s on %d pseudo-queries: nDCG@10 %.4f, BM25 alone %.4f, vector alone %.4f)",
			f.GetMethod(), f.GetAlpha(), f.GetCalibratedAt().AsTime().Format("2006-01-02 15:04:05Z07:00"), f.GetQueries(),
			f.GetNdcg10(), f.GetBm25Ndcg10(), f.GetVectorNdcg10()))
	} else if c.GetDimension() > 0 {
		row("hybrid fusion", "relative, alpha 0.50 (not calibrated yet)")
	}
	if ts := c.GetCreatedAt(); ts != nil {
		row("created", ts.AsTime().Format("2006-01-02 15:04:05Z07:00"))
	}
	return tw.Flush()
}
