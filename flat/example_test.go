package flat_test

import (
	"context"
	"fmt"

	"github.com/ragd/ragd/flat"
)

// Search a slab the caller owns: four 2-d points, two queries, the two
// nearest of each by squared Euclidean distance.
func ExampleEngine_Search() {
	e, err := flat.New(flat.Config{Threads: 1})
	if err != nil {
		panic(err)
	}
	slab := []float32{0, 0, 1, 0, 0, 2, 3, 3}
	req := &flat.Request{
		Vectors: flat.Slab(slab, 2),
		Metric:  flat.L2,
		Queries: []float32{0.9, 0.1, 2, 2},
		K:       2,
	}
	var resp flat.Response
	if err := e.Search(context.Background(), req, &resp); err != nil {
		panic(err)
	}
	for i := range 2 {
		for _, h := range resp.Hits(i) {
			fmt.Printf("query %d: row %d at %.2f\n", i, h.ID, h.Dist)
		}
	}
	// Output:
	// query 0: row 1 at 0.02
	// query 0: row 0 at 0.82
	// query 1: row 3 at 2.00
	// query 1: row 2 at 4.00
}

// A filtered search: only the rows of the allow-list (a *roaring.Bitmap
// works the same) are considered.
func ExampleRequest_allow() {
	e, _ := flat.New(flat.Config{Threads: 1})
	slab := []float32{0, 0, 1, 0, 0, 2, 3, 3}
	req := &flat.Request{
		Vectors: flat.Slab(slab, 2), Metric: flat.L2, Queries: []float32{0.9, 0.1}, K: 5,
		Allow: flat.IDs{0, 3},
	}
	var resp flat.Response
	_ = e.Search(context.Background(), req, &resp)
	for _, h := range resp.Hits(0) {
		fmt.Printf("row %d at %.2f\n", h.ID, h.Dist)
	}
	// Output:
	// row 0 at 0.82
	// row 3 at 12.82
}

// An Index owns its vectors, as FAISS's IndexFlat does: add, delete, search.
func ExampleIndex() {
	x, err := flat.NewIndex(flat.IndexConfig{Dim: 2, Metric: flat.Dot})
	if err != nil {
		panic(err)
	}
	first, _ := x.Add([]float32{1, 0, 0, 1, 0.7, 0.7})
	_ = x.Delete(first + 2)
	var resp flat.Response
	_ = x.Search(context.Background(), []float32{1, 0.5}, 2, nil, &resp)
	fmt.Println(resp.Hits(0))
	// Output: [{0 -1} {1 -0.5}]
}
