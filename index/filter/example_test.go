package filter_test

import (
	"fmt"

	"github.com/ragd/ragd/index/filter"
)

func ExampleIndex_Eval() {
	ix := filter.New()
	docs := []string{
		0: `{"city": "London", "price": 12.5, "tags": ["go", "db"], "published": "2024-03-01T09:00:00Z"}`,
		1: `{"city": "Paris", "price": 40, "tags": ["rust"], "published": "2023-11-20T18:30:00+01:00"}`,
		2: `{"city": "London", "price": 99, "draft": true}`,
	}
	for num, md := range docs {
		if err := ix.Add(uint32(num), []byte(md)); err != nil {
			panic(err)
		}
	}
	f, err := filter.Parse([]byte(`{
		"must": [{"key": "published", "range": {"gte": "2023-01-01T00:00:00Z"}}],
		"should": [{"key": "city", "match": {"value": "London"}}, {"key": "price", "range": {"gt": 30}}],
		"must_not": [{"key": "draft", "match": {"value": true}}]
	}`))
	if err != nil {
		panic(err)
	}
	hits, err := ix.Eval(f, nil) // nil: every indexed document is the universe
	if err != nil {
		panic(err)
	}
	fmt.Println(hits.ToArray())
	// Output: [0 1]
}

func ExampleParse() {
	_, err := filter.Parse([]byte(`{"must": [{"key": "a", "exists": true}, {"key": "price", "range": {"gt": 1, "gte": 2}}]}`))
	fmt.Println(err)
	// Output: filter: must[1].range: gt and gte both given
}
