package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/bench/internal/synth"
	"github.com/ragd/ragd/index"
)

// collName is the benchmark collection.
const collName = "bench"

// prepare opens the index in dir and makes sure it holds collection
// "bench" with n documents of dimension dim, loading them when the
// collection is missing; then it closes the index, so that a server can
// open the folder.
func prepare(dir string, n, dim int, cfg index.Config) error {
	ctx := context.Background()
	ix, err := index.Open(dir, cfg)
	if err != nil {
		return err
	}
	c, err := ix.Collection(collName)
	if err == nil {
		cnt, err := c.Count(ctx)
		if err != nil {
			return closeWith(ix, err)
		}
		if cnt != n || c.Config().Dimension != dim {
			return closeWith(ix, fmt.Errorf("%s holds %d documents of dimension %d; want %d of %d (use another -dir)", dir, cnt, c.Config().Dimension, n, dim))
		}
		logf("reusing %d documents × %d-d in %s", n, dim, dir)
		return ix.Close()
	}
	c, err = ix.CreateCollection(ctx, index.CollectionConfig{
		Name: collName, Dimension: dim, Embedder: index.EmbedderConfig{Provider: "none"},
	})
	if err != nil {
		return closeWith(ix, err)
	}
	start := time.Now()
	const batch = 256
	docs := make([]index.Document, 0, batch)
	for i := range n {
		docs = append(docs, synth.Document(i, dim))
		if len(docs) == batch || i == n-1 {
			if _, err := c.Upsert(ctx, docs); err != nil {
				return closeWith(ix, err)
			}
			docs = docs[:0]
		}
		if (i+1)%20000 == 0 {
			logf("loaded %d documents (%.0f s)", i+1, time.Since(start).Seconds())
		}
	}
	logf("loaded %d documents × %d-d in %.1f s", n, dim, time.Since(start).Seconds())
	t0 := time.Now()
	if err := ix.Close(); err != nil {
		return err
	}
	logf("closed the index (graph snapshot written) in %.1f s", time.Since(t0).Seconds())
	return nil
}

func closeWith(ix *index.Index, err error) error {
	if cerr := ix.Close(); cerr != nil {
		return fmt.Errorf("%w (and close: %v)", err, cerr)
	}
	return err
}

// queries holds one query pool in the three forms the transports send:
// the same vector, text, mode and k in each.
type queries struct {
	inproc []index.SearchRequest
	grpc   []*ragv1.SearchRequest
	rest   [][]byte // JSON bodies
}

// restSearch is the REST search body (the collection is in the path).
type restSearch struct {
	Query  string    `json:"query,omitempty"`
	Vector []float32 `json:"vector"`
	Mode   string    `json:"mode"`
	K      int       `json:"k"`
}

// makeQueries builds n queries against a collection of docs documents:
// query i takes the vector of a random document and, in hybrid mode,
// three words of its text.
func makeQueries(n, docs, dim int, mode index.Mode, k int) (*queries, error) {
	rng := rand.New(rand.NewPCG(2026, 11))
	q := &queries{}
	for range n {
		d := synth.Document(rng.IntN(docs), dim)
		text := ""
		if mode == index.ModeHybrid {
			ws := strings.Fields(d.Text)
			text = ws[rng.IntN(len(ws))] + " " + ws[rng.IntN(len(ws))] + " " + ws[rng.IntN(len(ws))]
		}
		q.inproc = append(q.inproc, index.SearchRequest{Vector: d.Vector, Text: text, Mode: mode, K: k})
		q.grpc = append(q.grpc, &ragv1.SearchRequest{Collection: collName, Query: text, Vector: d.Vector, Mode: string(mode), K: int32(k)})
		b, err := json.Marshal(restSearch{Query: text, Vector: d.Vector, Mode: string(mode), K: k})
		if err != nil {
			return nil, err
		}
		q.rest = append(q.rest, b)
	}
	return q, nil
}
