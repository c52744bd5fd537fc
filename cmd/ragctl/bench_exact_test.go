package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ragd/ragd/internal/texmex"
	"github.com/stretchr/testify/require"
)

func TestBenchExact(t *testing.T) {
	dir := t.TempDir()
	base, query, gt := writeDataset(t, dir, 1500, 50, 24)
	for _, c := range []struct {
		name  string
		args  []string
		batch int
	}{
		{"all at once", []string{"--threads", "1"}, 50},
		{"batches", []string{"--batch", "7", "--threads", "2"}, 7},
		{"one query per call", []string{"--batch", "1", "--threads", "2", "--queries", "20"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"bench", "exact", "--base", base, "--query", query, "--gt", gt, "--k", "10", "--json"}, c.args...)
			out, _, err := runCmd(args...)
			require.NoError(t, err)
			var row map[string]any
			require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &row))
			for _, key := range []string{"qps", "recall", "gflops", "batch", "threads", "engine"} {
				require.Contains(t, row, key)
			}
			require.EqualValues(t, c.batch, row["batch"])
			require.True(t, strings.HasPrefix(row["engine"].(string), "ragd-cpu-"), row["engine"])
			// Exact search finds the float64 ground truth, up to float32
			// near-ties.
			require.InDelta(t, 1.0, row["recall"], 0.01)
			require.Greater(t, row["qps"], 0.0)
			require.Greater(t, row["gflops"], 0.0)
		})
	}
}

// TestBenchExactGPUFallback: without a usable GPU library --gpu says so in
// one log line and measures the CPU engine.
func TestBenchExactGPUFallback(t *testing.T) {
	dir := t.TempDir()
	base, query, gt := writeDataset(t, dir, 300, 10, 8)
	out, errOut, err := runCmd("bench", "exact", "--base", base, "--query", query, "--gt", gt, "--json",
		"--gpu", "--gpu-lib", filepath.Join(dir, "missing.so"))
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(errOut, "level=WARN msg=\"GPU engine unavailable"), errOut)
	var row map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &row))
	require.True(t, strings.HasPrefix(row["engine"].(string), "ragd-cpu-"), row["engine"])
}

func TestBenchExactErrors(t *testing.T) {
	dir := t.TempDir()
	base, query, gt := writeDataset(t, dir, 100, 5, 8)
	other := filepath.Join(dir, "q4.fvecs")
	require.NoError(t, texmex.WriteFvecs(other, make([]float32, 8), 4))
	for name, args := range map[string][]string{
		"metric":    {"--metric", "hamming"},
		"k":         {"--k", "0"},
		"k over gt": {"--k", "50"},
		"threads":   {"--threads", "0"},
		"dimension": {"--query", other},
	} {
		t.Run(name, func(t *testing.T) {
			all := append([]string{"bench", "exact", "--base", base, "--query", query, "--gt", gt}, args...)
			_, _, err := runCmd(all...)
			require.Error(t, err)
		})
	}
}
