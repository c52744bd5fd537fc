package cuda

import (
	"fmt"
	"os"

	"github.com/ragd/ragd/flat"
)

const (
	// LibraryEnv names the environment variable that gives the library's
	// path when Config.Library is empty.
	LibraryEnv = "RAGD_CUDA_LIBRARY"
	// DefaultLibrary is the library's file name, searched by the dynamic
	// loader (LD_LIBRARY_PATH, ld.so.cache) when neither Config.Library nor
	// the environment names a path. `make cuda` builds it.
	DefaultLibrary = "libragdflat.so"
	// MaxK is the largest k a GPU search takes (the selection kernel keeps
	// the k best of each query in shared memory).
	MaxK = 1024
)

// Config describes a GPU index.
type Config struct {
	// Library is the path of the CUDA library. Default: $RAGD_CUDA_LIBRARY,
	// or DefaultLibrary through the loader's search path.
	Library string
	// Device is the CUDA device number. Default 0.
	Device int
	// Dim is the length of every vector. Required, positive.
	Dim int
	// Metric is the distance; default Cosine, as flat's and hnsw's.
	Metric flat.Metric
	// FP16 keeps the vectors on the device in half precision (half the
	// memory, tensor-core GEMMs with fp32 accumulation); the distances are
	// then those of the rounded vectors. Default false: fp32.
	FP16 bool
	// Capacity is the number of vectors to reserve device memory for; more
	// is allocated by doubling (a copy on the device). Default 1024.
	Capacity int
}

func (c Config) withDefaults() Config {
	if c.Library == "" {
		c.Library = os.Getenv(LibraryEnv)
	}
	if c.Library == "" {
		c.Library = DefaultLibrary
	}
	if c.Metric == 0 {
		c.Metric = flat.Cosine
	}
	if c.Capacity == 0 {
		c.Capacity = 1024
	}
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// zero ones.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Dim < 1:
		return fmt.Errorf("%w: Dim %d is not positive", flat.ErrInvalidConfig, c.Dim)
	case c.Metric != flat.L2 && c.Metric != flat.Cosine && c.Metric != flat.Dot:
		return fmt.Errorf("%w: unknown metric %d", flat.ErrInvalidConfig, c.Metric)
	case c.Device < 0:
		return fmt.Errorf("%w: Device %d is negative", flat.ErrInvalidConfig, c.Device)
	case c.Capacity < 0:
		return fmt.Errorf("%w: Capacity %d is negative", flat.ErrInvalidConfig, c.Capacity)
	}
	return nil
}
