package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/ragd/ragd/server"
)

// Example starts a server on free loopback ports, creates a collection,
// stores two documents and searches them over REST.
func Example() {
	dir, err := os.MkdirTemp("", "ragd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := server.New(server.Config{
		DataDir:  dir,
		HTTPAddr: "127.0.0.1:0",
		GRPCAddr: "127.0.0.1:0",
		// The hash embedder keeps the example fast; the default is the
		// built-in model (ProviderLocal).
		Embed: server.EmbedConfig{Default: server.ProviderHash},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Start(); err != nil {
		log.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if err := s.WaitReady(context.Background()); err != nil {
		log.Fatal(err)
	}

	client := &http.Client{}
	defer client.CloseIdleConnections()
	post := func(path, body string) map[string]any {
		resp, err := client.Post("http://"+s.HTTPAddr()+path, "application/json", strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			log.Fatal(err)
		}
		return m
	}
	post("/v1/collections", `{"name": "notes"}`)
	post("/v1/collections/notes/documents", `{"documents": [
		{"id": "otters", "text": "Sea otters hold hands while they sleep."},
		{"id": "rust", "text": "Rust has no garbage collector."}]}`)
	res := post("/v1/collections/notes/search", `{"query": "how do sea otters sleep", "k": 1}`)
	for _, r := range res["results"].([]any) {
		fmt.Println(r.(map[string]any)["id"])
	}
	// Output: otters
}
