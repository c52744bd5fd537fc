package flat

import (
	"fmt"
	"math"
	"runtime"

	"github.com/ragd/ragd/simd"
)

// Metric is the distance searched. Distances are "smaller is nearer", and
// the values and conventions are those of hnsw.Metric, so a graph's metric
// converts with Metric(m).
type Metric uint8

// The metrics.
const (
	// L2 is the squared Euclidean distance.
	L2 Metric = 1
	// Cosine is 1 − cosine similarity. Queries are normalised; rows are
	// normalised by their norms unless Vectors.Unit says they already are.
	Cosine Metric = 2
	// Dot is the negated inner product (maximum inner-product search).
	Dot Metric = 3
)

// String returns the metric's name as used in flags and configs.
func (m Metric) String() string {
	switch m {
	case L2:
		return "l2"
	case Cosine:
		return "cosine"
	case Dot:
		return "dot"
	}
	return fmt.Sprintf("Metric(%d)", uint8(m))
}

// ParseMetric turns "l2", "cosine" or "dot" (or their aliases euclidean,
// angular and ip) into a Metric.
func ParseMetric(s string) (Metric, error) {
	switch s {
	case "l2", "euclidean":
		return L2, nil
	case "cosine", "angular":
		return Cosine, nil
	case "dot", "ip":
		return Dot, nil
	}
	return 0, fmt.Errorf("%w: unknown metric %q (want l2, cosine or dot)", ErrInvalidArgument, s)
}

func (m Metric) valid() bool { return m == L2 || m == Cosine || m == Dot }

// Config tunes an Engine. The zero value is valid: every zero field takes
// its default.
type Config struct {
	// Threads is the number of goroutines one Search runs on. Default
	// runtime.GOMAXPROCS(0) at New: the engine is compute-bound and scales
	// with cores. Set 1 for a caller that already runs searches in parallel
	// (one per shard), to avoid oversubscription.
	Threads int
	// CacheBytes is the size of a block of queries, packed into panels,
	// that every tile of stored vectors meets before the next block
	// starts: the stored vectors are read from memory once per block.
	// Default twice the L2 size read from /sys on Linux (1 MiB where
	// unknown). The panels are read in order, so the prefetchers keep up
	// even from L3: on MNIST (784-d, one thread, Zen 2 with 512 KiB of L2)
	// blocks of 256 KiB to 8 MiB measured the same within the noise (±5 %)
	// once the kernel prefetched each next tile, and larger blocks read the
	// stored vectors fewer times.
	CacheBytes int
	// SmallBatch: a search of fewer queries than this scores each row
	// against each query with the single-vector kernels
	// (simd.L2SquaredBounded, Dot, Cosine), reading every row once for all
	// of them, instead of the matrix-product tiles, whose panels hold 16
	// (AVX2) or 32 (AVX-512) queries and would mostly compute padding.
	// Default a third of the panel width: 5 with AVX2, where one thread on
	// MNIST (784-d) measured the crossover between 4 and 6 queries (both
	// paths are bound by memory below it), 10 with AVX-512 (scaled, not
	// measured). Without assembly kernels (simd.Impl() "generic") every
	// search takes the direct path: the portable tile is slower than the
	// portable single-vector kernels.
	SmallBatch int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.Threads == 0 {
		c.Threads = runtime.GOMAXPROCS(0)
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = 2 * l2CacheBytes()
	}
	if c.SmallBatch == 0 {
		_, lanes := simd.TileShape()
		c.SmallBatch = max(1, lanes/3)
		if simd.Impl() == "generic" {
			c.SmallBatch = math.MaxInt32
		}
	}
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// zero ones.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Threads < 1:
		return fmt.Errorf("%w: Threads %d is not positive", ErrInvalidConfig, c.Threads)
	case c.CacheBytes < 4<<10:
		return fmt.Errorf("%w: CacheBytes %d is below 4 KiB", ErrInvalidConfig, c.CacheBytes)
	case c.SmallBatch < 1:
		return fmt.Errorf("%w: SmallBatch %d is not positive", ErrInvalidConfig, c.SmallBatch)
	}
	return nil
}
