package embed_test

import (
	"context"
	"fmt"

	"github.com/ragd/ragd/embed"
)

func ExampleNewHash() {
	h, err := embed.NewHash(embed.HashConfig{Dimension: 64})
	if err != nil {
		panic(err)
	}
	vs, err := h.Embed(context.Background(), []string{
		"heat transfer in a supersonic boundary layer",
		"supersonic boundary layer heat transfer",
		"buckling of cylindrical shells",
	})
	if err != nil {
		panic(err)
	}
	dot := func(a, b []float32) (s float32) {
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	fmt.Println(h.Model(), h.Dimension(), len(vs))
	fmt.Println(dot(vs[0], vs[1]) > dot(vs[0], vs[2]))

	_, err = h.Embed(context.Background(), []string{"..."})
	fmt.Println(err)
	// Output:
	// hash-64 64 3
	// true
	// embed: text has no features: text 0
}
