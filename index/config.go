package index

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"time"

	"github.com/ragd/ragd/hnsw"
	"github.com/ragd/ragd/index/text"
)

// Config configures an Index, the set of collections under one directory.
type Config struct {
	// Logger receives lifecycle events (open, recovery, snapshot,
	// compaction, close); nil discards them.
	Logger *slog.Logger
	// NoSync turns off fsync in the stores. Tests only: a crash may then lose
	// acknowledged writes.
	NoSync bool
	// SnapshotInterval is how often a shard whose graph changed writes a new
	// graph snapshot and truncates its change log. Default 1 minute: a
	// restart replays at most a minute of changes. Negative turns the
	// background snapshots off (they still happen on Close). A snapshot
	// blocks neither searches nor writes.
	SnapshotInterval time.Duration
	// SearchParallelism bounds the shards one search works on at once.
	// Default 8.
	SearchParallelism int
	// MaxK bounds Search's K and the candidate depth of each leg. Default
	// 10,000.
	MaxK int

	// CompactTombstoneRatio is when a shard's graph is compacted in the
	// background: once its tombstones (vectors deleted or replaced by an
	// upsert, still in the graph as waypoints) reach this fraction of its
	// nodes (live + tombstones) and CompactMinTombstones. Default 0.1.
	// Tombstones hold memory and slow searches, which walk through them; a
	// compaction cycle repairs the links around them and frees their slots
	// for new vectors. A cycle repairs every node that links to one of its
	// tombstones, nearly all nodes once they are a tenth, so a higher ratio
	// costs less CPU per tombstone (Qdrant's vacuum optimizer waits for
	// 0.2) and a lower one holds less memory: a shard's slots peak at about
	// its live vectors × (1 + ratio) plus what the writes add while a cycle
	// runs (bench/results/churn.md). Negative turns background compaction
	// off; Collection.Compact still compacts.
	CompactTombstoneRatio float64
	// CompactMinTombstones: a shard with fewer tombstones is not compacted
	// in the background, whatever the ratio. Default 1,000 (Qdrant's
	// vacuum_min_vector_number likewise leaves small segments alone).
	CompactMinTombstones int
	// CompactStepSlots bounds one step of a background compaction: the graph
	// slots it examines (repairing those that link to a tombstone) before
	// it lets the collection close and the other shards take their turn.
	// Default 1,024: 30–100 ms of one core at 784 dimensions (a repair costs
	// 30–110 µs). Searches and writes never wait for a step.
	CompactStepSlots int
	// DeleteBatch bounds the documents one transaction of DeleteByFilter
	// deletes. Default 1,000: each batch matches and deletes atomically with
	// respect to the shard's other writes, which wait for it.
	DeleteBatch int

	// applyFault, when set (tests), is called before each part of applying
	// committed changes to a shard's derived indexes ("graph", "text") and
	// of repairing them ("repair graph", "repair text"); an error makes
	// that part fail.
	applyFault func(shard int, part string) error
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
	if c.CompactTombstoneRatio == 0 {
		c.CompactTombstoneRatio = 0.1
	}
	if c.CompactMinTombstones == 0 {
		c.CompactMinTombstones = 1000
	}
	if c.CompactStepSlots == 0 {
		c.CompactStepSlots = 1024
	}
	if c.DeleteBatch == 0 {
		c.DeleteBatch = 1000
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.SearchParallelism < 1:
		return fmt.Errorf("%w: search parallelism %d < 1", ErrInvalidArgument, c.SearchParallelism)
	case c.MaxK < 1:
		return fmt.Errorf("%w: max k %d < 1", ErrInvalidArgument, c.MaxK)
	case math.IsNaN(c.CompactTombstoneRatio) || c.CompactTombstoneRatio > 1:
		return fmt.Errorf("%w: compact tombstone ratio %v above 1", ErrInvalidArgument, c.CompactTombstoneRatio)
	case c.CompactMinTombstones < 1:
		return fmt.Errorf("%w: compact min tombstones %d < 1", ErrInvalidArgument, c.CompactMinTombstones)
	case c.CompactStepSlots < 1:
		return fmt.Errorf("%w: compact step slots %d < 1", ErrInvalidArgument, c.CompactStepSlots)
	case c.DeleteBatch < 1:
		return fmt.Errorf("%w: delete batch %d < 1", ErrInvalidArgument, c.DeleteBatch)
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
	// Fusion is the default fusion of hybrid searches that name neither a
	// fusion nor an alpha: set by Calibrate (or given at creation, then
	// kept until a calibration replaces it). nil: relative fusion, alpha
	// 0.5.
	Fusion *FusionDefault `json:"fusion,omitempty"`
}

// HNSWConfig holds the graph parameters (see hnsw.Config).
type HNSWConfig struct {
	M              int `json:"m"`               // default 16
	EfConstruction int `json:"ef_construction"` // default 200
	EfSearch       int `json:"ef_search"`       // default 64; per-search Ef overrides
}

// TextConfig holds the text index parameters (see text.Config). K1 and B
// are pointers so that an explicit zero, a legal BM25 setting (b = 0 turns
// length normalisation off, k1 = 0 makes term frequency binary), is kept:
// nil means the default.
type TextConfig struct {
	Analyzer string   `json:"analyzer"`     // default "en"
	K1       *float64 `json:"k1,omitempty"` // default 1.2
	B        *float64 `json:"b,omitempty"`  // default 0.75
}

// clone returns a copy that shares no memory with t.
func (t TextConfig) clone() TextConfig {
	if t.K1 != nil {
		t.K1 = new(*t.K1)
	}
	if t.B != nil {
		t.B = new(*t.B)
	}
	return t
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
	c.Text = c.Text.clone()
	if c.Text.Analyzer == "" {
		c.Text.Analyzer = t.Analyzer
	}
	if c.Text.K1 == nil {
		c.Text.K1 = t.K1
	}
	if c.Text.B == nil {
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
	if f := c.Fusion; f != nil {
		switch f.Fusion {
		case FusionRelative, FusionDBSF, FusionRRF:
		default:
			return fmt.Errorf("%w: fusion %q (want relative, dbsf or rrf)", ErrInvalidArgument, f.Fusion)
		}
		if math.IsNaN(f.Alpha) || f.Alpha < 0 || f.Alpha > 1 {
			return fmt.Errorf("%w: fusion alpha %v out of range [0, 1]", ErrInvalidArgument, f.Alpha)
		}
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
	t := c.Text.clone()
	return text.Config{Analyzer: t.Analyzer, K1: t.K1, B: t.B}
}

// clone returns a copy that shares no memory with c, for callers of
// Collection.Config and Index.Collections.
func (c CollectionConfig) clone() CollectionConfig {
	c.Text = c.Text.clone()
	if c.Fusion != nil {
		f := *c.Fusion
		c.Fusion = &f
	}
	return c
}

// catalogVersion is the version of the catalog entries this build writes
// (on-disk format; do not change the meaning of a version). Version 1 (no
// version field) wrote text.k1 and text.b as plain numbers in which 0 meant
// the default; from version 2 an absent value means the default and 0 means
// 0.
const catalogVersion = 2

// catalogEntry is a collection's catalog record: its config and the
// version of the encoding.
type catalogEntry struct {
	CollectionConfig
	Version int `json:"catalog_version"`
}

func encodeCatalogEntry(cc CollectionConfig) ([]byte, error) {
	return json.Marshal(catalogEntry{CollectionConfig: cc, Version: catalogVersion})
}

func decodeCatalogEntry(raw []byte) (CollectionConfig, error) {
	var e catalogEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return CollectionConfig{}, err
	}
	if e.Version > catalogVersion {
		return CollectionConfig{}, fmt.Errorf("catalog version %d is newer than this build's %d", e.Version, catalogVersion)
	}
	if e.Version < 2 {
		// Version 1: a zero meant "the default".
		if e.Text.K1 != nil && *e.Text.K1 == 0 {
			e.Text.K1 = nil
		}
		if e.Text.B != nil && *e.Text.B == 0 {
			e.Text.B = nil
		}
	}
	return e.CollectionConfig.withDefaults(), nil
}
