package index

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/ragd/ragd/hnsw"
	"github.com/ragd/ragd/index/text"
)

// Config configures an Index, the set of collections under one directory.
type Config struct {
	// Logger receives lifecycle events (open, recovery, snapshot, close);
	// nil discards them.
	Logger *slog.Logger
	// NoSync turns off fsync in the stores. Tests only: a crash may then lose
	// acknowledged writes.
	NoSync bool
	// SnapshotInterval is how often a shard whose graph changed writes a new
	// graph snapshot and truncates its change log. Default 1 minute: a
	// restart replays at most a minute of changes. Negative turns the
	// background snapshots off (they still happen on Close).
	SnapshotInterval time.Duration
	// SearchParallelism bounds the shards one search works on at once.
	// Default 8.
	SearchParallelism int
	// MaxK bounds Search's K and the candidate depth of each leg. Default
	// 10,000.
	MaxK int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = time.Minute
	}
	if c.SearchParallelism == 0 {
		c.SearchParallelism = 8
	}
	if c.MaxK == 0 {
		c.MaxK = 10000
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.SearchParallelism < 1 {
		return fmt.Errorf("%w: search parallelism %d < 1", ErrInvalidArgument, c.SearchParallelism)
	}
	if c.MaxK < 1 {
		return fmt.Errorf("%w: max k %d < 1", ErrInvalidArgument, c.MaxK)
	}
	return nil
}

// Metric names the vector distance of a collection.
type Metric string

// The metrics.
const (
	Cosine Metric = "cosine"
	Dot    Metric = "dot"
	L2     Metric = "l2"
)

// CollectionConfig describes a collection. It is fixed at creation.
type CollectionConfig struct {
	// Name: 1–63 characters of a-z, 0-9, '_' and '-', starting with a letter
	// or digit.
	Name string `json:"name"`
	// Dimension of the vectors; 0 makes a text-only collection.
	Dimension int `json:"dimension"`
	// Metric of the vectors; default cosine.
	Metric Metric `json:"metric"`
	// Shards is the number of shards; documents are spread over them by a
	// hash of their ID. Default 1. More shards let one collection use more
	// cores for writes and searches.
	Shards int `json:"shards"`
	// HNSW parameters of every shard's graph.
	HNSW HNSWConfig `json:"hnsw"`
	// Text analysis and BM25 parameters.
	Text TextConfig `json:"text"`
	// Embedder describes how texts become vectors; the index stores it for
	// the layers above and never calls it.
	Embedder EmbedderConfig `json:"embedder"`
	// CreatedAt is set by CreateCollection.
	CreatedAt time.Time `json:"created_at"`
}

// HNSWConfig holds the graph parameters (see hnsw.Config).
type HNSWConfig struct {
	M              int `json:"m"`               // default 16
	EfConstruction int `json:"ef_construction"` // default 200
	EfSearch       int `json:"ef_search"`       // default 64; per-search Ef overrides
}

// TextConfig holds the text index parameters (see text.Config).
type TextConfig struct {
	Analyzer string  `json:"analyzer"` // default "en"
	K1       float64 `json:"k1"`       // default 1.2
	B        float64 `json:"b"`        // default 0.75
}

// EmbedderConfig describes an embedder for the layers above the index.
type EmbedderConfig struct {
	Provider  string `json:"provider,omitempty"` // local, openai, hash, none
	Model     string `json:"model,omitempty"`
	BaseURL   string `json:"base_url,omitempty"`
	Dimension int    `json:"dimension,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// MaxShards bounds a collection's shard count.
const MaxShards = 256

func (c CollectionConfig) withDefaults() CollectionConfig {
	if c.Metric == "" {
		c.Metric = Cosine
	}
	if c.Shards == 0 {
		c.Shards = 1
	}
	d := hnsw.DefaultConfig(max(c.Dimension, 1))
	if c.HNSW.M == 0 {
		c.HNSW.M = d.M
	}
	if c.HNSW.EfConstruction == 0 {
		c.HNSW.EfConstruction = d.EfConstruction
	}
	if c.HNSW.EfSearch == 0 {
		c.HNSW.EfSearch = d.EfSearch
	}
	t := text.DefaultConfig()
	if c.Text.Analyzer == "" {
		c.Text.Analyzer = t.Analyzer
	}
	if c.Text.K1 == 0 {
		c.Text.K1 = t.K1
	}
	if c.Text.B == 0 {
		c.Text.B = t.B
	}
	return c
}

// Validate reports the first invalid field, after defaults.
func (c CollectionConfig) Validate() error {
	c = c.withDefaults()
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("%w: collection name %q must match %s", ErrInvalidArgument, c.Name, nameRE)
	}
	if c.Dimension < 0 || c.Dimension > hnsw.MaxDim {
		return fmt.Errorf("%w: dimension %d out of range [0, %d]", ErrInvalidArgument, c.Dimension, hnsw.MaxDim)
	}
	if c.Shards < 1 || c.Shards > MaxShards {
		return fmt.Errorf("%w: shards %d out of range [1, %d]", ErrInvalidArgument, c.Shards, MaxShards)
	}
	if _, err := c.hnswMetric(); err != nil {
		return err
	}
	if c.Dimension > 0 {
		if err := c.graphConfig(0).Validate(); err != nil {
			return fmt.Errorf("%w: hnsw: %v", ErrInvalidArgument, err)
		}
	}
	if err := c.textConfig().Validate(); err != nil {
		return fmt.Errorf("%w: text: %v", ErrInvalidArgument, err)
	}
	return nil
}

func (c CollectionConfig) hnswMetric() (hnsw.Metric, error) {
	switch c.Metric {
	case Cosine:
		return hnsw.Cosine, nil
	case Dot:
		return hnsw.Dot, nil
	case L2:
		return hnsw.L2, nil
	}
	return 0, fmt.Errorf("%w: metric %q (want cosine, dot or l2)", ErrInvalidArgument, c.Metric)
}

func (c CollectionConfig) graphConfig(capacity int) hnsw.Config {
	m, _ := c.hnswMetric()
	return hnsw.Config{
		Dim:            c.Dimension,
		Metric:         m,
		M:              c.HNSW.M,
		EfConstruction: c.HNSW.EfConstruction,
		EfSearch:       c.HNSW.EfSearch,
		Seed:           1,
		Capacity:       capacity,
	}
}

func (c CollectionConfig) textConfig() text.Config {
	return text.Config{Analyzer: c.Text.Analyzer, K1: c.Text.K1, B: c.Text.B}
}
