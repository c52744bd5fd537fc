package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Record is one chunk ready to upsert: the document a collection stores.
type Record struct {
	// ID is stable across runs: the document's ID, or its source, then
	// "#" and the chunk's number ("guide/intro.md#3"); a document with its
	// own ID and a single chunk keeps that ID as it is.
	ID string
	// Text is the chunk's Text.
	Text string
	// Source and Chunk say where it came from (the chunk's number within
	// its document).
	Source string
	Chunk  int
	// Metadata is the document's metadata with the chunk's: source, chunk,
	// offset (characters), hash (of the file and the chunking settings),
	// and where known title, heading and page (PDF); these replace the
	// document's fields of the same names.
	Metadata map[string]any
	// Tokens is the chunk's length in the chunker's tokens.
	Tokens int
}

// Metadata keys of every record; they take precedence over a document's
// own fields of the same names.
const (
	KeySource  = "source"
	KeyTitle   = "title"
	KeyHeading = "heading"
	KeyChunk   = "chunk"
	KeyOffset  = "offset"
	KeyPage    = "page"
	KeyHash    = "hash"
)

// maxIDBytes is the index's limit on a document id.
const maxIDBytes = 512

// Hash fingerprints a file's content together with what else decides its
// chunks (settings: the tokenizer, budget, overlap, loader options…), so
// that a re-run skips a file only when it would write the same chunks.
func Hash(content []byte, settings string) string {
	h := sha256.New()
	h.Write([]byte(settings))
	h.Write([]byte{0})
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// idBase is what a document's chunk ids start with: its ID, else its
// source; a digest of it when too long for an id.
func idBase(doc Document) string {
	base := doc.ID
	if base == "" {
		base = doc.Source
	}
	if len(base)+12 > maxIDBytes {
		sum := sha256.Sum256([]byte(base))
		base = "sha256:" + hex.EncodeToString(sum[:16])
	}
	return base
}

// FirstChunkID is the id Records gives the first chunk of a file's
// document when the document has no ID of its own (every format but
// JSONL), so that a caller can look it up before loading the file.
func FirstChunkID(source string) string { return idBase(Document{Source: source}) + "#0" }

// Records turns a document's chunks into records carrying hash.
func Records(doc Document, chunks []Chunk, hash string) []Record {
	base := idBase(doc)
	out := make([]Record, len(chunks))
	for i, c := range chunks {
		md := make(map[string]any, len(doc.Metadata)+7)
		for k, v := range doc.Metadata {
			md[k] = v
		}
		md[KeySource] = doc.Source
		md[KeyChunk] = i
		md[KeyOffset] = c.Offset
		md[KeyHash] = hash
		if doc.Title != "" {
			md[KeyTitle] = doc.Title
		}
		if c.Heading != "" {
			md[KeyHeading] = c.Heading
		}
		if c.Page > 0 {
			md[KeyPage] = c.Page
		}
		id := base + "#" + strconv.Itoa(i)
		if doc.ID != "" && len(chunks) == 1 && len(doc.ID) <= maxIDBytes {
			id = doc.ID
		}
		out[i] = Record{ID: id, Text: c.Text, Source: doc.Source, Chunk: i, Metadata: md, Tokens: c.Tokens}
	}
	return out
}

// Settings describes chunking settings for Hash.
func Settings(cfg ChunkConfig, extra string) string {
	return fmt.Sprintf("ingest/v1 tokenizer=%s max=%d overlap=%d prefix=%t %s",
		cfg.Tokenizer.TokenizerName(), cfg.MaxTokens, cfg.Overlap, cfg.HeadingPrefix, extra)
}
