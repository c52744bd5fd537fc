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

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/openaitest"
	"github.com/stretchr/testify/require"
)

func runEmbedCmd(stdin string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"embed"}, args...))
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), err
}

// parseVectors reads one JSON array per line.
func parseVectors(t *testing.T, out string) [][]float32 {
	t.Helper()
	var vs [][]float32
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var v []float32
		require.NoError(t, json.Unmarshal([]byte(line), &v), line)
		vs = append(vs, v)
	}
	return vs
}

func TestEmbedHash(t *testing.T) {
	lines := []string{"heat transfer in a boundary layer", "wing flutter\r", "Ünïcödé 数字"}
	h, err := embed.NewHash(embed.HashConfig{Dimension: 16})
	require.NoError(t, err)
	want, err := h.Embed(context.Background(), []string{lines[0], "wing flutter", lines[2]})
	require.NoError(t, err)

	for _, stdin := range []string{strings.Join(lines, "\n") + "\n", strings.Join(lines, "\n")} {
		out, err := runEmbedCmd(stdin, "--embedder", "hash", "--dimensions", "16", "--batch", "2")
		require.NoError(t, err)
		require.Equal(t, want, parseVectors(t, out), "the same float32s, in order")
	}

	out, err := runEmbedCmd(lines[0]+"\n", "--embedder", "hash", "--dimensions", "16", "--json")
	require.NoError(t, err)
	var obj struct {
		Model     string    `json:"model"`
		Dimension int       `json:"dimension"`
		Embedding []float32 `json:"embedding"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &obj))
	require.Equal(t, "hash-16", obj.Model)
	require.Equal(t, 16, obj.Dimension)
	require.Equal(t, want[0], obj.Embedding)

	out, err = runEmbedCmd("", "--embedder", "hash")
	require.NoError(t, err)
	require.Empty(t, out)
}

func TestEmbedBadLines(t *testing.T) {
	tests := []struct {
		name, stdin string
		printed     int
		want        string
	}{
		{"blank line", "one\ntwo\n\nfour\n", 2, "line 3: blank line"},
		{"spaces", "one\n   \n", 1, "line 2: blank line"},
		{"blank line in a later batch", "one\ntwo\nthree\nfour\n\n", 4, "line 5: blank line"},
		{"punctuation only", "one\ntwo\nthree\n!!!\nfive\n", 3, "line 4: embed: text has no features"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runEmbedCmd(tt.stdin, "--embedder", "hash", "--batch", "3")
			require.ErrorContains(t, err, tt.want)
			require.Len(t, parseVectors(t, out), tt.printed, "the lines before are printed")
		})
	}
}

func TestEmbedFlags(t *testing.T) {
	_, err := runEmbedCmd("x\n", "--embedder", "local", "--dimensions", "8")
	require.ErrorContains(t, err, "--dimensions does not apply to --embedder local")
	_, err = runEmbedCmd("x\n", "--embedder", "bert")
	require.ErrorContains(t, err, `--embedder "bert"`)
	_, err = runEmbedCmd("x\n", "--embedder", "hash", "--base-url", "http://localhost:1/v1")
	require.ErrorContains(t, err, "--base-url applies to --embedder openai only")
	_, err = runEmbedCmd("x\n", "--embedder", "hash", "--batch", "0")
	require.ErrorContains(t, err, "--batch 0")
}

func TestEmbedOpenAI(t *testing.T) {
	const key = "sk-cli-test-key-0001"
	srv := openaitest.New(openaitest.Config{APIKey: key, Model: "nomic-embed-text", Reverse: true})
	defer srv.Close()
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(key+"\n"), 0o600))

	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("passage number %d", i))
	}
	args := []string{"--embedder", "openai", "--base-url", srv.BaseURL(), "--model", "nomic-embed-text",
		"--api-key-file", keyFile, "--dimensions", "5"}
	out, err := runEmbedCmd(strings.Join(lines, "\n"), args...)
	require.NoError(t, err)
	vs := parseVectors(t, out)
	require.Len(t, vs, 100)
	for i, l := range lines {
		require.Equal(t, openaitest.Vector(l, 5), vs[i], "line %d", i+1)
	}
	// Batches of 64 lines, each in requests of at most 32 texts.
	require.Equal(t, 4, srv.Requests())
	require.Equal(t, 5, srv.Log()[0].Dimensions)

	// A wrong key: a clear error, and the key is not in it.
	require.NoError(t, os.WriteFile(keyFile, []byte("sk-wrong-key-99999"), 0o600))
	_, err = runEmbedCmd("hello\n", args...)
	require.ErrorContains(t, err, "401 unauthorized: check the API key")
	require.NotContains(t, err.Error(), "sk-wrong-key-99999")
}

// TestEmbedLocal: the default embedder is the built-in model: 512-d unit
// vectors, in line order, that place a paraphrase nearer than an unrelated
// sentence.
func TestEmbedLocal(t *testing.T) {
	out, err := runEmbedCmd("How old are you?\nWhat is your age?\nThe cat sat on the mat.\n")
	require.NoError(t, err)
	vecs := parseVectors(t, out)
	require.Len(t, vecs, 3)
	dot := func(a, b []float32) (s float64) {
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return s
	}
	for _, v := range vecs {
		require.Len(t, v, 512)
		require.InDelta(t, 1, dot(v, v), 1e-5)
	}
	require.InDelta(t, 0.846, dot(vecs[0], vecs[1]), 0.01)
	require.Less(t, dot(vecs[0], vecs[2]), 0.5)

	out, err = runEmbedCmd("hello world\n", "--json")
	require.NoError(t, err)
	require.Contains(t, out, `"model":"use-lite-2"`)
	require.Contains(t, out, `"dimension":512`)
}
