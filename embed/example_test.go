package embed_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/openaitest"
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

func ExampleNewOpenAI() {
	// A fake OpenAI-compatible endpoint; in production BaseURL is
	// https://api.openai.com/v1 (the default), http://localhost:11434/v1
	// for Ollama, and so on, and the key comes from $OPENAI_API_KEY.
	srv := openaitest.New(openaitest.Config{Dimension: 4})
	defer srv.Close()

	o, err := embed.NewOpenAI(embed.OpenAIConfig{
		BaseURL: srv.BaseURL(),
		Model:   "text-embedding-3-small",
		APIKey:  "sk-example",
	})
	if err != nil {
		panic(err)
	}
	defer o.Close()
	vs, err := o.Embed(context.Background(), []string{"first passage", "second passage"})
	if err != nil {
		panic(err)
	}
	fmt.Println(o.Model(), o.Dimension(), len(vs), len(vs[1]))
	fmt.Println(embed.OpenAIConfig{APIKey: "sk-example"}.APIKey)
	// Output:
	// text-embedding-3-small 4 2 4
	// [redacted]
}

func ExampleNewPool() {
	h, err := embed.NewHash(embed.HashConfig{Dimension: 8})
	if err != nil {
		panic(err)
	}
	p, err := embed.NewPool(h, embed.PoolConfig{})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	// Concurrent callers share batches; each gets its own vectors, in order.
	vs, err := p.Embed(context.Background(), []string{"wing lift", "wing lift", "boundary layer"})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(vs), slices.Equal(vs[0], vs[1]), slices.Equal(vs[0], vs[2]))

	_ = p.Close()
	_, err = p.Embed(context.Background(), []string{"too late"})
	fmt.Println(err)
	// Output:
	// 3 true false
	// embed: closed
}

func ExampleWithPriority() {
	h, err := embed.NewHash(embed.HashConfig{Dimension: 8})
	if err != nil {
		panic(err)
	}
	p, err := embed.NewPool(h, embed.PoolConfig{})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	// A search marks the embedding of its query: it passes queued bulk work.
	ctx := embed.WithPriority(context.Background(), embed.PriorityQuery)
	vs, err := p.Embed(ctx, []string{"how is lift measured"})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(vs), embed.PriorityFrom(ctx), embed.PriorityFrom(context.Background()))
	// Output:
	// 1 query bulk
}

func ExampleOpenCache() {
	srv := openaitest.New(openaitest.Config{})
	defer srv.Close()
	o, err := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: srv.BaseURL(), Dimensions: 8})
	if err != nil {
		panic(err)
	}
	defer o.Close()

	dir, err := os.MkdirTemp("", "ragd-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	cache, err := embed.OpenCache(filepath.Join(dir, "embed-cache.db"), embed.CacheConfig{MaxBytes: 64 << 20})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	e := cache.Wrap(o)
	for range 3 { // re-ingesting unchanged text
		if _, err := e.Embed(context.Background(), []string{"unchanged text"}); err != nil {
			panic(err)
		}
	}
	fmt.Println("requests:", srv.Requests(), "entries:", cache.Stats().Entries)
	// Output:
	// requests: 1 entries: 1
}
