package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ragd/ragd/internal/testutil"
	"github.com/ragd/ragd/internal/texmex"
	"github.com/stretchr/testify/require"
)

// writeDataset writes a small clustered data set with exact ground truth.
func writeDataset(t *testing.T, dir string, n, nq, dim int) (base, query, gt string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	all := testutil.Clustered(rng, n+nq, dim, 8)
	b, q := all[:n*dim], all[n*dim:]
	var ids []int32
	for i := range nq {
		for _, nb := range testutil.BruteForce("l2", b, dim, nil, q[i*dim:(i+1)*dim], 20, nil) {
			ids = append(ids, int32(nb.Key))
		}
	}
	base, query, gt = filepath.Join(dir, "b.fvecs"), filepath.Join(dir, "q.fvecs"), filepath.Join(dir, "gt.ivecs")
	require.NoError(t, texmex.WriteFvecs(base, b, dim))
	require.NoError(t, texmex.WriteFvecs(query, q, dim))
	require.NoError(t, texmex.WriteIvecs(gt, ids, 20))
	return base, query, gt
}

func runCmd(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestBenchANN(t *testing.T) {
	dir := t.TempDir()
	base, query, gt := writeDataset(t, dir, 2000, 50, 16)
	results, plot := filepath.Join(dir, "res.ivecs"), filepath.Join(dir, "plot.png")
	out, _, err := runCmd("bench", "ann", "--base", base, "--query", query, "--gt", gt, "--metric", "l2",
		"--m", "8", "--ef-construction", "64", "--ef", "10,400", "--k", "10", "--threads", "2",
		"--json", "--results", results, "--plot", plot)
	require.NoError(t, err)

	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	var rows []map[string]any
	for _, l := range lines {
		var row map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &row))
		for _, key := range []string{"ef", "recall", "qps", "p50_us", "p99_us", "build_seconds", "bytes_per_vector", "n", "dim"} {
			require.Contains(t, row, key)
		}
		rows = append(rows, row)
	}
	require.EqualValues(t, 10, rows[0]["ef"])
	require.EqualValues(t, 2000, rows[1]["n"])
	require.EqualValues(t, 16, rows[1]["dim"])
	// A beam of 400 over 2,000 vectors finds the exact neighbours, up to
	// float32 near-ties against the float64 ground truth.
	require.InDelta(t, 1.0, rows[1]["recall"], 0.01)
	require.Greater(t, rows[1]["qps"], 0.0)

	// The results file holds k ids per query, and recomputing the recall
	// from it gives the reported figure.
	ids, k, nq, err := texmex.ReadIvecs(results, 0)
	require.NoError(t, err)
	require.Equal(t, 10, k)
	require.Equal(t, 50, nq)
	want, gdim, _, err := texmex.ReadIvecs(gt, 0)
	require.NoError(t, err)
	require.InDelta(t, rows[1]["recall"], recallAt(ids, want, gdim, 10, nq), 1e-9)

	st, err := os.Stat(plot)
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(1000))
	png, err := os.ReadFile(plot)
	require.NoError(t, err)
	require.Equal(t, "\x89PNG", string(png[:4]))

	// The table form.
	out, _, err = runCmd("bench", "ann", "--base", base, "--query", query, "--gt", gt, "--ef", "20", "--queries", "5")
	require.NoError(t, err)
	require.Contains(t, out, "recall@k")
}

func TestBenchANNErrors(t *testing.T) {
	dir := t.TempDir()
	base, query, gt := writeDataset(t, dir, 100, 5, 8)
	other, _, _ := writeDataset(t, t.TempDir(), 100, 5, 4)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing flag", []string{"--base", base, "--query", query}, `"gt" not set`},
		{"bad metric", []string{"--base", base, "--query", query, "--gt", gt, "--metric", "manhattan"}, "unknown metric"},
		{"bad ef", []string{"--base", base, "--query", query, "--gt", gt, "--ef", "10,x"}, "--ef"},
		{"dimension mismatch", []string{"--base", other, "--query", query, "--gt", gt}, "dimension"},
		{"k above ground truth", []string{"--base", base, "--query", query, "--gt", gt, "--k", "50"}, "fewer than k"},
		{"missing file", []string{"--base", filepath.Join(dir, "nope"), "--query", query, "--gt", gt}, "no such file"},
		{"bad M", []string{"--base", base, "--query", query, "--gt", gt, "--m", "1"}, "M 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCmd(append([]string{"bench", "ann"}, c.args...)...)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func TestBenchPlot(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs.jsonl")
	require.NoError(t, os.WriteFile(runs, []byte(`{"engine":"ragd","ef":10,"recall":0.9,"qps":100}
{"engine":"ragd","ef":10,"recall":0.9,"qps":300}
{"engine":"ragd","ef":10,"recall":0.9,"qps":200}
{"engine":"other","ef":10,"recall":0.8,"qps":50}

{"engine":"other","ef":20,"recall":0.95,"qps":25}
`), 0o644))
	png := filepath.Join(dir, "p.png")
	out, _, err := runCmd("bench", "plot", runs, "--out", png, "--title", "t")
	require.NoError(t, err)
	require.Contains(t, out, "| ragd | 10 | 0.9000 | 200 |", "the median run of three")
	require.Contains(t, out, "| other | 20 | 0.9500 | 25 |")
	b, err := os.ReadFile(png)
	require.NoError(t, err)
	require.Equal(t, "\x89PNG", string(b[:4]))

	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{\"engine\":\"x\",\"ef\":1,\"recall\":1,\"qps\":1}\nnot json\n"), 0o644))
	_, _, err = runCmd("bench", "plot", bad)
	require.ErrorContains(t, err, "line 2")
	_, _, err = runCmd("bench", "plot", filepath.Join(dir, "missing"))
	require.Error(t, err)
}
