//go:build gpu && (linux || darwin || freebsd)

package cuda

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragd/ragd/flat"
	"github.com/ragd/ragd/internal/testutil"
)

// buildFake compiles testdata/fakeflat.c, the CPU stand-in of the library,
// with the system C compiler, reporting devices devices.
func buildFake(t *testing.T, devices int) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build the stand-in library")
	}
	out := filepath.Join(t.TempDir(), fmt.Sprintf("libfake%d.so", devices))
	cmd := exec.Command(cc, "-shared", "-fPIC", "-O1", fmt.Sprintf("-DFAKE_DEVICES=%d", devices), "-o", out, "testdata/fakeflat.c", "-lm")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// compare runs the same adds, deletes and searches on a GPU index (real
// or stand-in) and on flat.Index and checks that they agree: the same ids
// except where distances tie within tol, the same distances within tol.
func compare(t *testing.T, lib string, m flat.Metric, fp16 bool, tol float64) {
	rng := rand.New(rand.NewPCG(7, uint64(m)))
	n, nq, dim, k := 700, 33, 37, 10
	data := testutil.Clustered(rng, n+nq, dim, 5)
	base, qs := data[:n*dim], data[n*dim:]
	g, err := NewIndex(Config{Library: lib, Dim: dim, Metric: m, FP16: fp16, Capacity: 100})
	require.NoError(t, err)
	defer g.Close()
	c, err := flat.NewIndex(flat.IndexConfig{Dim: dim, Metric: m, Engine: flat.Config{Threads: 1}})
	require.NoError(t, err)
	// Incremental adds, past the reserved capacity.
	for _, part := range [][2]int{{0, 1}, {1, 300}, {300, n}} {
		first, err := g.Add(base[part[0]*dim : part[1]*dim])
		require.NoError(t, err)
		require.Equal(t, uint32(part[0]), first)
		_, err = c.Add(base[part[0]*dim : part[1]*dim])
		require.NoError(t, err)
	}
	for id := uint32(0); id < uint32(n); id += 7 {
		require.NoError(t, g.Delete(id))
		require.NoError(t, c.Delete(id))
	}
	require.ErrorIs(t, g.Delete(0), flat.ErrNotFound)
	require.Equal(t, c.Live(), g.Live())
	allow := flat.IDs{0, 1, 2, 3, 8, 9, 10, 500, 699}
	for _, a := range []flat.AllowList{nil, allow} {
		for _, kk := range []int{1, k, 1000} {
			var got, want flat.Response
			require.NoError(t, g.Search(context.Background(), qs, kk, a, &got))
			require.NoError(t, c.Search(context.Background(), qs, kk, a, &want))
			for i := range nq {
				gh, wh := got.Hits(i), want.Hits(i)
				require.Len(t, gh, len(wh), "allow %v k %d query %d", a != nil, kk, i)
				for j := range wh {
					require.InDelta(t, wh[j].Dist, gh[j].Dist, tol*(1+abs(wh[j].Dist)), "allow %v k %d query %d hit %d", a != nil, kk, i, j)
					if gh[j].ID != wh[j].ID {
						// Only a tie may swap ids: the CPU distance of the
						// GPU's row must equal the CPU's at this place.
						idx := slices.IndexFunc(wh, func(r flat.Result) bool { return r.ID == gh[j].ID })
						if idx >= 0 {
							require.InDelta(t, wh[j].Dist, wh[idx].Dist, tol*(1+abs(wh[j].Dist)))
						}
					}
				}
			}
		}
	}
	var resp flat.Response
	require.ErrorIs(t, g.Search(context.Background(), qs, MaxK+1, nil, &resp), flat.ErrInvalidArgument)
	require.ErrorIs(t, g.Search(context.Background(), qs[:dim-1], 1, nil, &resp), flat.ErrDimensionMismatch)
	_, err = g.Add(base[:dim-1])
	require.ErrorIs(t, err, flat.ErrDimensionMismatch)
	require.NoError(t, g.Close())
	require.ErrorIs(t, g.Search(context.Background(), qs, 1, nil, &resp), ErrClosed)
	_, err = g.Add(base[:dim])
	require.ErrorIs(t, err, ErrClosed)
}

func abs(x float32) float64 {
	if x < 0 {
		return -float64(x)
	}
	return float64(x)
}

// TestStandIn runs the Go side against the CPU stand-in library: the purego
// binding, the ABI's argument and result layout, errors and the fallback
// when no device is reported.
func TestStandIn(t *testing.T) {
	lib := buildFake(t, 1)
	for _, m := range []flat.Metric{flat.L2, flat.Cosine, flat.Dot} {
		t.Run(m.String(), func(t *testing.T) { compare(t, lib, m, false, 1e-4) })
	}
	_, err := NewIndex(Config{Library: lib, Dim: 3, Device: 1})
	require.ErrorIs(t, err, ErrUnavailable, "device 1 of 1")
	_, err = NewIndex(Config{Library: buildFake(t, 0), Dim: 3})
	require.ErrorIs(t, err, ErrUnavailable, "no device")
}

// TestDevice runs the real library on a real device: set RAGD_CUDA_LIBRARY
// to the library `make cuda` built. It skips without one.
func TestDevice(t *testing.T) {
	lib := os.Getenv(LibraryEnv)
	if lib == "" {
		t.Skip("RAGD_CUDA_LIBRARY not set")
	}
	if _, err := NewIndex(Config{Library: lib, Dim: 4}); err != nil {
		t.Skipf("no GPU engine: %v", err)
	}
	for _, m := range []flat.Metric{flat.L2, flat.Cosine, flat.Dot} {
		t.Run(m.String()+"/fp32", func(t *testing.T) { compare(t, lib, m, false, 1e-4) })
		t.Run(m.String()+"/fp16", func(t *testing.T) { compare(t, lib, m, true, 2e-2) })
	}
}
