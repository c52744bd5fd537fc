package index_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/index/filter"
)

// A collection of three documents searched by vector and keywords together,
// under a metadata filter; each hit says how each leg ranked it.
func Example() {
	dir, err := os.MkdirTemp("", "ragd-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	ix, err := index.Open(dir, index.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer ix.Close()
	c, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "notes", Dimension: 3, Metric: index.Cosine})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Upsert(ctx, []index.Document{
		{ID: "a", Text: "Otters sleep in dens by the river.", Vector: []float32{1, 0, 0}, Metadata: map[string]any{"lang": "en", "year": 2021}},
		{ID: "b", Text: "Herons hunt fish in shallow rivers.", Vector: []float32{0.9, 0.1, 0}, Metadata: map[string]any{"lang": "en", "year": 2024}},
		{ID: "c", Text: "Les loutres dorment près de la rivière.", Vector: []float32{1, 0.05, 0}, Metadata: map[string]any{"lang": "fr", "year": 2023}},
	})
	if err != nil {
		log.Fatal(err)
	}
	f, err := filter.Parse([]byte(`{"must": [{"key": "lang", "match": {"value": "en"}}]}`))
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Search(ctx, index.SearchRequest{
		Vector: []float32{1, 0, 0},
		Text:   "where do otters sleep",
		K:      2,
		Filter: f,
		Fusion: index.FusionRRF,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range res.Hits {
		fmt.Printf("%s vector rank %d, text rank %d: %s\n", h.ID, h.Ranks.Vector, h.Ranks.Text, h.Text)
	}
	// Output:
	// a vector rank 1, text rank 1: Otters sleep in dens by the river.
	// b vector rank 2, text rank 0: Herons hunt fish in shallow rivers.
}
