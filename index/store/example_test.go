package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ragd/ragd/index/store"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ragd-store-example")
	defer os.RemoveAll(dir)
	s, err := store.Open(filepath.Join(dir, "shard-0.db"), store.Config{})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	ctx := context.Background()
	changes, err := s.Apply(ctx, []store.Op{
		{Kind: store.OpPut, Doc: store.Doc{ID: "intro", Text: "ragd finds passages.", Vector: []float32{0.1, 0.9}}},
		{Kind: store.OpPut, Doc: store.Doc{ID: "setup", Text: "Run go run ./cmd/ragd."}},
		{Kind: store.OpDelete, ID: "missing"},
	})
	if err != nil {
		panic(err)
	}
	for _, c := range changes {
		fmt.Printf("seq %d: %s %q num %d\n", c.Seq, c.Kind, c.ID, c.Num)
	}

	// Replace "intro": it keeps its number.
	changes, _ = s.Apply(ctx, []store.Op{{Kind: store.OpPut, Doc: store.Doc{ID: "intro", Text: "ragd finds and cites passages."}}})
	fmt.Printf("seq %d: replaced=%v num %d\n", changes[0].Seq, changes[0].Existed, changes[0].Num)

	// Load the payloads of search hits, by number, in one snapshot.
	_ = s.View(func(r *store.Reader) error {
		for _, num := range []uint32{2, 1} {
			d, ok, err := r.GetByNum(num)
			if err != nil {
				return err
			}
			fmt.Println(num, ok, d.ID, d.Text)
		}
		return nil
	})

	// A derived index replays the log after the last sequence it holds.
	_ = s.Changes(2, func(c store.Change) error {
		fmt.Printf("replay seq %d: %s num %d\n", c.Seq, c.Kind, c.Num)
		return nil
	})
	// Output:
	// seq 1: put "intro" num 1
	// seq 2: put "setup" num 2
	// seq 0: delete "missing" num 0
	// seq 3: replaced=true num 1
	// 2 true setup Run go run ./cmd/ragd.
	// 1 true intro ragd finds and cites passages.
	// replay seq 3: put num 1
}

func ExampleCatalog() {
	dir, _ := os.MkdirTemp("", "ragd-catalog-example")
	defer os.RemoveAll(dir)
	c, err := store.OpenCatalog(filepath.Join(dir, "catalog.db"), store.Config{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_ = c.Put("manuals", []byte(`{"dim":384,"metric":"cosine"}`))
	_ = c.Put("faq", []byte(`{"dim":768,"metric":"dot"}`))
	names, _ := c.List()
	v, ok, _ := c.Get("manuals")
	fmt.Println(names, ok, string(v))
	// Output:
	// [faq manuals] true {"dim":384,"metric":"cosine"}
}
