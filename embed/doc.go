// Package embed turns text into vectors: the Embedder interface that the
// index, the ingest pipeline and the RAG layer consume, and its
// implementations.
//
// # What exists now
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
// # What comes later
//
// Later issues add, behind the same interface:
//
//   - an OpenAI-compatible provider (sashabaranov/go-openai with any base
//     URL: OpenAI, Azure, Ollama, vLLM, TEI, LocalAI), with the API key taken
//     from the environment only;
//   - a local default model that needs no network, its matrix products on
//     the simd kernels, so that `ragd` embeds out of the box;
//   - a worker pool in front of any Embedder: batching, a bounded queue,
//     retries with backoff, rate limits and a content-hash cache.
//
// # Concurrency
//
// Every Embedder is safe for concurrent use. Hash holds no mutable state.
package embed
