// Command ragd is the ragd server: gRPC and REST over a data folder, with
// the local embedding model by default. `go run ./cmd/ragd` serves ./data
// on 127.0.0.1:8080 (REST) and 127.0.0.1:9090 (gRPC) with no other flag.
//
// Every flag can also be set by an environment variable RAGD_<FLAG>, the
// flag's name in upper case with '-' as '_' (--http-addr: RAGD_HTTP_ADDR);
// a flag on the command line wins. Secrets come only from the environment
// or files: RAGD_API_KEY (one admin key), --api-keys-file, OPENAI_API_KEY
// or --openai-api-key-file, RAGD_LLM_API_KEY or --llm-api-key-file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/rag"
	"github.com/ragd/ragd/server"
)

func main() {
	if err := newRootCmd(os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ragd:", err)
		os.Exit(1)
	}
}

// options are the flags.
type options struct {
	data, httpAddr, grpcAddr                             string
	embedder                                             string
	hashDimension                                        int
	openAIBaseURL, openAIModel                           string
	openAIKeyFile                                        string
	noEmbedCache                                         bool
	embedCacheBytes                                      int64
	apiKeysFile                                          string
	allowUnauthenticated                                 bool
	tlsCert, tlsKey                                      string
	limits                                               server.Limits
	logLevel, logFormat                                  string
	otlpEndpoint                                         string
	otlpInsecure                                         bool
	shutdownTimeout, calibrateInterval, snapshotInterval time.Duration
	llm                                                  llmOptions
}

// llmOptions configure answers (Ask).
type llmOptions struct {
	baseURL, model    string
	models            []string
	keyFile           string
	timeout           time.Duration
	maxContext, maxTk int
	k                 int
}

func newRootCmd(stderr io.Writer) *cobra.Command {
	var o options
	def := server.DefaultLimits()
	cmd := &cobra.Command{
		Use:           "ragd",
		Short:         "ragd: a retrieval server for LLM applications (vector, BM25 and hybrid search)",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			cfg, err := o.config(stderr)
			if err != nil {
				return err
			}
			s, err := server.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			go func() {
				<-ctx.Done()
				stop() // a second signal kills at once
			}()
			return s.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.data, "data", "./data", "data folder: collections, embedding cache")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", "REST, /metrics, /healthz, /readyz and /openapi.json address")
	f.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:9090", "gRPC address")
	f.StringVar(&o.embedder, "embedder", server.ProviderLocal, "embedder of collections created without one: local, openai, hash or none")
	f.IntVar(&o.hashDimension, "hash-dimension", embed.DefaultHashDimension, "dimension of the hash embedder when a collection gives none")
	f.StringVar(&o.openAIBaseURL, "openai-base-url", embed.DefaultOpenAIBaseURL, "OpenAI-compatible endpoint (Ollama: http://localhost:11434/v1); its key comes from OPENAI_API_KEY or --openai-api-key-file")
	f.StringVar(&o.openAIModel, "openai-model", embed.DefaultOpenAIModel, "default model of provider openai")
	f.StringVar(&o.openAIKeyFile, "openai-api-key-file", "", "file holding the OpenAI API key (default: the OPENAI_API_KEY variable)")
	f.BoolVar(&o.noEmbedCache, "no-embed-cache", false, "do not cache the vectors of OpenAI-compatible embedders in <data>/embed-cache.db")
	f.Int64Var(&o.embedCacheBytes, "embed-cache-bytes", embed.DefaultCacheMaxBytes, "bound of the embedding cache; the least recently used vectors are evicted beyond it")
	f.StringVar(&o.apiKeysFile, "api-keys-file", "", "API keys, one per line: <read|write|admin> <key> [<name>] (RAGD_API_KEY adds one admin key)")
	f.BoolVar(&o.allowUnauthenticated, "allow-unauthenticated", false, "serve without API keys on a non-loopback address")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate (PEM) for both ports")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key (PEM)")
	f.IntVar(&o.limits.MaxBodyBytes, "max-body-bytes", def.MaxBodyBytes, "largest REST body or gRPC message")
	f.IntVar(&o.limits.MaxBatch, "max-batch", def.MaxBatch, "most documents in one upsert, ids in one delete")
	f.IntVar(&o.limits.MaxK, "max-k", def.MaxK, "largest k of a search")
	f.IntVar(&o.limits.MaxTextBytes, "max-text-bytes", def.MaxTextBytes, "largest document text")
	f.IntVar(&o.limits.MaxQueryBytes, "max-query-bytes", def.MaxQueryBytes, "largest query text")
	f.IntVar(&o.limits.MaxMetadataBytes, "max-metadata-bytes", def.MaxMetadataBytes, "largest document metadata, as JSON")
	f.IntVar(&o.limits.MaxFilterDepth, "max-filter-depth", def.MaxFilterDepth, "deepest nesting of filters")
	f.IntVar(&o.limits.MaxEmbedInputs, "max-embed-inputs", def.MaxEmbedInputs, "most texts in one /v1/embeddings request")
	f.IntVar(&o.limits.MaxInFlight, "max-in-flight", def.MaxInFlight, "most requests served at once; more get 429")
	f.IntVar(&o.limits.MaxBufferedBytes, "max-buffered-bytes", def.MaxBufferedBytes, "most REST body bytes held in memory at once; more get 429")
	f.IntVar(&o.limits.MaxBatchSearches, "max-batch-searches", def.MaxBatchSearches, "most searches in one search:batch request")
	f.IntVar(&o.limits.ReadEmbedRate, "read-embed-rate", def.ReadEmbedRate, "texts per second a read key may send to the OpenAI-compatible endpoint through /v1/embeddings")
	f.StringVar(&o.logLevel, "log-level", "info", "debug (a line per request), info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "text or json")
	f.StringVar(&o.otlpEndpoint, "otlp-endpoint", "", "OTLP/gRPC collector for traces, host:port or URL (default: OTEL_EXPORTER_OTLP_ENDPOINT; none: tracing off)")
	f.BoolVar(&o.otlpInsecure, "otlp-insecure", false, "send traces without TLS")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long SIGTERM waits for requests in flight")
	f.DurationVar(&o.calibrateInterval, "calibrate-interval", time.Minute, "how often to look for collections whose default hybrid fusion needs calibrating (new, or grown or shrunk by half); negative: off")
	f.DurationVar(&o.snapshotInterval, "snapshot-interval", time.Minute, "how often changed graphs are snapshotted (bounds replay at restart)")
	f.StringVar(&o.llm.baseURL, "llm-base-url", "", "OpenAI-compatible chat API that answers /ask (OpenAI: https://api.openai.com/v1, Ollama: http://localhost:11434/v1); its key comes from RAGD_LLM_API_KEY or --llm-api-key-file; none: /ask returns the passages")
	f.StringVar(&o.llm.model, "llm-model", "", "model that answers /ask (required with --llm-base-url)")
	f.StringSliceVar(&o.llm.models, "llm-models", nil, "other models a request may name, comma-separated")
	f.StringVar(&o.llm.keyFile, "llm-api-key-file", "", "file holding the LLM's API key (default: the RAGD_LLM_API_KEY variable)")
	f.DurationVar(&o.llm.timeout, "llm-timeout", rag.DefaultTimeout, "bound of a non-streaming answer, and of the wait for a stream's first token")
	f.IntVar(&o.llm.maxContext, "llm-max-context-tokens", rag.DefaultMaxContextTokens, "default token budget of an answer's prompt")
	f.IntVar(&o.llm.maxTk, "llm-max-tokens", rag.DefaultMaxTokens, "default bound of an answer's length in tokens")
	f.IntVar(&o.llm.k, "llm-k", rag.DefaultK, "passages retrieved for an answer when the request gives no k")
	return cmd
}

// llmKeyEnv holds the LLM's API key.
const llmKeyEnv = "RAGD_LLM_API_KEY"

// config is the rag.Config of the flags, the key read from its file or
// RAGD_LLM_API_KEY (trimmed: Kubernetes Secrets and files often end with a
// newline).
func (l llmOptions) config() (rag.Config, error) {
	c := rag.Config{BaseURL: l.baseURL, Model: l.model, Models: l.models, Timeout: l.timeout, FirstByteTimeout: l.timeout,
		MaxContextTokens: l.maxContext, MaxTokens: l.maxTk, K: l.k}
	key := os.Getenv(llmKeyEnv)
	if l.keyFile != "" {
		b, err := os.ReadFile(l.keyFile)
		if err != nil {
			return c, fmt.Errorf("--llm-api-key-file: %w", err)
		}
		key = string(b)
	}
	c.APIKey = embed.Secret(strings.TrimSpace(key))
	if c.BaseURL == "" && (c.Model != "" || len(c.Models) > 0) {
		return c, errors.New("--llm-model and --llm-models need --llm-base-url")
	}
	return c, nil
}

// applyEnv sets every flag not given on the command line from RAGD_<FLAG>.
func applyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "RAGD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookup(name); ok && v != "" { // set but empty: unset
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	if err == nil && !fs.Changed("otlp-endpoint") {
		if v, ok := lookup("OTEL_EXPORTER_OTLP_ENDPOINT"); ok && v != "" {
			err = fs.Set("otlp-endpoint", v)
		}
	}
	return err
}

// config builds the server's Config from the options.
func (o *options) config(stderr io.Writer) (server.Config, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return server.Config{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch o.logFormat {
	case "text":
		h = slog.NewTextHandler(stderr, hopts)
	case "json":
		h = slog.NewJSONHandler(stderr, hopts)
	default:
		return server.Config{}, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	cfg := server.Config{
		DataDir: o.data, HTTPAddr: o.httpAddr, GRPCAddr: o.grpcAddr,
		Logger: slog.New(h), Limits: o.limits,
		Embed: server.EmbedConfig{
			Default: o.embedder, HashDimension: o.hashDimension, NoCache: o.noEmbedCache, CacheMaxBytes: o.embedCacheBytes,
			OpenAI: embed.OpenAIConfig{BaseURL: o.openAIBaseURL, Model: o.openAIModel, APIKeyFile: o.openAIKeyFile},
		},
		Auth:         server.AuthConfig{AllowUnauthenticated: o.allowUnauthenticated},
		TLS:          server.TLSConfig{CertFile: o.tlsCert, KeyFile: o.tlsKey},
		OTLPEndpoint: o.otlpEndpoint, OTLPInsecure: o.otlpInsecure,
		ShutdownTimeout:   o.shutdownTimeout,
		CalibrateInterval: o.calibrateInterval,
	}
	cfg.Index.SnapshotInterval = o.snapshotInterval
	llm, err := o.llm.config()
	if err != nil {
		return server.Config{}, err
	}
	cfg.LLM = llm
	if o.apiKeysFile != "" {
		f, err := os.Open(o.apiKeysFile)
		if err != nil {
			return server.Config{}, fmt.Errorf("--api-keys-file: %w", err)
		}
		keys, err := server.ParseKeys(f)
		if err = errors.Join(err, f.Close()); err != nil {
			return server.Config{}, fmt.Errorf("--api-keys-file %s: %w", o.apiKeysFile, err)
		}
		cfg.Auth.Keys = keys
	}
	// Trimmed: a key from a Kubernetes Secret or a file often ends with a
	// newline that no client sends.
	if k := strings.TrimSpace(os.Getenv("RAGD_API_KEY")); k != "" {
		cfg.Auth.Keys = append(cfg.Auth.Keys, server.APIKey{Name: "RAGD_API_KEY", Role: server.RoleAdmin, Key: embed.Secret(k)})
	}
	return cfg, nil
}
