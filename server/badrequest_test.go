package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// badRequestLimits are small limits, so that every limit can be crossed
// with a small request.
var badRequestLimits = Limits{MaxBodyBytes: 1 << 20, MaxBatch: 10, MaxK: 100, MaxTextBytes: 4096,
	MaxQueryBytes: 1024, MaxMetadataBytes: 2048, MaxFilterDepth: 4, MaxBatchSearches: 3}

// badRequestKeys are the keys of the server of the auth cases.
var badRequestKeys = []APIKey{
	{Name: "reader", Role: RoleRead, Key: "read-key-0123456789"},
	{Name: "writer", Role: RoleWrite, Key: "write-key-0123456789"},
	{Name: "admin", Role: RoleAdmin, Key: "admin-key-0123456789"},
}

// badCase is one bad request and the error it must get.
type badCase struct {
	name    string
	auth    bool // send to the server with API keys
	method  string
	path    string
	body    string // sent as is; empty: no body
	chunked bool   // send the body without a Content-Length
	follow  bool   // follow a redirect
	headers []string
	status  int
	msg     string // a substring of the error message
	notMsg  string // a string the error message must not contain
}

// rawSend sends a request, following a redirect only when the case says
// so: what the server answers is what the test sees.
func rawSend(t *testing.T, base string, c badCase) (int, []byte) {
	t.Helper()
	var r io.Reader
	if c.body != "" {
		r = strings.NewReader(c.body)
		if c.chunked {
			r = io.MultiReader(r) // hides the length: chunked encoding
		}
	}
	req, err := http.NewRequest(c.method, base+c.path, r)
	require.NoError(t, err)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range c.headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		if c.follow {
			return nil
		}
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// snapshot is every collection and every document (with vectors) of a
// server, as JSON values.
func snapshot(t *testing.T, ts *testServer, headers ...string) map[string]any {
	t.Helper()
	out := map[string]any{}
	code, list := ts.doJSON(t, http.MethodGet, "/v1/collections", nil, headers...)
	mustOK(t, code, list)
	out["collections"] = list
	colls, _ := list["collections"].([]any)
	for _, c := range colls {
		name := c.(map[string]any)["name"].(string)
		code, docs := ts.doJSON(t, http.MethodGet, "/v1/collections/"+name+"/documents?limit=1000&include_vectors=true", nil, headers...)
		mustOK(t, code, docs)
		require.Empty(t, docs["next_cursor"], "collection %s has more than a page", name)
		out["documents/"+name] = docs
	}
	return out
}

// js marshals v for a case's body.
func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// nested returns a filter nested depth levels deep (1: a plain filter).
func nested(depth int) string {
	f := `{"key":"city","match":{"value":"London"}}`
	for range depth {
		f = `{"must":[` + f + `]}`
	}
	return f
}

func TestBadRequests(t *testing.T) {
	off := false
	ts := startServer(t, func(c *Config) {
		c.Limits = badRequestLimits
		c.Embed.OpenAIEnabled = &off
	})
	as := startServer(t, func(c *Config) {
		c.Limits = badRequestLimits
		c.Embed.OpenAIEnabled = &off
		c.Auth.Keys = badRequestKeys
	})
	const (
		read  = "Authorization: Bearer read-key-0123456789"
		write = "Authorization: Bearer write-key-0123456789"
		admin = "Authorization: Bearer admin-key-0123456789"
	)

	// The data the bad requests must leave alone.
	setup := func(code int, m map[string]any) { mustOK(t, code, m) }
	setup(ts.doJSON(t, http.MethodPost, "/v1/collections", `{"name":"docs","dimension":4,"embedder":{"provider":"none"}}`))
	setup(ts.doJSON(t, http.MethodPost, "/v1/collections", `{"name":"texts"}`))
	setup(ts.doJSON(t, http.MethodPost, "/v1/collections/docs/documents", `{"documents":[
		{"id":"d1","text":"alpha one","vector":[1,0,0,0],"metadata":{"city":"London","stars":5,"tags":["go","rust"]}},
		{"id":"d2","text":"beta two","vector":[0,1,0,0],"metadata":{"city":"Paris","stars":3}},
		{"id":"d3","text":"gamma three","vector":[0,0,1,0.5],"source":"a.md","chunk":2}]}`))
	setup(ts.doJSON(t, http.MethodPost, "/v1/collections/texts/documents", `{"documents":[
		{"id":"t1","text":"the quick brown fox","metadata":{"lang":"en"}},
		{"id":"t2","text":"jumps over the lazy dog","metadata":{"lang":"en","draft":true}}]}`))
	setup(as.doJSON(t, http.MethodPost, "/v1/collections", `{"name":"docs","dimension":4,"embedder":{"provider":"none"}}`, admin))
	setup(as.doJSON(t, http.MethodPost, "/v1/collections/docs/documents", `{"documents":[{"id":"d1","vector":[1,0,0,0]}]}`, admin))
	before, beforeAuth := snapshot(t, ts), snapshot(t, as, admin)
	require.Len(t, before["documents/docs"].(map[string]any)["documents"], 3)
	require.Len(t, before["documents/texts"].(map[string]any)["documents"], 2)
	require.Len(t, beforeAuth["documents/docs"].(map[string]any)["documents"], 1)

	const (
		search = "/v1/collections/docs/search"
		upsert = "/v1/collections/docs/documents"
		del    = "/v1/collections/docs/documents:delete"
		create = "/v1/collections"
		embed  = "/v1/embeddings"
	)
	doc := func(id string) map[string]any { return map[string]any{"id": id, "vector": []float64{1, 2, 3, 4}} }
	docsOf := func(n int) string {
		ds := make([]any, n)
		for i := range ds {
			ds[i] = doc(fmt.Sprintf("b%d", i))
		}
		return js(t, map[string]any{"documents": ds})
	}
	long := strings.Repeat("a", 64)

	cases := []badCase{
		// The body's JSON.
		{name: "malformed JSON", method: "POST", path: search, body: `{"query": "alpha",, "k": 5}`, status: 400, msg: "not valid JSON"},
		{name: "truncated JSON", method: "POST", path: search, body: `{"query": "alpha", "k": 5`, status: 400, msg: "not valid JSON"},
		{name: "body an array", method: "POST", path: search, body: `[{"query": "alpha"}]`, status: 400, msg: "request body"},
		{name: "body a string", method: "POST", path: upsert, body: `"documents"`, status: 400, msg: "request body"},
		{name: "trailing data after the object", method: "POST", path: search, body: `{"query":"alpha"} {"k":1}`, status: 400, msg: "request body"},
		{name: "k as a word", method: "POST", path: search, body: `{"query":"alpha","k":"five"}`, status: 400, msg: "field k"},
		{name: "vector as a string", method: "POST", path: search, body: `{"vector":"1,0,0,0"}`, status: 400, msg: "vector"},
		{name: "metadata as a list", method: "POST", path: upsert, body: `{"documents":[{"id":"x","vector":[1,0,0,0],"metadata":["a","b"]}]}`, status: 400, msg: "metadata"},
		{name: "documents as an object", method: "POST", path: upsert, body: `{"documents":{"id":"x","vector":[1,0,0,0]}}`, status: 400, msg: "documents"},
		{name: "unknown top-level field", method: "POST", path: search, body: `{"query":"alpha","top_k":5}`, status: 400, msg: `unknown field "top_k"`, notMsg: "proto:"},
		{name: "unknown document field", method: "POST", path: upsert, body: `{"documents":[{"id":"x","vector":[1,0,0,0],"colour":"red"}]}`, status: 400, msg: `unknown field "colour"`},

		// Vectors.
		{name: "upsert vector of the wrong dimension", method: "POST", path: upsert, body: `{"documents":[{"id":"x","vector":[1,0,0]}]}`, status: 400, msg: "dimension 3"},
		{name: "search vector of the wrong dimension", method: "POST", path: search, body: `{"vector":[1,0,0,0,0]}`, status: 400, msg: "dimension"},
		{name: "upsert vector with NaN", method: "POST", path: upsert, body: `{"documents":[{"id":"x","vector":[1,"NaN",0,0]}]}`, status: 400, msg: "documents[0].vector[1]"},
		{name: "search vector with Infinity", method: "POST", path: search, body: `{"vector":[0,0,"-Infinity",1]}`, status: 400, msg: "vector[2]"},
		{name: "upsert zero vector under cosine", method: "POST", path: upsert, body: `{"documents":[{"id":"x","vector":[0,0,0,0]}]}`, status: 400, msg: "zero vector"},

		// Ids.
		{name: "blank id in the path", method: "GET", path: "/v1/collections/docs/documents/%20", status: 404, msg: `" "`},
		{name: "empty id in the path (get)", method: "GET", path: "/v1/collections/docs/documents/", status: 400, msg: "id: is empty"},
		{name: "empty id in the path (delete)", method: "DELETE", path: "/v1/collections/docs/documents/", status: 400, msg: "id: is empty"},
		{name: "id over 512 bytes in the path", method: "GET", path: "/v1/collections/docs/documents/" + strings.Repeat("i", 513), status: 400, msg: "512"},
		{name: "id over 512 bytes in the body", method: "POST", path: upsert, body: js(t, map[string]any{"documents": []any{doc(strings.Repeat("i", 600))}}), status: 400, msg: "documents[0].id"},
		{name: "id with a control character", method: "POST", path: upsert, body: `{"documents":[{"id":"a\u0001b","vector":[1,0,0,0]}]}`, status: 400, msg: "documents[0]: id contains control character", notMsg: "invalid argument"},
		{name: "duplicate ids in a batch", method: "POST", path: upsert, body: js(t, map[string]any{"documents": []any{doc("d9"), doc("d9")}}), status: 400, msg: `same id "d9"`},
		{name: "ids over the batch limit in a delete", method: "POST", path: del, body: `{"ids":["a","b","c","d","e","f","g","h","i","j","k"]}`, status: 400, msg: "batch limit of 10"},

		// Batches and texts.
		{name: "empty documents", method: "POST", path: upsert, body: `{"documents":[]}`, status: 400, msg: "documents"},
		{name: "no documents field", method: "POST", path: upsert, body: `{}`, status: 400, msg: "documents"},
		{name: "batch over the limit", method: "POST", path: upsert, body: docsOf(11), status: 400, msg: "batch limit of 10"},
		{name: "invalid UTF-8 in text", method: "POST", path: upsert, body: "{\"documents\":[{\"id\":\"x\",\"text\":\"caf\xff\",\"vector\":[1,0,0,0]}]}", status: 400, msg: "UTF-8"},
		{name: "lone surrogate escape in query", method: "POST", path: search, body: `{"query":"\ud800"}`, status: 400, msg: "request body", notMsg: "EOF"},
		{name: "invalid UTF-8 in query", method: "POST", path: search, body: "{\"query\":\"\xfe\xff\"}", status: 400, msg: "UTF-8"},
		{name: "text over the limit", method: "POST", path: upsert, body: js(t, map[string]any{"documents": []any{map[string]any{"id": "x", "text": strings.Repeat("w ", 2049)}}}), status: 400, msg: "limit of 4096"},
		{name: "query over the limit", method: "POST", path: "/v1/collections/texts/search", body: js(t, map[string]any{"query": strings.Repeat("q", 1025)}), status: 400, msg: "limit of 1024"},
		{name: "negative chunk", method: "POST", path: upsert, body: `{"documents":[{"id":"x","vector":[1,0,0,0],"chunk":-1}]}`, status: 400, msg: "documents[0].chunk"},
		{name: "text with nothing to embed", method: "POST", path: "/v1/collections/texts/documents", body: `{"documents":[{"id":"x","text":"!!! ???"}]}`, status: 400, msg: "documents[0].text"},

		// Search parameters.
		{name: "k beyond int32", method: "POST", path: search, body: `{"vector":[1,0,0,0],"k":99999999999}`, status: 400, msg: "field k"},
		{name: "negative k", method: "POST", path: search, body: `{"vector":[1,0,0,0],"k":-1}`, status: 400, msg: "k: -1 out of range [1, 100]"},
		{name: "k over the limit", method: "POST", path: search, body: `{"vector":[1,0,0,0],"k":101}`, status: 400, msg: "k: 101 out of range [1, 100]"},
		{name: "fractional k", method: "POST", path: search, body: `{"vector":[1,0,0,0],"k":2.5}`, status: 400, msg: "field k"},
		{name: "negative ef", method: "POST", path: search, body: `{"vector":[1,0,0,0],"ef":-5}`, status: 400, msg: "ef: -5"},
		{name: "ef over the limit", method: "POST", path: search, body: `{"vector":[1,0,0,0],"ef":10001}`, status: 400, msg: "ef: 10001"},
		{name: "negative depth", method: "POST", path: search, body: `{"vector":[1,0,0,0],"depth":-1}`, status: 400, msg: "depth"},
		{name: "negative rrf_k", method: "POST", path: search, body: `{"vector":[1,0,0,0],"rrf_k":-1}`, status: 400, msg: "rrf_k"},
		{name: "alpha over 1", method: "POST", path: search, body: `{"vector":[1,0,0,0],"alpha":1.5}`, status: 400, msg: "alpha"},
		{name: "alpha NaN", method: "POST", path: search, body: `{"vector":[1,0,0,0],"alpha":"NaN"}`, status: 400, msg: "alpha"},
		{name: "unknown mode", method: "POST", path: search, body: `{"vector":[1,0,0,0],"mode":"semantic"}`, status: 400, msg: "mode"},
		{name: "unknown fusion", method: "POST", path: search, body: `{"vector":[1,0,0,0],"fusion":"max"}`, status: 400, msg: "fusion"},
		{name: "batch without searches", method: "POST", path: search + ":batch", body: `{"searches":[]}`, status: 400, msg: "searches: is empty"},
		{name: "batch over the limit", method: "POST", path: search + ":batch", body: `{"searches":[{"vector":[1,0,0,0]},{"vector":[1,0,0,0]},{"vector":[1,0,0,0]},{"vector":[1,0,0,0]}]}`, status: 400, msg: "4 searches exceed the limit of 3 (--max-batch-searches)"},
		{name: "batch search with a bad k", method: "POST", path: search + ":batch", body: `{"searches":[{"vector":[1,0,0,0]},{"vector":[1,0,0,0],"k":101}]}`, status: 400, msg: "searches[1].k"},
		{name: "batch search of the wrong dimension", method: "POST", path: search + ":batch", body: `{"searches":[{"vector":[1,0,0,0]},{"vector":[1,0]}]}`, status: 400, msg: "searches[1]"},
		{name: "batch search naming another collection", method: "POST", path: search + ":batch", body: `{"searches":[{"collection":"texts","query":"fox"}]}`, status: 400, msg: `searches[0].collection: "texts" differs from the batch's "docs"`},
		{name: "batch search with a bad filter", method: "POST", path: search + ":batch", body: `{"searches":[{"vector":[1,0,0,0],"filter":{"must":[{"key":"city"}]}}]}`, status: 400, msg: "searches[0].filter"},
		{name: "batch not an object", method: "POST", path: search + ":batch", body: `[{"vector":[1,0,0,0]}]`, status: 400, msg: "request body"},
		{name: "vector mode without a vector or an embedder", method: "POST", path: search, body: `{"query":"alpha","mode":"vector"}`, status: 400, msg: "vector"},
		{name: "neither query nor vector", method: "POST", path: search, body: `{"k":3}`, status: 400, msg: "query"},
		{name: "vector mode on a query with nothing to embed", method: "POST", path: "/v1/collections/texts/search", body: `{"query":"?!","mode":"vector"}`, status: 400, msg: "query"},

		// Metadata.
		{name: "nested metadata object", method: "POST", path: upsert, body: `{"documents":[{"id":"x","vector":[1,0,0,0],"metadata":{"a":{"b":1}}}]}`, status: 400, msg: "documents[0].metadata.a"},
		{name: "metadata over the limit", method: "POST", path: upsert, body: js(t, map[string]any{"documents": []any{map[string]any{"id": "x", "vector": []int{1, 0, 0, 0}, "metadata": map[string]any{"big": strings.Repeat("m", 3000)}}}}), status: 400, msg: "limit of 2048"},
		{name: "metadata list of lists", method: "POST", path: upsert, body: `{"documents":[{"id":"x","vector":[1,0,0,0],"metadata":{"l":[[1,2]]}}]}`, status: 400, msg: "documents[0].metadata.l: a list may hold only strings, numbers and booleans"},
		{name: "metadata with an empty key", method: "POST", path: upsert, body: `{"documents":[{"id":"x","vector":[1,0,0,0],"metadata":{"":1}}]}`, status: 400, msg: "metadata"},

		// Filters.
		{name: "filter with an unknown operator", method: "POST", path: search, body: `{"vector":[1,0,0,0],"filter":{"must":[{"key":"city","regex":"^L"}]}}`, status: 400, msg: "regex"},
		{name: "filter deeper than the limit", method: "POST", path: search, body: `{"vector":[1,0,0,0],"filter":` + nested(6) + `}`, status: 400, msg: "4"},
		{name: "filter range with a word bound", method: "POST", path: search, body: `{"vector":[1,0,0,0],"filter":{"must":[{"key":"stars","range":{"gt":"many"}}]}}`, status: 400, msg: "filter.must[0].range"},
		{name: "filter not an object", method: "POST", path: search, body: `{"vector":[1,0,0,0],"filter":[1]}`, status: 400, msg: "filter"},

		// Deletes.
		{name: "delete with ids and filter", method: "POST", path: del, body: `{"ids":["d1"],"filter":{"must":[{"key":"city","match":{"value":"London"}}]}}`, status: 400, msg: "ids"},
		{name: "delete with neither ids nor filter", method: "POST", path: del, body: `{}`, status: 400, msg: "neither ids nor filter"},
		{name: "delete with an empty filter", method: "POST", path: del, body: `{"filter":{}}`, status: 400, msg: "filter"},
		{name: "delete with an empty id", method: "POST", path: del, body: `{"ids":["d1",""]}`, status: 400, msg: "ids[1]"},

		// Not found.
		{name: "search an unknown collection", method: "POST", path: "/v1/collections/nope/search", body: `{"vector":[1,0,0,0]}`, status: 404, msg: `"nope"`},
		{name: "upsert into an unknown collection", method: "POST", path: "/v1/collections/nope/documents", body: `{"documents":[{"id":"x","vector":[1,0,0,0]}]}`, status: 404, msg: `"nope"`},
		{name: "get from an unknown collection", method: "GET", path: "/v1/collections/nope/documents/d1", status: 404, msg: `"nope"`},
		{name: "get an unknown collection", method: "GET", path: "/v1/collections/nope", status: 404, msg: `"nope"`},
		{name: "drop an unknown collection", method: "DELETE", path: "/v1/collections/nope", status: 404, msg: `"nope"`},
		{name: "get an unknown document", method: "GET", path: "/v1/collections/docs/documents/missing", status: 404, msg: `"missing"`},
		{name: "get an unknown document with a slash in its id", method: "GET", path: "/v1/collections/docs/documents/dir%2Fmissing.md", status: 404, msg: `document "dir/missing.md" not found`},
		{name: "delete an unknown document", method: "DELETE", path: "/v1/collections/docs/documents/missing", status: 404, msg: `"missing"`},

		// Collection names.
		{name: "create ..", method: "POST", path: create, body: `{"name":".."}`, status: 400, msg: "name"},
		{name: "create %2e%2e", method: "POST", path: create, body: `{"name":"%2e%2e"}`, status: 400, msg: "name"},
		{name: "create an uppercase name", method: "POST", path: create, body: `{"name":"Docs2"}`, status: 400, msg: "name"},
		{name: "create a/b", method: "POST", path: create, body: `{"name":"a/b"}`, status: 400, msg: "name"},
		{name: "create a 64-character name", method: "POST", path: create, body: `{"name":"` + long + `"}`, status: 400, msg: "name"},
		{name: "create a name with a newline", method: "POST", path: create, body: `{"name":"abc\n"}`, status: 400, msg: "name"},
		{name: "create an empty name", method: "POST", path: create, body: `{"dimension":4,"embedder":{"provider":"none"}}`, status: 400, msg: "name"},
		{name: "get .. (cleaned by a redirect)", method: "GET", path: "/v1/collections/..", follow: true, status: 404, msg: "no such path: GET /v1/"},
		{name: "get %2e%2e", method: "GET", path: "/v1/collections/%2e%2e", status: 400, msg: "name"},
		{name: "get an uppercase name", method: "GET", path: "/v1/collections/DOCS", status: 400, msg: "name"},
		{name: "get a%2Fb (no route: a name holds no slash)", method: "GET", path: "/v1/collections/a%2Fb", status: 404, msg: "no such path: GET /v1/collections/a/b"},
		{name: "get a 64-character name", method: "GET", path: "/v1/collections/" + long, status: 400, msg: "name"},
		{name: "create an existing collection", method: "POST", path: create, body: `{"name":"docs","dimension":4,"embedder":{"provider":"none"}}`, status: 409, msg: `"docs" already exists`},

		// Collection settings.
		{name: "unknown embedder provider", method: "POST", path: create, body: `{"name":"c1","embedder":{"provider":"magic"}}`, status: 400, msg: "embedder.provider"},
		{name: "dimension mismatching the embedder", method: "POST", path: create, body: `{"name":"c1","dimension":5,"embedder":{"provider":"hash","dimensions":8}}`, status: 400, msg: "dimension"},
		{name: "unknown metric", method: "POST", path: create, body: `{"name":"c1","dimension":4,"metric":"hamming","embedder":{"provider":"none"}}`, status: 400, msg: "metric"},
		{name: "negative dimension", method: "POST", path: create, body: `{"name":"c1","dimension":-4,"embedder":{"provider":"none"}}`, status: 400, msg: "dimension"},
		{name: "shards over the limit", method: "POST", path: create, body: `{"name":"c1","dimension":4,"shards":1000,"embedder":{"provider":"none"}}`, status: 400, msg: "shards"},

		// Body size.
		{name: "body over the limit", method: "POST", path: upsert, body: `{"documents":[{"id":"x","text":"` + strings.Repeat("b", 1<<20) + `"}]}`, status: 413, msg: "limit of 1048576 bytes"},
		{name: "chunked body over the limit", method: "POST", path: upsert, chunked: true, body: `{"documents":[{"id":"x","text":"` + strings.Repeat("b", 1<<20) + `"}]}`, status: 413, msg: "limit of 1048576 bytes"},

		// Scan.
		{name: "scan limit over the maximum", method: "GET", path: "/v1/collections/docs/documents?limit=100000", status: 400, msg: "limit"},
		{name: "scan with an unknown query parameter", method: "GET", path: "/v1/collections/docs/documents?limt=5", status: 400, msg: `"limt"`},
		{name: "scan limit not a number", method: "GET", path: "/v1/collections/docs/documents?limit=ten", status: 400, msg: "limit"},

		// /v1/embeddings (OpenAI's error format).
		{name: "embeddings with empty input", method: "POST", path: embed, body: `{"input":[],"model":"hash"}`, status: 400, msg: "input"},
		{name: "embeddings with an empty string", method: "POST", path: embed, body: `{"input":"","model":"hash"}`, status: 400, msg: "input[0]"},
		{name: "embeddings without input", method: "POST", path: embed, body: `{"model":"hash"}`, status: 400, msg: "input"},
		{name: "embeddings with token arrays", method: "POST", path: embed, body: `{"input":[[1,2,3]],"model":"hash"}`, status: 400, msg: "token arrays"},
		{name: "embeddings with one token array", method: "POST", path: embed, body: `{"input":[1,2,3],"model":"hash"}`, status: 400, msg: "token arrays"},
		{name: "embeddings with an unknown model", method: "POST", path: embed, body: `{"input":"hi","model":"gpt-9-embed"}`, status: 404, msg: "gpt-9-embed"},
		{name: "embeddings with a bad hash model", method: "POST", path: embed, body: `{"input":"hi","model":"hash-0"}`, status: 400, msg: "hash-0"},
		{name: "embeddings with a bad encoding_format", method: "POST", path: embed, body: `{"input":"hi","model":"hash","encoding_format":"int8"}`, status: 400, msg: "encoding_format"},
		{name: "embeddings with zero dimensions", method: "POST", path: embed, body: `{"input":"hi","model":"hash","dimensions":0}`, status: 400, msg: "dimensions"},
		{name: "embeddings with an unknown field", method: "POST", path: embed, body: `{"input":"hi","model":"hash","temperature":1}`, status: 400, msg: "temperature"},
		{name: "embeddings with malformed JSON", method: "POST", path: embed, body: `{"input":"hi",`, status: 400, msg: "JSON"},

		// Paths and methods.
		{name: "unknown API path", method: "GET", path: "/v1/nothing", status: 404, msg: "/v1/nothing"},
		{name: "unknown path", method: "GET", path: "/nothing", status: 404, msg: "/nothing"},
		{name: "unknown method", method: "PUT", path: "/v1/collections/docs", body: `{}`, status: 405, msg: "PUT"},

		// Authentication and roles.
		{name: "missing API key", auth: true, method: "GET", path: "/v1/collections", status: 401, msg: "missing API key"},
		{name: "wrong API key", auth: true, method: "GET", path: "/v1/collections", headers: []string{"Authorization: Bearer wrong-key-0123456789"}, status: 401, msg: "invalid API key"},
		{name: "wrong api-key header", auth: true, method: "GET", path: "/v1/collections", headers: []string{"api-key: wrong-key-0123456789"}, status: 401, msg: "invalid API key"},
		{name: "malformed Authorization", auth: true, method: "GET", path: "/v1/collections", headers: []string{"Authorization: Basic cmVhZDprZXk="}, status: 401, msg: "Bearer"},
		{name: "Authorization without a scheme", auth: true, method: "GET", path: "/v1/collections", headers: []string{"Authorization: read-key-0123456789"}, status: 401, msg: "Bearer"},
		{name: "read key upserting", auth: true, method: "POST", path: upsert, body: `{"documents":[{"id":"x","vector":[1,0,0,0]}]}`, headers: []string{read}, status: 403, msg: `"reader"`},
		{name: "read key deleting", auth: true, method: "DELETE", path: "/v1/collections/docs/documents/d1", headers: []string{read}, status: 403, msg: `"reader"`},
		{name: "write key creating a collection", auth: true, method: "POST", path: create, body: `{"name":"c2","dimension":4,"embedder":{"provider":"none"}}`, headers: []string{write}, status: 403, msg: `"writer"`},
		{name: "write key dropping a collection", auth: true, method: "DELETE", path: "/v1/collections/docs", headers: []string{write}, status: 403, msg: `"writer"`},
		{name: "embeddings without an API key", auth: true, method: "POST", path: embed, body: `{"input":"hi","model":"hash"}`, status: 401, msg: "missing API key"},
	}
	require.GreaterOrEqual(t, len(cases), 45)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := ts
			if c.auth {
				srv = as
			}
			code, body := rawSend(t, srv.url, c)
			require.Less(t, code, 500, "server error: %s", body)
			require.Equal(t, c.status, code, "body %s", body)
			var m map[string]any
			require.NoError(t, json.Unmarshal(body, &m), "body %q is not JSON", body)
			if strings.HasPrefix(c.path, embed) {
				e, ok := m["error"].(map[string]any)
				require.True(t, ok, "body %s is not an OpenAI error", body)
				require.Contains(t, e["message"], c.msg)
				require.Contains(t, e, "type")
				return
			}
			msg, ok := m["message"].(string)
			require.True(t, ok, "body %s has no message", body)
			require.Contains(t, msg, c.msg)
			if c.notMsg != "" {
				require.NotContains(t, msg, c.notMsg)
			}
			require.EqualValues(t, httpCodeOf(t, c.status), m["code"], "body %s", body)
		})
	}

	require.Equal(t, before, snapshot(t, ts), "bad requests changed the data")
	require.Equal(t, beforeAuth, snapshot(t, as, admin), "bad requests changed the data of the server with keys")
}

// httpCodeOf is the gRPC code the REST error body of an HTTP status
// carries.
func httpCodeOf(t *testing.T, status int) float64 {
	t.Helper()
	switch status {
	case 400:
		return 3 // InvalidArgument
	case 401:
		return 16 // Unauthenticated
	case 403:
		return 7 // PermissionDenied
	case 404:
		return 5 // NotFound
	case 405:
		return 12 // Unimplemented
	case 409:
		return 6 // AlreadyExists
	case 413:
		return 8 // ResourceExhausted
	}
	t.Fatalf("no gRPC code for HTTP %d", status)
	return 0
}
