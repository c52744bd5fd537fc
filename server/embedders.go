package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/local"
	"github.com/ragd/ragd/index"
)

// The embedder providers of a collection.
const (
	ProviderLocal  = "local"
	ProviderOpenAI = "openai"
	ProviderHash   = "hash"
	ProviderNone   = "none"
)

// maxOpenAIEmbedders bounds the distinct (base URL, model, dimensions)
// OpenAI-compatible embedders one server keeps: /v1/embeddings takes model
// names from requests, and each embedder holds a connection pool.
const maxOpenAIEmbedders = 64

// embedders builds and keeps the embedders of collections and of
// /v1/embeddings, one per distinct configuration, for the server's life.
// It is safe for concurrent use.
type embedders struct {
	cfg     EmbedConfig
	dataDir string
	metrics *embed.Metrics
	logger  *slog.Logger

	rates sync.Map // key name → *rate.Limiter of its texts sent upstream (read keys)

	localOnce  sync.Once
	localModel *local.Model
	localPool  *embed.Pool
	localErr   error

	mu struct {
		sync.Mutex
		byKey     map[index.EmbedderConfig]embed.Embedder // guarded by mu
		closers   map[index.EmbedderConfig][]func() error // what byKey's entries own; guarded by mu
		requested map[index.EmbedderConfig]bool           // made for /v1/embeddings model names; guarded by mu
		cache     *embed.Cache                            // opened on first use; guarded by mu
		closed    bool
		close     []func() error
	}
}

func newEmbedders(cfg EmbedConfig, dataDir string, m *embed.Metrics, logger *slog.Logger) *embedders {
	e := &embedders{cfg: cfg, dataDir: dataDir, metrics: m, logger: logger}
	e.mu.byKey = map[index.EmbedderConfig]embed.Embedder{}
	e.mu.requested = map[index.EmbedderConfig]bool{}
	e.mu.closers = map[index.EmbedderConfig][]func() error{}
	return e
}

// openAIEnabled says whether /v1/embeddings may forward unknown model names.
func (e *embedders) openAIEnabled() bool {
	if e.cfg.OpenAIEnabled != nil {
		return *e.cfg.OpenAIEnabled
	}
	if e.cfg.OpenAI.APIKey != "" || e.cfg.OpenAI.APIKeyFile != "" || e.cfg.OpenAI.BaseURL != embed.DefaultOpenAIBaseURL {
		return true
	}
	env := e.cfg.OpenAI.APIKeyEnv
	if env == "" {
		env = embed.DefaultOpenAIKeyEnv
	}
	return os.Getenv(env) != ""
}

// local returns the built-in model behind a pool shared by every caller:
// concurrent queries are batched into one forward pass.
func (e *embedders) local() (*embed.Pool, *local.Model, error) {
	e.localOnce.Do(func() {
		m, err := local.New(local.DefaultConfig())
		if err != nil {
			e.localErr = err
			return
		}
		p, err := embed.NewPool(m, embed.PoolConfig{Workers: runtime.GOMAXPROCS(0), MaxBatch: 8, BatchWindow: -1, Metrics: e.metrics})
		if err != nil {
			e.localErr = err
			return
		}
		e.localModel, e.localPool = m, p
		e.mu.Lock()
		e.mu.close = append(e.mu.close, p.Close)
		e.mu.Unlock()
	})
	return e.localPool, e.localModel, e.localErr
}

// resolve turns a collection's requested embedder and dimension into the
// stored config and the collection's dimension, checking that they agree.
// Probing an OpenAI-compatible model for its dimension makes one request.
func (e *embedders) resolve(ctx context.Context, provider, model, baseURL string, dims, dimension int) (index.EmbedderConfig, int, error) {
	if provider == "" {
		provider = e.cfg.Default
	}
	switch provider {
	case ProviderNone:
		switch {
		case model != "":
			return index.EmbedderConfig{}, 0, badField("embedder.model", "set with provider none")
		case baseURL != "":
			return index.EmbedderConfig{}, 0, badField("embedder.base_url", "set with provider none")
		case dims != 0:
			return index.EmbedderConfig{}, 0, badField("embedder.dimensions", "set with provider none; give the collection's dimension instead")
		}
		return index.EmbedderConfig{Provider: ProviderNone}, dimension, nil
	case ProviderLocal:
		if model != "" && model != local.ModelName {
			return index.EmbedderConfig{}, 0, badField("embedder.model", "%q: the local provider serves %s only", model, local.ModelName)
		}
		if baseURL != "" {
			return index.EmbedderConfig{}, 0, badField("embedder.base_url", "set with provider local")
		}
		if dims != 0 && dims != local.Dimension {
			return index.EmbedderConfig{}, 0, badField("embedder.dimensions", "%d: %s makes %d-dimensional vectors", dims, local.ModelName, local.Dimension)
		}
		if dimension != 0 && dimension != local.Dimension {
			return index.EmbedderConfig{}, 0, badField("dimension", "%d does not match the local embedder's %d; omit it, or use embedder provider none to bring your own vectors", dimension, local.Dimension)
		}
		return index.EmbedderConfig{Provider: ProviderLocal, Model: local.ModelName}, local.Dimension, nil
	case ProviderHash:
		if baseURL != "" {
			return index.EmbedderConfig{}, 0, badField("embedder.base_url", "set with provider hash")
		}
		d, err := e.hashDim("embedder.", model, dims, dimension)
		if err != nil {
			return index.EmbedderConfig{}, 0, err
		}
		if dimension != 0 && dimension != d {
			return index.EmbedderConfig{}, 0, badField("dimension", "%d does not match the hash embedder's %d", dimension, d)
		}
		return index.EmbedderConfig{Provider: ProviderHash, Model: "hash-" + strconv.Itoa(d), Dimension: d}, d, nil
	case ProviderOpenAI:
		if model == "" {
			model = e.cfg.OpenAI.Model
		}
		if baseURL == "" {
			baseURL = e.cfg.OpenAI.BaseURL
		}
		if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return index.EmbedderConfig{}, 0, badField("embedder.base_url", "%q is not an http or https URL", baseURL)
		}
		if dims < 0 || dims > embed.MaxHashDimension {
			return index.EmbedderConfig{}, 0, badField("embedder.dimensions", "%d out of range [0, %d]", dims, embed.MaxHashDimension)
		}
		ec := index.EmbedderConfig{Provider: ProviderOpenAI, Model: model, BaseURL: strings.TrimRight(baseURL, "/"), Dimension: dims}
		if dims != 0 {
			if dimension != 0 && dimension != dims {
				return index.EmbedderConfig{}, 0, badField("dimension", "%d does not match embedder.dimensions %d", dimension, dims)
			}
			return ec, dims, nil
		}
		if dimension != 0 {
			return ec, dimension, nil
		}
		emb, err := e.get(ec)
		if err != nil {
			return index.EmbedderConfig{}, 0, err
		}
		pr, ok := emb.(embed.Prober)
		if !ok {
			return ec, emb.Dimension(), nil
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		d, err := pr.Probe(pctx)
		if err != nil {
			e.forget(ec)
			return index.EmbedderConfig{}, 0, fmt.Errorf("probe the dimension of %s at %s (or give dimension): %w", model, ec.BaseURL, err)
		}
		return ec, d, nil
	}
	return index.EmbedderConfig{}, 0, badField("embedder.provider", "%q (want local, openai, hash or none)", provider)
}

// hashDim is the dimension of a hash embedder asked for by model ("",
// "hash" or hash-<dimension>) and dims, falling back to fallback and then
// to the configured default; errors name prefix+"model" or
// prefix+"dimensions".
func (e *embedders) hashDim(prefix, model string, dims, fallback int) (int, error) {
	d := dims
	if model != "" && model != ProviderHash {
		n, ok := hashModelDim(model)
		if !ok {
			return 0, badField(prefix+"model", "%q: hash models are hash-<dimension>, 1 to %d", model, embed.MaxHashDimension)
		}
		if d != 0 && d != n {
			return 0, badField(prefix+"dimensions", "%d does not match model %s", d, model)
		}
		d = n
	}
	if d == 0 {
		d = fallback
	}
	if d == 0 {
		d = e.cfg.HashDimension
	}
	if d < 1 || d > embed.MaxHashDimension {
		return 0, badField(prefix+"dimensions", "%d out of range [1, %d]", d, embed.MaxHashDimension)
	}
	return d, nil
}

// hashModelDim parses "hash-<dimension>".
func hashModelDim(model string) (int, bool) {
	s, ok := strings.CutPrefix(model, "hash-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > embed.MaxHashDimension || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

// get returns the embedder of a resolved config (a collection's); nil for
// provider none.
func (e *embedders) get(ec index.EmbedderConfig) (embed.Embedder, error) { return e.getFor(ec, false) }

// getFor is get; forRequest marks an embedder made for a model name that a
// /v1/embeddings request gave, of which the server keeps a bounded number
// (collections' embedders are bounded by the collections).
func (e *embedders) getFor(ec index.EmbedderConfig, forRequest bool) (embed.Embedder, error) {
	switch ec.Provider {
	case "", ProviderNone:
		return nil, nil
	case ProviderLocal:
		p, _, err := e.local()
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closed {
		return nil, embed.ErrClosed
	}
	if emb, ok := e.mu.byKey[ec]; ok {
		return emb, nil
	}
	var emb embed.Embedder
	switch ec.Provider {
	case ProviderHash:
		h, err := embed.NewHash(embed.HashConfig{Dimension: ec.Dimension})
		if err != nil {
			return nil, err
		}
		emb = h
	case ProviderOpenAI:
		if forRequest && len(e.mu.requested) >= maxOpenAIEmbedders {
			return nil, &retryError{code: codes.ResourceExhausted, after: time.Minute,
				msg: fmt.Sprintf("model %q: this server already serves %d other OpenAI-compatible models on /v1/embeddings", ec.Model, maxOpenAIEmbedders)}
		}
		oc := e.cfg.OpenAI
		oc.Model, oc.Dimensions, oc.Metrics = ec.Model, ec.Dimension, e.metrics
		if strings.TrimRight(oc.BaseURL, "/") != ec.BaseURL {
			// Another endpoint than the configured one: send it no key. An
			// empty key file means "no key" to NewOpenAI (os.DevNull is
			// one), where leaving the fields empty would read the
			// environment's key.
			oc.BaseURL, oc.APIKey, oc.APIKeyFile = ec.BaseURL, "", os.DevNull
		}
		o, err := embed.NewOpenAI(oc)
		if err != nil {
			return nil, err
		}
		p, err := embed.NewPool(o, embed.PoolConfig{Workers: 8, Metrics: e.metrics})
		if err != nil {
			return nil, errors.Join(err, o.Close())
		}
		e.mu.closers[ec] = []func() error{p.Close, o.Close}
		emb = p
		if !e.cfg.NoCache {
			if e.mu.cache == nil {
				c, err := embed.OpenCache(filepath.Join(e.dataDir, "embed-cache.db"), embed.CacheConfig{Logger: e.logger, Metrics: e.metrics, MaxBytes: e.cfg.CacheMaxBytes})
				if err != nil {
					// Nothing of this embedder stays: its pool's workers stop.
					delete(e.mu.closers, ec)
					return nil, errors.Join(fmt.Errorf("open the embedding cache: %w", err), p.Close(), o.Close())
				}
				e.mu.cache = c
			}
			emb = e.mu.cache.Wrap(p)
		}
	default:
		return nil, fmt.Errorf("collection has an unknown embedder provider %q", ec.Provider)
	}
	e.mu.byKey[ec] = emb
	if forRequest && ec.Provider == ProviderOpenAI {
		e.mu.requested[ec] = true
	}
	return emb, nil
}

// forget closes and drops an embedder that failed its first use (a
// probe), so that a wrong base URL or model does not stay.
func (e *embedders) forget(ec index.EmbedderConfig) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.mu.closers[ec] {
		_ = c()
	}
	delete(e.mu.closers, ec)
	delete(e.mu.byKey, ec)
	delete(e.mu.requested, ec)
}

// forModel picks the embedder of a /v1/embeddings request by its model
// name: the local model (by name or "local"), a hash model ("hash" or
// hash-<dimension>), the default ("" ), else an OpenAI-compatible model when
// OpenAI is enabled.
func (e *embedders) forModel(model string, dims int) (embed.Embedder, error) {
	if model == "" {
		model = e.cfg.Default
		if model == ProviderNone {
			model = ProviderLocal
		}
		if model == ProviderOpenAI {
			model = e.cfg.OpenAI.Model
		}
	}
	switch {
	case model == ProviderLocal || model == local.ModelName:
		if dims != 0 && dims != local.Dimension {
			return nil, badField("dimensions", "%d: %s makes %d-dimensional vectors only", dims, local.ModelName, local.Dimension)
		}
		return e.get(index.EmbedderConfig{Provider: ProviderLocal})
	case model == ProviderHash || strings.HasPrefix(model, "hash-"):
		d, err := e.hashDim("", model, dims, 0)
		if err != nil {
			return nil, err
		}
		return e.get(index.EmbedderConfig{Provider: ProviderHash, Model: "hash-" + strconv.Itoa(d), Dimension: d})
	case e.openAIEnabled():
		if model == ProviderOpenAI {
			model = e.cfg.OpenAI.Model
		}
		if dims < 0 || dims > embed.MaxHashDimension {
			return nil, badField("dimensions", "%d out of range [0, %d]", dims, embed.MaxHashDimension)
		}
		return e.getFor(index.EmbedderConfig{Provider: ProviderOpenAI, Model: model, BaseURL: strings.TrimRight(e.cfg.OpenAI.BaseURL, "/"), Dimension: dims}, true)
	}
	return nil, &notFoundError{msg: fmt.Sprintf("model %q is not served here; this server embeds with %s (or local), hash-<dimension>, and no OpenAI-compatible endpoint is configured", model, local.ModelName)}
}

// truncater says of texts whether an embedder reads only their first part.
type truncater interface{ Truncates(text string) bool }

// truncater returns the window check of emb: the local model's, which
// reads 128 tokens and drops the rest; nil for the others (the hash
// embedder reads everything, and OpenAI's models refuse what exceeds their
// window rather than cut it).
func (e *embedders) truncater(emb embed.Embedder) truncater {
	if emb.Model() != local.ModelName {
		return nil
	}
	if p, m, _ := e.local(); m != nil && emb == embed.Embedder(p) {
		return m
	}
	return nil
}

// checkReadModel refuses a /v1/embeddings model that a read key may not
// use: an OpenAI-compatible model other than the server's own (making an
// embedder for any name would let a read key spend the operator's quota on
// arbitrary models and fill the cache).
func (e *embedders) checkReadModel(model string) error {
	switch {
	case model == "" || model == ProviderLocal || model == local.ModelName || model == ProviderHash || strings.HasPrefix(model, "hash-"):
		return nil
	case model == ProviderOpenAI || model == e.cfg.OpenAI.Model || !e.openAIEnabled():
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "model %q: a read key may embed with %s, hash-<dimension> or this server's OpenAI-compatible model %q; other models need a write key", model, local.ModelName, e.cfg.OpenAI.Model)
}

// spend takes n texts from a read key's budget of perSecond texts sent to
// the OpenAI-compatible endpoint (bursts up to burst), or fails with
// ResourceExhausted and the wait.
func (e *embedders) spend(key string, n, perSecond, burst int) error {
	v, _ := e.rates.LoadOrStore(key, rate.NewLimiter(rate.Limit(perSecond), max(burst, perSecond)))
	lim := v.(*rate.Limiter)
	r := lim.ReserveN(time.Now(), n)
	if !r.OK() {
		return badField("input", "%d texts exceed the %d a read key may send at once", n, lim.Burst())
	}
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return &retryError{code: codes.ResourceExhausted, after: d,
			msg: fmt.Sprintf("read key %q: over %d texts per second to the OpenAI-compatible endpoint (--read-embed-rate); retry", key, perSecond)}
	}
	return nil
}

// upstream reports whether an embedder made by forModel sends texts to the
// OpenAI-compatible endpoint (the others are the local model and the hash
// embedder, which cost CPU but no quota).
func upstream(emb embed.Embedder) bool {
	_, isHash := emb.(*embed.Hash)
	return !isHash && emb.Model() != local.ModelName
}

// notFoundError is a NotFound that is not the index's.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

// countTokens estimates the tokens of texts for /v1/embeddings' usage: the
// local model's own tokenizer when it made the vectors, else OpenAI's rule
// of thumb (a token per four bytes).
func (e *embedders) countTokens(emb embed.Embedder, texts []string) int {
	n := 0
	if emb.Model() == local.ModelName { // checked first: e.local() loads the model
		if p, m, _ := e.local(); m != nil && emb == embed.Embedder(p) {
			for _, t := range texts {
				n += min(len(m.Tokenize(t)), m.MaxTokens())
			}
			return n
		}
	}
	for _, t := range texts {
		n += (len(t) + 3) / 4
	}
	return n
}

// close releases every embedder and the cache.
func (e *embedders) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mu.closed = true
	var errs []error
	for i := len(e.mu.close) - 1; i >= 0; i-- {
		errs = append(errs, e.mu.close[i]())
	}
	for _, cs := range e.mu.closers {
		for _, c := range cs {
			errs = append(errs, c())
		}
	}
	if e.mu.cache != nil {
		errs = append(errs, e.mu.cache.Close())
	}
	return errors.Join(errs...)
}
