package index

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"unicode/utf8"

	"github.com/ragd/ragd/index/filter"
)

// Document is what a collection stores: an ID, text for keyword search and
// for the LLM, metadata for filters, a vector for similarity search, and
// where it came from for citations. An upsert replaces the whole document.
type Document struct {
	// ID names the document within its collection; Upsert generates a
	// random one (a UUID) when it is empty.
	ID string `json:"id"`
	// Text is indexed for BM25 and returned with results.
	Text string `json:"text,omitempty"`
	// Metadata is a JSON object of strings, numbers, booleans and lists of
	// those; strings in RFC 3339 form are also times. Filters apply to it.
	Metadata map[string]any `json:"metadata,omitempty"`
	// Vector must have the collection's dimension and finite elements;
	// under cosine it is stored normalised. A document may have none, and
	// is then found by text only.
	Vector []float32 `json:"vector,omitempty"`
	// Source (a path or URL) and Chunk (its position in the source) let an
	// answer cite where a passage came from.
	Source string `json:"source,omitempty"`
	Chunk  int    `json:"chunk,omitempty"`
}

// Limits on a document.
const (
	MaxIDBytes       = 512
	MaxTextBytes     = 4 << 20
	MaxSourceBytes   = 4096
	MaxMetadataBytes = 64 << 10
)

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// validateID checks a caller's document ID.
func validateID(id string) error {
	if why := idProblem(id); why != "" {
		return fmt.Errorf("%w: %s", ErrInvalidArgument, why)
	}
	return nil
}

// idProblem says what is wrong with an ID, "" if nothing.
func idProblem(id string) string {
	switch {
	case id == "":
		return "id is empty"
	case len(id) > MaxIDBytes:
		return fmt.Sprintf("id of %d bytes exceeds %d", len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return "id is not valid UTF-8"
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf("id contains control character %U", r)
		}
	}
	return ""
}

// shardOf routes an ID to a shard: FNV-1a of the ID, stable across
// processes and versions (on-disk layout; do not change).
func shardOf(id string, shards int) int {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64() % uint64(shards))
}

// prepared is a validated document ready for its shard.
type prepared struct {
	doc      Document
	metadata []byte // canonical JSON, nil when empty
	vector   []float32
}

// prepare validates d for the collection and returns its stored form:
// metadata as canonical JSON (keys sorted) and the vector normalised under
// cosine. i is d's position in the batch, for messages.
func (c CollectionConfig) prepare(i int, d Document) (prepared, error) {
	fail := func(format string, args ...any) (prepared, error) {
		return prepared{}, fmt.Errorf("%w: documents[%d] (id %q): %s", ErrInvalidArgument, i, d.ID, fmt.Sprintf(format, args...))
	}
	if why := idProblem(d.ID); why != "" {
		return prepared{}, fmt.Errorf("%w: documents[%d]: %s", ErrInvalidArgument, i, why)
	}
	if len(d.Text) > MaxTextBytes {
		return fail("text of %d bytes exceeds %d", len(d.Text), MaxTextBytes)
	}
	if !utf8.ValidString(d.Text) {
		return fail("text is not valid UTF-8")
	}
	if len(d.Source) > MaxSourceBytes || !utf8.ValidString(d.Source) {
		return fail("source must be valid UTF-8 of at most %d bytes", MaxSourceBytes)
	}
	if d.Chunk < 0 || d.Chunk > math.MaxInt32 {
		return fail("chunk %d out of range [0, 2^31)", d.Chunk)
	}
	p := prepared{doc: d}
	if len(d.Metadata) > 0 {
		b, err := MarshalMetadata(d.Metadata)
		if err != nil {
			return fail("metadata: %v", err)
		}
		if len(b) > MaxMetadataBytes {
			return fail("metadata of %d bytes exceeds %d", len(b), MaxMetadataBytes)
		}
		if err := validateMetadata(b); err != nil {
			return fail("metadata: %v", err)
		}
		p.metadata = b
	}
	if d.Vector != nil {
		if c.Dimension == 0 {
			return fail("vector given to a text-only collection (dimension 0)")
		}
		if len(d.Vector) != c.Dimension {
			return fail("vector has dimension %d, collection has %d", len(d.Vector), c.Dimension)
		}
		var ss float64
		for j, x := range d.Vector {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fail("vector[%d] is %v", j, x)
			}
			ss += float64(x) * float64(x)
		}
		v := d.Vector
		if c.Metric == Cosine {
			if ss == 0 {
				return fail("zero vector has no direction under the cosine metric")
			}
			inv := 1 / math.Sqrt(ss)
			v = make([]float32, len(d.Vector))
			for j, x := range d.Vector {
				v[j] = float32(float64(x) * inv)
			}
		}
		p.vector = v
	}
	return p, nil
}

// validateMetadata applies the metadata index's rules (see
// filter.ValidateMetadata) before anything is written.
func validateMetadata(b []byte) error { return filter.ValidateMetadata(b) }

// MarshalMetadata is the JSON of metadata as the store keeps it and as
// MaxMetadataBytes measures it: keys sorted, no HTML escaping (encoding/json
// would write each '<', '>' and '&' as six bytes), no trailing newline.
func MarshalMetadata(m map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
