package hnsw_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/ragd/ragd/hnsw"
)

func Example() {
	g, err := hnsw.New(hnsw.Config{Dim: 2, Metric: hnsw.L2})
	if err != nil {
		panic(err)
	}
	points := [][]float32{{0, 0}, {1, 0}, {0, 1}, {5, 5}}
	for key, p := range points {
		if err := g.Add(uint32(key), p); err != nil {
			panic(err)
		}
	}
	res, err := g.Search([]float32{0.9, 0.1}, 2, 0, nil)
	if err != nil {
		panic(err)
	}
	for _, r := range res {
		fmt.Printf("key %d at squared distance %.2f\n", r.Key, r.Dist)
	}
	// Output:
	// key 1 at squared distance 0.02
	// key 0 at squared distance 0.82
}

func ExampleGraph_Search_filtered() {
	g, _ := hnsw.New(hnsw.Config{Dim: 2, Metric: hnsw.Cosine})
	for key, p := range [][]float32{{1, 0}, {1, 0.1}, {0, 1}, {0.1, 1}} {
		_ = g.Add(uint32(key), p)
	}
	// Only keys 2 and 3 may be returned; a *roaring.Bitmap is an AllowList.
	allow := roaring.BitmapOf(2, 3)
	res, _ := g.Search([]float32{1, 0}, 1, 0, allow)
	fmt.Println(res[0].Key)
	// Output: 3
}

func ExampleGraph_Delete() {
	g, _ := hnsw.New(hnsw.Config{Dim: 1, Metric: hnsw.L2})
	for key := range 4 {
		_ = g.Add(uint32(key), []float32{float32(key)})
	}
	_ = g.Delete(0) // gone from results at once
	res, _ := g.Search([]float32{0}, 1, 0, nil)
	fmt.Println(res[0].Key, g.Len())
	fmt.Println(g.Compact(), "slot reclaimed")
	// Output:
	// 1 3
	// 1 slot reclaimed
}

func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "hnsw")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "graph.hnsw")

	g, _ := hnsw.New(hnsw.Config{Dim: 3, Metric: hnsw.Dot})
	_ = g.Add(7, []float32{1, 2, 3})
	// The app data travels with the snapshot, e.g. the last change-log
	// sequence the graph contains.
	if err := g.Save(path, []byte("seq=41")); err != nil {
		panic(err)
	}
	h, app, err := hnsw.Load(path)
	if err != nil {
		panic(err) // a *hnsw.CorruptionError if the file is damaged
	}
	fmt.Println(h.Len(), string(app))
	// Output: 1 seq=41
}
