package local_test

import (
	"context"
	"fmt"

	"github.com/ragd/ragd/embed/local"
)

func ExampleNew() {
	m, err := local.New(local.Config{})
	if err != nil {
		panic(err)
	}
	vs, err := m.Embed(context.Background(), []string{
		"How old are you?",
		"What is your age?",
		"The cat sat on the mat.",
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
	fmt.Println(m.Model(), m.Dimension(), len(vs))
	fmt.Printf("%.2f %.2f\n", dot(vs[0], vs[1]), dot(vs[0], vs[2]))
	fmt.Println(m.Tokenize("How old are you?"))

	_, err = m.Embed(context.Background(), []string{" "})
	fmt.Println(err)
	// Output:
	// use-lite-2 512 3
	// 0.85 0.02
	// [728 446 31 19 54]
	// embed: text has no features: text 0
}
