// Package embed turns text into vectors: the Embedder interface that the
// index, the ingest pipeline and the RAG layer consume, its
// implementations, and the layers that go in front of any of them.
//
// # Embedders
//
// Embedder is the contract. Hash is a deterministic feature-hashing
// embedder that needs no model, no network and no data files: it maps word
// unigrams, word bigrams and character trigrams into a fixed number of
// dimensions with signed hashing (the "hashing trick") and L2-normalises the
// result. It captures lexical overlap only — two texts are close when they
// share words or word pieces, never because they mean the same thing — so it
// is for tests, benchmarks and examples that need real-looking, repeatable
// vectors, not for semantic search. The same text gives bit-identical
// vectors on every run and platform (see Hash).
//
// OpenAI embeds through any OpenAI-compatible /embeddings endpoint
// (sashabaranov/go-openai with a configurable base URL: OpenAI, Azure
// OpenAI, Ollama, vLLM, Hugging Face TEI, LocalAI). It batches by count and
// by an estimated token budget, bounds the requests in flight, retries
// 429, 5xx, timeouts and network errors with jittered exponential backoff
// or the server's Retry-After, fails at once on 400/401/403/404 with a
// message naming the cause, and rejects any response whose vectors are
// missing, misplaced, of the wrong dimension or not finite. Its API key
// comes from the environment or a file and is never logged (Secret).
//
// The local default model, which needs no network, lives in embed/local.
//
// # Layers
//
// Pool sits in front of any Embedder, shared by the process: a bounded
// queue with back-pressure, micro-batching of concurrent small calls,
// dedupe of identical texts, order kept per caller. It has two lanes: a
// call whose ctx carries PriorityQuery (WithPriority: a search's query, a
// question) is served ahead of queued bulk work, on a query worker of its
// own if need be, while bulk work keeps a bounded share (QueryBurst); the
// OpenAI embedder's limit of requests in flight favours such calls too.
// Cache (OpenCache, then Cache.Wrap) stores vectors in a bbolt file keyed
// by provider, model, dimension and the SHA-256 of the text, so that
// re-embedding unchanged text makes no call; its size is bounded
// (CacheConfig.MaxBytes, 1 GiB by default) by evicting the least recently
// used entries. Metrics is a prometheus.Collector fed by all three. A
// typical ingestion chain is Cache.Wrap(Pool(OpenAI)): cache hits never
// queue, and the misses of concurrent callers are batched together.
//
// # Errors
//
// errors.go lists the sentinels: ErrEmptyText (in a *TextError naming the
// text's index), the provider's ErrUnauthorized, ErrModelNotFound,
// ErrBadRequest, ErrRateLimited, ErrUnavailable and ErrBadResponse (in a
// *ProviderError with the HTTP status and Retry-After), ErrClosed and
// ErrInvalidConfig.
//
// # Formats
//
// The cache file is a bbolt file described at cacheFormat in cache.go:
// one bucket per (provider, model, dimension), SHA-256 keys, values of a
// version byte, a CRC-32C and little-endian float32s, and an index of
// every entry's size and last use (format version 2; OpenCache upgrades a
// version 1 file in place). A damaged value is a miss, never a vector.
//
// # Concurrency
//
// Every Embedder here is safe for concurrent use. Hash holds no mutable
// state. OpenAI shares one limit of requests in flight among its callers.
// Pool owns a dispatcher and Workers + QueryWorkers goroutines, stopped
// by Close; OpenAI and Cache own no goroutine (Close releases idle
// connections and the file). Cache serialises its writes; its evictions
// run in the write transaction that goes over the bound.
package embed
