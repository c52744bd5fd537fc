package rag_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/rag"
	"github.com/ragd/ragd/rag/chattest"
)

// A question answered from a collection by an OpenAI-compatible endpoint
// (here a fake that answers with citations), the answer streamed.
func ExampleEngine_Ask() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ragd-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ix, err := index.Open(dir, index.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer ix.Close()
	c, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "notes"}) // text only
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Upsert(ctx, []index.Document{
		{ID: "otters", Text: "Otters sleep in dens, called holts, by the river.", Source: "otters.md"},
		{ID: "herons", Text: "Herons hunt fish in shallow water.", Source: "herons.md"},
	})
	if err != nil {
		log.Fatal(err)
	}

	llm := chattest.New(chattest.Config{Answer: chattest.Fixed("Otters sleep in holts [1].")})
	defer llm.Close()
	e, err := rag.New(rag.Config{BaseURL: llm.BaseURL(), Model: "gpt-4o-mini"})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	var deltas []string
	res, err := e.Ask(ctx, c, rag.Request{Question: "Where do otters sleep?", Stream: true}, func(delta string) error {
		deltas = append(deltas, delta) // a server writes and flushes an SSE event here
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", deltas)
	fmt.Println(res.Answer)
	for _, ci := range res.Citations {
		fmt.Printf("[%d] %s (%s)\n", ci.N, ci.ID, ci.Source)
	}
	// Output:
	// ["Otters " "sleep " "in " "holts " "[1]."]
	// Otters sleep in holts [1].
	// [1] otters (otters.md)
}

// Without an LLM, Ask returns the passages it would have given one.
func ExampleEngine_Ask_noLLM() {
	e, err := rag.New(rag.Config{})
	if err != nil {
		log.Fatal(err)
	}
	s := searcher{{Document: index.Document{ID: "otters", Text: "Otters sleep in holts."}, Score: 0.9}}
	res, err := e.Ask(context.Background(), s, rag.Request{Question: "Where do otters sleep?"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Note == rag.NoteNoLLM, len(res.Passages), res.Passages[0].ID)
	// Output:
	// true 1 otters
}

// searcher is a Searcher of fixed hits.
type searcher []index.Hit

func (s searcher) Search(context.Context, index.SearchRequest) (*index.SearchResponse, error) {
	return &index.SearchResponse{Hits: s}, nil
}
