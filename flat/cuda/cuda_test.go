package cuda

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ragd/ragd/flat"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMissingLibrary is the fallback contract: a library that is not there
// (or a binary built without the gpu tag) gives ErrUnavailable, which the
// caller answers with the CPU engine.
func TestMissingLibrary(t *testing.T) {
	_, err := NewIndex(Config{Library: "/nonexistent/libragdflat.so", Dim: 4})
	require.ErrorIs(t, err, ErrUnavailable)
	require.Contains(t, err.Error(), "libragdflat.so")
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"dim":      {},
		"metric":   {Dim: 3, Metric: 9},
		"device":   {Dim: 3, Device: -1},
		"capacity": {Dim: 3, Capacity: -1},
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, c.Validate(), flat.ErrInvalidConfig)
			_, err := NewIndex(c)
			require.ErrorIs(t, err, flat.ErrInvalidConfig)
			require.False(t, errors.Is(err, ErrUnavailable))
		})
	}
	t.Setenv(LibraryEnv, "/from/env.so")
	c := Config{Dim: 3}.withDefaults()
	require.Equal(t, "/from/env.so", c.Library)
	require.Equal(t, flat.Cosine, c.Metric)
	t.Setenv(LibraryEnv, "")
	require.Equal(t, DefaultLibrary, Config{Dim: 3}.withDefaults().Library)
}

func TestErrorMessage(t *testing.T) {
	err := call("rf_add", func(b *byte) int32 {
		copy(unsafe.Slice(b, errLen), "device on fire\x00")
		return codeCUDA
	})
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "rf_add", e.Op)
	require.Equal(t, codeCUDA, e.Code)
	require.Equal(t, "cuda: rf_add: device on fire (code -2)", err.Error())
	require.NoError(t, call("rf_add", func(*byte) int32 { return 0 }))
}
