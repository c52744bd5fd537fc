package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/rag"
)

// Config configures a Server. The zero value, after withDefaults, serves
// ./data on loopback with the local embedder and no authentication.
type Config struct {
	// DataDir holds the index (collections) and the embedding cache.
	// Default "./data".
	DataDir string
	// HTTPAddr is where REST, /metrics, /healthz, /readyz and
	// /openapi.json listen. Default 127.0.0.1:8080; port 0 picks a free
	// port (see Server.HTTPAddr).
	HTTPAddr string
	// GRPCAddr is where gRPC listens. Default 127.0.0.1:9090.
	GRPCAddr string
	// Index configures the index; its Logger defaults to Logger.
	Index index.Config
	// Embed configures the embedders collections and /v1/embeddings use.
	Embed EmbedConfig
	// LLM configures the answers of Ask: the OpenAI-compatible chat
	// endpoint, its model and key, the context budget. Its Logger,
	// Metrics and Tracer are the server's. Without a BaseURL (the
	// default) Ask returns the retrieved passages and a note.
	LLM rag.Config
	// Auth configures API keys. None by default, which is allowed only
	// when both addresses are loopback ones (or AllowUnauthenticated).
	Auth AuthConfig
	// TLS, when CertFile and KeyFile are set, serves both ports over TLS.
	TLS TLSConfig
	// Limits bound what one request may ask for.
	Limits Limits
	// Logger receives lifecycle events at Info, one line per request at
	// Debug and server-side failures at Error. Nil discards.
	Logger *slog.Logger
	// Registry receives the server's metrics and serves /metrics. Default:
	// a new registry with the Go runtime and process collectors. Tests give
	// each server its own.
	Registry *prometheus.Registry
	// OTLPEndpoint, when set (host:port of an OTLP/gRPC collector, or the
	// standard OTEL_EXPORTER_OTLP_ENDPOINT), exports a trace of every
	// request. Empty: tracing is off and costs nothing.
	OTLPEndpoint string
	// OTLPInsecure sends OTLP without TLS (a collector on the pod's
	// network). Default false.
	OTLPInsecure bool
	// ShutdownTimeout bounds how long Shutdown waits for requests in
	// flight before cutting them off; the index is then snapshotted and
	// closed regardless. Default 20 s, under Kubernetes' default 30 s
	// grace period.
	ShutdownTimeout time.Duration
	// CalibrateInterval is how often the server looks for collections
	// whose default hybrid fusion needs calibrating (never calibrated, or
	// grown or shrunk by half since) and calibrates them, one at a time.
	// Default 1 minute; negative turns background calibration off
	// (POST /v1/collections/{name}:calibrate still works).
	CalibrateInterval time.Duration
}

// EmbedConfig configures the embedders.
type EmbedConfig struct {
	// Default is the provider of a collection created without an
	// embedder: "local" (default), "openai", "hash" or "none".
	Default string
	// OpenAI is the template of every OpenAI-compatible embedder: its
	// BaseURL, Model and API key are the defaults of collections with
	// provider openai. The key is sent only to this BaseURL: a collection
	// naming another base URL (a local Ollama, say) gets no key.
	OpenAI embed.OpenAIConfig
	// OpenAIEnabled lets /v1/embeddings forward model names it does not
	// serve locally to OpenAI's endpoint. Default: true when an API key or
	// a non-default BaseURL is configured.
	OpenAIEnabled *bool
	// HashDimension is the dimension of provider hash when a collection
	// gives none. Default 256.
	HashDimension int
	// Cache keeps the vectors of OpenAI-compatible embedders in
	// DataDir/embed-cache.db, so re-ingesting unchanged text makes no
	// call. The local model is faster than the cache and is not cached.
	// Default true; NoCache turns it off.
	NoCache bool
	// CacheMaxBytes bounds the embedding cache; the least recently used
	// vectors are evicted beyond it. Default embed.DefaultCacheMaxBytes
	// (1 GiB).
	CacheMaxBytes int64
}

// AuthConfig configures API keys.
type AuthConfig struct {
	// Keys are the accepted API keys. Empty: no authentication.
	Keys []APIKey
	// AllowUnauthenticated permits serving without keys on an address
	// that is not loopback (behind a trusted proxy, say). Default false:
	// such a server refuses to start.
	AllowUnauthenticated bool
}

// APIKey is one accepted key and what it may do.
type APIKey struct {
	// Name identifies the key in logs; the key itself is never logged.
	Name string
	Role Role
	Key  embed.Secret
}

// Role is what a key may do; each role includes the ones before it.
type Role int

// The roles.
const (
	// RoleRead: list and get collections and documents, search, embed.
	RoleRead Role = iota + 1
	// RoleWrite: also upsert and delete documents.
	RoleWrite
	// RoleAdmin: also create and drop collections.
	RoleAdmin
)

// ParseRole parses "read", "write" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return 0, fmt.Errorf("%w: role %q (want read, write or admin)", ErrInvalidConfig, s)
}

func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// TLSConfig names a certificate and its key, PEM files.
type TLSConfig struct {
	CertFile string
	KeyFile  string
}

// Limits bound one request. Every violation is an InvalidArgument (HTTP
// 400) naming the field and the limit, except a body over MaxBodyBytes (HTTP
// 413, gRPC ResourceExhausted) and too many requests (429).
type Limits struct {
	// MaxBodyBytes bounds a REST body and a gRPC message. Default 32 MiB:
	// a batch of 1,000 documents with 1,536-dimensional vectors as JSON.
	MaxBodyBytes int
	// MaxBatch bounds the documents of one upsert (one stream message) and
	// the ids of one delete. Default 1,000.
	MaxBatch int
	// MaxK bounds a search's k. Default 1,000.
	MaxK int
	// MaxTextBytes bounds a document's text. Default 1 MiB: chunk larger
	// documents (ragctl ingest does).
	MaxTextBytes int
	// MaxQueryBytes bounds a search's query text. Default 16 KiB.
	MaxQueryBytes int
	// MaxMetadataBytes bounds a document's metadata as JSON. Default 64 KiB.
	MaxMetadataBytes int
	// MaxFilterDepth bounds the nesting of a filter (must inside should
	// inside must…). Default 16.
	MaxFilterDepth int
	// MaxEmbedInputs bounds the texts of one /v1/embeddings request.
	// Default 2,048, OpenAI's.
	MaxEmbedInputs int
	// MaxInFlight bounds the requests served at once (each message of an
	// UpsertStream counts as one while it is stored); more get 429 with
	// Retry-After. Default 1,024.
	MaxInFlight int
	// MaxBufferedBytes bounds the REST bodies held in memory at once (a
	// body is read whole before it is decoded; a chunked one is counted
	// as it arrives); more get 429 with Retry-After. Default 256 MiB, at
	// least MaxBodyBytes.
	MaxBufferedBytes int
	// MaxBatchSearches bounds the searches of one SearchBatch. Default
	// 1,000: an evaluation run's queries in a few calls.
	MaxBatchSearches int
	// ReadEmbedRate bounds the texts per second that one read-role key
	// may send to the OpenAI-compatible endpoint through /v1/embeddings
	// (bursts of up to MaxEmbedInputs); more get 429 with Retry-After.
	// Read keys may also name no OpenAI model but the server's
	// (--openai-model). Default 100: a read key cannot spend the
	// operator's quota or fill the embedding cache at will. Write and
	// admin keys are not limited.
	ReadEmbedRate int
}

// ErrInvalidConfig wraps every Config.Validate failure.
var ErrInvalidConfig = errors.New("server: invalid config")

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{}.withDefaults() }

// DefaultLimits returns the default limits.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxBodyBytes, 32<<20)
	def(&l.MaxBatch, 1000)
	def(&l.MaxK, 1000)
	def(&l.MaxTextBytes, 1<<20)
	def(&l.MaxQueryBytes, 16<<10)
	def(&l.MaxMetadataBytes, 64<<10)
	def(&l.MaxFilterDepth, 16)
	def(&l.MaxEmbedInputs, 2048)
	def(&l.MaxInFlight, 1024)
	def(&l.MaxBufferedBytes, max(256<<20, l.MaxBodyBytes))
	def(&l.ReadEmbedRate, 100)
	def(&l.MaxBatchSearches, 1000)
	return l
}

func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.GRPCAddr == "" {
		c.GRPCAddr = "127.0.0.1:9090"
	}
	if c.Index.MaxK == 0 {
		c.Index.MaxK = index.DefaultConfig().MaxK
	}
	if c.Embed.Default == "" {
		c.Embed.Default = ProviderLocal
	}
	if c.Embed.HashDimension == 0 {
		c.Embed.HashDimension = embed.DefaultHashDimension
	}
	if c.Embed.OpenAI.BaseURL == "" {
		c.Embed.OpenAI.BaseURL = embed.DefaultOpenAIBaseURL
	}
	if c.Embed.OpenAI.Model == "" {
		c.Embed.OpenAI.Model = embed.DefaultOpenAIModel
	}
	c.Limits = c.Limits.withDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.CalibrateInterval == 0 {
		c.CalibrateInterval = time.Minute
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
	return c
}

// Validate reports the first invalid field, after defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, a := range []struct{ name, addr string }{{"http address", c.HTTPAddr}, {"grpc address", c.GRPCAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%w: %s %q: %v", ErrInvalidConfig, a.name, a.addr, err)
		}
	}
	if err := c.Index.Validate(); err != nil {
		return fmt.Errorf("%w: index: %v", ErrInvalidConfig, err)
	}
	if err := c.LLM.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	switch c.Embed.Default {
	case ProviderLocal, ProviderOpenAI, ProviderHash, ProviderNone:
	default:
		return fmt.Errorf("%w: default embedder %q (want local, openai, hash or none)", ErrInvalidConfig, c.Embed.Default)
	}
	if c.Embed.CacheMaxBytes < 0 {
		return fmt.Errorf("%w: embedding cache bound %d is negative", ErrInvalidConfig, c.Embed.CacheMaxBytes)
	}
	if c.Embed.HashDimension < 1 || c.Embed.HashDimension > embed.MaxHashDimension {
		return fmt.Errorf("%w: hash dimension %d out of range [1, %d]", ErrInvalidConfig, c.Embed.HashDimension, embed.MaxHashDimension)
	}
	seen := map[embed.Secret]string{}
	for i, k := range c.Auth.Keys {
		if k.Role < RoleRead || k.Role > RoleAdmin {
			return fmt.Errorf("%w: api key %d (%s): no role", ErrInvalidConfig, i, k.Name)
		}
		if strings.ContainsFunc(string(k.Key), unicode.IsSpace) {
			return fmt.Errorf("%w: api key %d (%s) contains white space", ErrInvalidConfig, i, k.Name)
		}
		if len(k.Key) < minKeyLen {
			return fmt.Errorf("%w: api key %d (%s): %d characters, want at least %d", ErrInvalidConfig, i, k.Name, len(k.Key), minKeyLen)
		}
		if other, dup := seen[k.Key]; dup {
			return fmt.Errorf("%w: api keys %q and %q are the same key", ErrInvalidConfig, other, k.Name)
		}
		seen[k.Key] = k.Name
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return fmt.Errorf("%w: tls: give both a certificate and a key file", ErrInvalidConfig)
	}
	if len(c.Auth.Keys) == 0 && !c.Auth.AllowUnauthenticated {
		for _, a := range []string{c.HTTPAddr, c.GRPCAddr} {
			if !isLoopback(a) {
				return fmt.Errorf("%w: %s is not a loopback address and no API key is configured; configure keys (--api-keys-file, RAGD_API_KEY) or pass --allow-unauthenticated", ErrInvalidConfig, a)
			}
		}
	}
	l := c.Limits
	for _, v := range []struct {
		name string
		v    int
	}{{"max body bytes", l.MaxBodyBytes}, {"max batch", l.MaxBatch}, {"max k", l.MaxK}, {"max text bytes", l.MaxTextBytes},
		{"max query bytes", l.MaxQueryBytes}, {"max metadata bytes", l.MaxMetadataBytes}, {"max filter depth", l.MaxFilterDepth},
		{"max embed inputs", l.MaxEmbedInputs}, {"max in flight", l.MaxInFlight}, {"max buffered bytes", l.MaxBufferedBytes},
		{"read embed rate", l.ReadEmbedRate}, {"max batch searches", l.MaxBatchSearches}} {
		if v.v < 1 {
			return fmt.Errorf("%w: limits: %s %d < 1", ErrInvalidConfig, v.name, v.v)
		}
	}
	if l.MaxBufferedBytes < l.MaxBodyBytes {
		return fmt.Errorf("%w: limits: max buffered bytes %d is below max body bytes %d", ErrInvalidConfig, l.MaxBufferedBytes, l.MaxBodyBytes)
	}
	if l.MaxK > c.Index.MaxK {
		return fmt.Errorf("%w: limits: max k %d exceeds the index's %d", ErrInvalidConfig, l.MaxK, c.Index.MaxK)
	}
	if l.MaxTextBytes > index.MaxTextBytes {
		return fmt.Errorf("%w: limits: max text bytes %d exceeds the index's %d", ErrInvalidConfig, l.MaxTextBytes, index.MaxTextBytes)
	}
	if l.MaxMetadataBytes > index.MaxMetadataBytes {
		return fmt.Errorf("%w: limits: max metadata bytes %d exceeds the index's %d", ErrInvalidConfig, l.MaxMetadataBytes, index.MaxMetadataBytes)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("%w: shutdown timeout %v < 0", ErrInvalidConfig, c.ShutdownTimeout)
	}
	return nil
}

// minKeyLen is the shortest API key accepted: 16 characters of a random
// key are beyond guessing; shorter ones are usually passwords.
const minKeyLen = 16

// isLoopback reports whether a listen address binds loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopbackHost(host)
}

// loopbackHost reports whether a host name (no port; an IPv6 address with
// or without brackets) is a loopback one: localhost, 127.0.0.0/8 or ::1.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
