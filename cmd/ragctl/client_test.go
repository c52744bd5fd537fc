package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/rag"
	"github.com/ragd/ragd/rag/chattest"
	"github.com/ragd/ragd/server"
)

// mode is one way ragctl reaches ragd; every test of the table runs in
// each.
type mode struct {
	name  string
	flags []string // global flags before the subcommand
}

// modes starts what each mode needs: a server on loopback (reached over
// gRPC, and over REST), and a data folder opened in process. llm, when
// set, answers asks in all of them.
func modes(t *testing.T, llm *chattest.Server) []mode {
	t.Helper()
	var llmCfg rag.Config
	var llmFlags []string
	if llm != nil {
		llmCfg = rag.Config{BaseURL: llm.BaseURL(), Model: "gpt-4o-mini"}
		llmFlags = []string{"--llm-base-url", llm.BaseURL(), "--llm-model", "gpt-4o-mini"}
	}
	start := func() *server.Server {
		s, err := server.New(server.Config{
			DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
			Index: index.Config{NoSync: true, SnapshotInterval: -1},
			Embed: server.EmbedConfig{Default: server.ProviderHash}, LLM: llmCfg,
		})
		require.NoError(t, err)
		require.NoError(t, s.Start())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, s.WaitReady(ctx))
		t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
		return s
	}
	g, r := start(), start()
	return []mode{
		{"grpc", []string{"--server", "http://" + g.HTTPAddr(), "--grpc-addr", g.GRPCAddr(), "--transport", "grpc"}},
		{"rest", []string{"--server", "http://" + r.HTTPAddr(), "--transport", "rest"}},
		{"data", append([]string{"--data", t.TempDir()}, llmFlags...)},
	}
}

// result is what one ragctl run did.
type result struct {
	code           int
	stdout, stderr string
}

// ragctl runs the command in process with global flags m and args.
func (m mode) ragctl(t *testing.T, args ...string) result {
	t.Helper()
	return m.ragctlIn(t, "", args...)
}

// ragctlIn is ragctl with stdin.
func (m mode) ragctlIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd()
	all := append([]string{}, m.flags...)
	// The --llm-* flags of data mode belong to ask.
	var llm []string
	for i := 0; i < len(all); i++ {
		if strings.HasPrefix(all[i], "--llm-") {
			llm = append(llm, all[i], all[i+1])
			all = append(all[:i], all[i+2:]...)
			i--
		}
	}
	all = append(all, args...)
	if len(args) > 0 && args[0] == "ask" {
		all = append(all, llm...)
	}
	cmd.SetArgs(all)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("ragctl: " + err.Error() + "\n")
	}
	return result{code: exitCode(err), stdout: out.String(), stderr: errb.String()}
}

func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &m), "stdout %s\nstderr %s", r.stdout, r.stderr)
	return m
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	require.Equal(t, 0, r.code, "stdout %s\nstderr %s", r.stdout, r.stderr)
	return r
}

// corpus writes a small folder of documents of every format, with the
// bad files a real folder has.
func corpus(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"docs/guide.md": `---
title: The otter guide
tags: [animals, water]
---
# The otter guide

Otters are semi-aquatic mammals.

## Sleep

Sea otters hold hands while they sleep so that they do not drift apart. A group of resting otters is called a raft.

## Food

They eat sea urchins, crabs and clams, and use stones as tools to open shells.
`,
		"docs/api.html": `<!doctype html><html><head><title>Channels</title><script>var tracking = 1;</script></head>
<body><nav><a href="/">Home</a> | <a href="/blog">Blog</a></nav><main><h1>Channels</h1>
<p>Goroutines communicate over channels; do not communicate by sharing memory.</p>
<pre>ch := make(chan int)</pre></main><footer>Copyright</footer></body></html>`,
		"docs/notes.txt":      "Bison graze on the prairie in large herds.\n\nThey can run at fifty kilometres an hour.\n",
		"docs/data.jsonl":     `{"id": "sku-1", "text": "A waterproof jacket for rainy hikes.", "category": "clothing"}` + "\n" + `{"id": "sku-2", "text": "A titanium camping stove that boils water fast.", "category": "gear"}` + "\n",
		"docs/image.png":      "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89",
		"docs/empty.md":       "",
		"docs/broken.jsonl":   `{"id": "x", "text": "fine"}` + "\n" + `{"id": "y", "text": }` + "\n",
		"docs/.hidden/s.md":   "a secret",
		"docs/nested/lynx.md": "# Lynx\n\nThe lynx hunts snowshoe hares in winter forests.\n",
	}
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(c), 0o644))
	}
	return dir
}

// ingestJSON runs ingest with --json and returns its summary.
func (m mode) ingestJSON(t *testing.T, wantCode int, args ...string) ingestSummary {
	t.Helper()
	r := m.ragctl(t, append([]string{"ingest", "--json", "--progress", "none"}, args...)...)
	require.Equal(t, wantCode, r.code, "stdout %s\nstderr %s", r.stdout, r.stderr)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &raw), r.stdout)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"files_ok", "files_skipped", "files_failed", "chunks_written", "chunks_deleted", "tokens", "seconds", "failures"}, keys)
	var s ingestSummary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &s))
	return s
}

func TestModes(t *testing.T) {
	dir := corpus(t)
	docs := filepath.Join(dir, "docs")
	var searches [][]string
	for _, m := range modes(t, nil) {
		t.Run(m.name, func(t *testing.T) {
			// Collections.
			r := m.ragctl(t, "collections", "create", "kb", "--embedder", "hash", "--shards", "2", "--json").ok(t)
			require.Equal(t, "kb", r.json(t)["name"])
			require.EqualValues(t, 2, r.json(t)["shards"])
			r = m.ragctl(t, "collections", "create", "kb", "--embedder", "hash")
			require.Equal(t, exitFailure, r.code)
			require.Contains(t, r.stderr, "already exists")
			m.ragctl(t, "collections", "create", "kb", "--if-not-exists").ok(t)
			r = m.ragctl(t, "collections", "get", "nope")
			require.Equal(t, exitFailure, r.code)
			require.Contains(t, r.stderr, `collection "nope" not found`)
			r = m.ragctl(t, "collections", "create", "Bad Name!")
			require.Equal(t, exitFailure, r.code)
			require.Contains(t, r.stderr, "not a collection name")
			r = m.ragctl(t, "collections", "create")
			require.Equal(t, exitUsage, r.code)
			r = m.ragctl(t, "search", "otters")
			require.Equal(t, exitUsage, r.code)
			require.Contains(t, r.stderr, "--collection is required")
			r = m.ragctl(t, "collections", "list", "--no-such-flag")
			require.Equal(t, exitUsage, r.code)

			// Ingest: 5 files loaded, the binary skipped, 2 bad files failed.
			s := m.ingestJSON(t, exitPartial, docs, "--collection", "kb", "--root", dir)
			require.Equal(t, 5, s.FilesOK, "%+v", s)
			require.Equal(t, 1, s.FilesSkipped, "%+v", s)
			require.Equal(t, 2, s.FilesFailed, "%+v", s)
			require.Greater(t, s.ChunksWritten, 5)
			require.Greater(t, s.Tokens, 50)
			require.Len(t, s.Failures, 2)
			require.Equal(t, "docs/broken.jsonl", s.Failures[0].Path)
			require.Contains(t, s.Failures[0].Error, "line 2")
			require.Equal(t, "docs/empty.md", s.Failures[1].Path)
			written := s.ChunksWritten
			list := m.ragctl(t, "collections", "list", "--json").ok(t).json(t)
			require.EqualValues(t, written, list["collections"].([]any)[0].(map[string]any)["documents"])

			// A second run writes nothing.
			s = m.ingestJSON(t, exitPartial, docs, "--collection", "kb", "--root", dir)
			require.Equal(t, 0, s.FilesOK)
			require.Equal(t, 6, s.FilesSkipped)
			require.Equal(t, 0, s.ChunksWritten)

			// Search finds the passage; the JSON is the server's response.
			r = m.ragctl(t, "search", "why do otters hold hands", "--collection", "kb", "--json", "--k", "3").ok(t)
			res := r.json(t)["results"].([]any)
			require.NotEmpty(t, res)
			top := res[0].(map[string]any)
			require.Contains(t, top["text"], "Sea otters hold hands")
			md := top["metadata"].(map[string]any)
			require.Equal(t, "docs/guide.md", md["source"])
			require.Equal(t, "The otter guide", md["title"])
			require.Equal(t, "The otter guide > Sleep", md["heading"])
			require.Len(t, md["hash"], 24)
			require.Contains(t, md, "offset")
			var ids []string
			for _, h := range res {
				ids = append(ids, h.(map[string]any)["id"].(string))
			}
			searches = append(searches, ids)
			r = m.ragctl(t, "search", "why do otters hold hands", "--collection", "kb").ok(t)
			require.Contains(t, r.stdout, " 1. ")
			require.Contains(t, r.stdout, "docs/guide.md › The otter guide > Sleep")
			r = m.ragctl(t, "search", "jacket", "-c", "kb", "--mode", "text", "--filter", `{"must": [{"key": "category", "match": {"value": "clothing"}}]}`, "--json").ok(t)
			require.Equal(t, "sku-1", r.json(t)["results"].([]any)[0].(map[string]any)["id"])
			r = m.ragctl(t, "search", "x", "-c", "kb", "--filter", `{"must": `)
			require.Equal(t, exitUsage, r.code)

			// Get and delete.
			r = m.ragctl(t, "get", "sku-2", "--collection", "kb", "--json").ok(t)
			require.Contains(t, r.json(t)["text"], "titanium")
			r = m.ragctl(t, "get", "docs/guide.md#0", "-c", "kb").ok(t)
			require.Contains(t, r.stdout, "source:")
			r = m.ragctl(t, "get", "nope", "-c", "kb")
			require.Equal(t, exitFailure, r.code)
			require.Contains(t, r.stderr, `document "nope" not found`)

			// A changed file: only its chunks are written.
			guide := filepath.Join(docs, "guide.md")
			b, err := os.ReadFile(guide)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(guide, []byte(strings.Replace(string(b), "## Food", "## Diet", 1)), 0o644))
			s = m.ingestJSON(t, exitPartial, docs, "--collection", "kb", "--root", dir)
			require.Equal(t, 1, s.FilesOK)
			require.Greater(t, s.ChunksWritten, 0)
			require.Less(t, s.ChunksWritten, written)
			r = m.ragctl(t, "search", "sea urchins crabs clams", "-c", "kb", "--json", "--k", "1").ok(t)
			require.Equal(t, "The otter guide > Diet", r.json(t)["results"].([]any)[0].(map[string]any)["metadata"].(map[string]any)["heading"])
			require.NoError(t, os.WriteFile(guide, b, 0o644)) // back, for the next mode

			// --sync deletes what is gone: ingest without the lynx.
			s = m.ingestJSON(t, exitPartial, docs, "--collection", "kb", "--root", dir, "--exclude", "nested", "--sync")
			require.Equal(t, 1, s.ChunksDeleted, "%+v", s)
			r = m.ragctl(t, "search", "lynx snowshoe hares", "-c", "kb", "--mode", "text", "--json").ok(t)
			require.Empty(t, r.json(t)["results"])

			// Delete by id and by filter.
			r = m.ragctl(t, "delete", "sku-1", "sku-2", "-c", "kb", "--json").ok(t)
			require.EqualValues(t, 2, r.json(t)["deleted"])
			r = m.ragctl(t, "delete", "-c", "kb", "--filter", `{"must": [{"key": "source", "match": {"value": "docs/notes.txt"}}]}`).ok(t)
			require.Contains(t, r.stdout, "deleted 1 documents")
			require.Equal(t, exitUsage, m.ragctl(t, "delete", "-c", "kb").code)

			// Ask without an LLM prints the passages and how to get answers.
			r = m.ragctl(t, "ask", "why do otters hold hands", "-c", "kb").ok(t)
			require.Contains(t, r.stdout, "no LLM configured")
			require.Contains(t, r.stdout, "[1] docs/guide.md")

			// Stdin, and vectors embedded by ragctl into a collection it
			// creates with the same embedder.
			r = m.ragctlIn(t, "# Walrus\n\nWalruses haul out on sea ice.\n", "ingest", "-", "--stdin-name", "walrus.md", "-c", "client", "--embedder", "hash", "--dimensions", "64", "--json", "--progress", "none").ok(t)
			require.Contains(t, r.stderr, `created collection "client" (embedder hash/hash-64, dimension 64)`)
			r = m.ragctl(t, "search", "walruses on ice", "-c", "client", "--json").ok(t)
			require.Equal(t, "walrus.md#0", r.json(t)["results"].([]any)[0].(map[string]any)["id"])
			r = m.ragctlIn(t, "x", "ingest", "-", "-c", "client", "--embedder", "hash", "--dimensions", "32")
			require.Equal(t, exitUsage, r.code, "a dimension other than the collection's")
			require.Contains(t, r.stderr, "dimension 64")

			// Calibration: too few documents, then enough.
			r = m.ragctl(t, "collections", "calibrate", "kb")
			require.Equal(t, exitFailure, r.code)
			require.Contains(t, r.stderr, "too few documents")
			var lines strings.Builder
			words := []string{"river", "forest", "winter", "meadow", "stone", "harbor", "cliff", "garden"}
			for i := range 70 {
				a, b := words[i%len(words)], words[(i/len(words))%len(words)]
				fmt.Fprintf(&lines, `{"id": "n%d", "text": "Note %d is about the %s and the %s. The %s was quiet in the morning light today. Nobody walked near the %s for %d days."}`+"\n", i, i, a, b, a, b, i)
			}
			m.ragctlIn(t, lines.String(), "ingest", "-", "--stdin-name", "notes.jsonl", "-c", "cal", "--embedder", "hash", "--progress", "none").ok(t)
			r = m.ragctl(t, "collections", "calibrate", "cal", "--json").ok(t)
			f := r.json(t)["fusion"].(map[string]any)
			require.Equal(t, "dbsf", f["method"])
			require.EqualValues(t, 70, f["documents"])
			r = m.ragctl(t, "collections", "get", "cal").ok(t)
			require.Contains(t, r.stdout, "hybrid fusion:")
			require.Contains(t, r.stdout, "dbsf, alpha")

			m.ragctl(t, "collections", "drop", "kb").ok(t)
			require.Equal(t, exitFailure, m.ragctl(t, "collections", "drop", "kb").code)
			m.ragctl(t, "collections", "drop", "kb", "--if-exists").ok(t)
		})
	}
	require.Len(t, searches, 3)
	require.Equal(t, searches[0], searches[1], "gRPC and REST find the same")
	require.Equal(t, searches[0], searches[2], "a server and a data folder find the same")
}

// TestModesAsk: answers with citations, streamed, in every mode.
func TestModesAsk(t *testing.T) {
	llm := chattest.New(chattest.Config{Answer: chattest.Fixed("They hold hands so as not to drift apart [1].")})
	defer llm.Close()
	dir := corpus(t)
	for _, m := range modes(t, llm) {
		t.Run(m.name, func(t *testing.T) {
			m.ragctl(t, "collections", "create", "kb", "--embedder", "hash").ok(t)
			m.ingestJSON(t, exitPartial, filepath.Join(dir, "docs"), "-c", "kb", "--root", dir)
			r := m.ragctl(t, "ask", "why do otters hold hands", "-c", "kb").ok(t)
			require.Contains(t, r.stdout, "They hold hands so as not to drift apart [1].")
			require.Contains(t, r.stdout, "Sources:\n  [1] docs/guide.md")
			r = m.ragctl(t, "ask", "why do otters hold hands", "-c", "kb", "--json").ok(t)
			require.Equal(t, "They hold hands so as not to drift apart [1].", r.json(t)["answer"])
			require.Len(t, r.json(t)["citations"], 1)
		})
	}
	r := modes(t, nil)[0].ragctl(t, "ask", "q", "-c", "kb", "--llm-model", "x")
	require.Equal(t, exitUsage, r.code, "--llm-* flags are for --data")
}
