package text_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ragd/ragd/index/text"
)

// Two shards of one collection: statistics from both, then each shard's
// best documents under the collection-wide statistics.
func Example() {
	dir, err := os.MkdirTemp("", "text-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	var shards []*text.Index
	for _, name := range []string{"shard0", "shard1"} {
		ix, err := text.Open(filepath.Join(dir, name), text.DefaultConfig())
		if err != nil {
			log.Fatal(err)
		}
		defer ix.Close()
		shards = append(shards, ix)
	}
	err = shards[0].Apply(1, []text.Doc{
		{Num: 1, Text: "Heat transfer in laminar boundary layers."},
		{Num: 2, Text: "Wind tunnel tests of a swept wing."},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	err = shards[1].Apply(1, []text.Doc{
		{Num: 1, Text: "Boundary layer suction on a wing reduces drag."},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}

	terms := shards[0].Terms("wings and boundary layers")
	fmt.Println(terms)
	var global text.Stats
	for _, ix := range shards {
		st, err := ix.Stats(terms)
		if err != nil {
			log.Fatal(err)
		}
		global.Add(st)
	}
	for i, ix := range shards {
		hits, err := ix.Search(terms, global, 10, nil)
		if err != nil {
			log.Fatal(err)
		}
		for _, h := range hits {
			fmt.Printf("shard %d doc %d %.4f\n", i, h.Num, h.Score)
		}
	}
	// Output:
	// [wing boundari layer]
	// shard 0 doc 1 0.9647
	// shard 0 doc 2 0.4823
	// shard 1 doc 1 1.3414
}
