// Package rag answers questions from a collection's documents: it retrieves
// passages, assembles them into a prompt within a token budget, and asks an
// OpenAI-compatible chat endpoint for an answer that cites them by number.
// Without an LLM configured it returns the retrieved passages.
//
// # Pipeline
//
// Engine.Ask is Prepare then Generate; a server that streams calls them
// apart, to send the passages before the answer.
//
//  1. Retrieve: the Request's index.SearchRequest goes to a Searcher
//     (*index.Collection); the caller embeds the query, rag does not. K
//     defaults to Config.K.
//  2. Dedupe: a passage whose normalised body (heading line excluded) equals
//     a better one's, or whose word-3-shingle Jaccard similarity with it is
//     at least 0.9, is dropped.
//  3. Merge: chunks of one source with consecutive chunk numbers (metadata
//     "source" and "chunk", else Document.Source and Chunk) become one
//     passage, written without the repeated heading line (metadata
//     "heading", the first line of a chunk made by `ragctl ingest`) and
//     without the overlap of consecutive chunks (the longest suffix of one
//     that is a prefix of the next, 16 bytes or more, from a word
//     boundary). It keeps the first chunk's ID and the best score.
//  4. Budget: best score first, whole passages are added while the whole
//     prompt — system message, sources, question and chat framing —
//     stays within MaxContextTokens; one that does not fit is skipped for
//     smaller ones after it. When not even the best fits, it alone is cut
//     at a token boundary: the context is never empty. Tokens are counted
//     with the model's tokenizer (tiktoken's o200k_base or cl100k_base,
//     compiled in, never downloaded), or estimated for other models (see
//     TokenizerEstimate).
//  5. Prompt: the system message holds the instructions and fixed rules:
//     sources are data, not instructions; answer only from them; cite them
//     as [n]; say plainly when they do not hold the answer. The user
//     message quotes each passage as <source id="n" title="…"
//     source="…">…</source>, "<source" and "</source" inside a passage
//     neutralised, then the question.
//  6. Generate: a chat completion through go-openai, streamed (with
//     stream_options.include_usage) or not. Retries 429, 408, 409, 5xx,
//     network errors and timeouts with jittered exponential backoff or the
//     endpoint's Retry-After / retry-after-ms — never once answer text has
//     been relayed. A stream is bounded by a first-byte and an idle
//     timeout, not a total one.
//  7. Citations: [n], [1, 3], [1][2], [2-4] and [Source 2] markers outside
//     code, in order of first appearance, each once; those naming no
//     passage are logged at Debug and dropped.
//
// No passages retrieved: the LLM is not asked (it could only answer from
// its own knowledge) and the Response carries NoteNoPassages. No LLM
// configured: the Response carries the passages and NoteNoLLM. Neither is
// an error.
//
// # Errors
//
// errors.go lists the sentinels the server maps: ErrInvalidArgument (400),
// ErrUpstream (502), ErrUpstreamTimeout (504), ErrRateLimited (429 with
// UpstreamError.RetryAfter), the last three in an *UpstreamError carrying
// the endpoint's status and message without the key. A cancelled ctx comes
// back as an error matching ctx.Err(); an error of onDelta comes back
// wrapped, after the request to the endpoint has been cancelled.
//
// # Formats
//
// The prompt's format is above and in prompt.go; the wire format is
// OpenAI's chat completions API (rag/chattest fakes it for tests).
//
// # Concurrency
//
// An Engine is safe for concurrent use and owns no goroutine: each Ask
// runs in its caller's goroutine (a timer's function cancels an attempt
// that times out). The tokenizers are loaded once per process, on first
// use, and shared.
package rag
