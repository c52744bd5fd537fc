package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"unicode/utf8"
)

// The layout of the file is described in docs/format/store.md. Every
// constant in this file is on-disk format; do not change it. A new layout
// gets a new version number and a decoder for the old one.

// Bucket names. On-disk format; do not change.
var (
	bucketMeta        = []byte("meta")
	bucketDocs        = []byte("docs") // num (u32 BE) → document record
	bucketIDs         = []byte("ids")  // id → num (u32 BE)
	bucketLog         = []byte("log")  // seq (u64 BE) → change record
	bucketCollections = []byte("collections")
)

// Keys of the meta bucket. On-disk format; do not change.
var (
	keyFormat   = []byte("format")    // formatStore or formatCatalog
	keyVersion  = []byte("version")   // u32 BE
	keyNextNum  = []byte("next_num")  // u64 BE: the number the next new ID gets
	keyLastSeq  = []byte("last_seq")  // u64 BE: the highest sequence number assigned
	keyDocCount = []byte("doc_count") // u64 BE: the number of documents
	keyLogFloor = []byte("log_floor") // u64 BE: records ≤ this were truncated
)

// File kinds and versions. On-disk format; do not change.
const (
	formatStore   = "ragd.store"
	formatCatalog = "ragd.catalog"
	// schemaVersion is the version of the bucket layout written in the meta
	// bucket. A file with a higher version is refused.
	schemaVersion uint32 = 1
	// docVersion is the first byte of a document record.
	docVersion byte = 1
	// firstNum is the number of the first document; 0 means "no document".
	firstNum = 1
)

// OpKind says what an Op does. The values are on-disk format (they are the
// kind byte of a change record); do not change them.
type OpKind uint8

// The op kinds.
const (
	// OpPut inserts a document or replaces the document with the same ID.
	OpPut OpKind = 1
	// OpDelete removes the document with the given ID, if there is one.
	OpDelete OpKind = 2
)

// String returns "put" or "delete".
func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	default:
		return fmt.Sprintf("OpKind(%d)", uint8(k))
	}
}

// Limits on what is stored.
const (
	// MaxIDLen is the longest document ID, in bytes.
	MaxIDLen = 1024
	// MaxDocSize is the largest encoded document record, in bytes: bbolt's
	// limit on a value.
	MaxDocSize = (1 << 31) - 2
)

// Change-record flags. On-disk format; do not change.
const (
	flagExisted byte = 1 << 0
	changeHead       = 6 // kind, flags, num (u32 LE)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// validID reports what is wrong with id as a document ID, or "" if nothing
// is.
func validID(id string) string { return validKey("id", id) }

// validKey reports what is wrong with s as a key (a document ID or a
// catalog name), or "" if nothing is; what names it in the message.
func validKey(what, s string) string {
	switch {
	case s == "":
		return what + " is empty"
	case len(s) > MaxIDLen:
		return fmt.Sprintf("%s of %d bytes is longer than %d", what, len(s), MaxIDLen)
	case !utf8.ValidString(s):
		return fmt.Sprintf("%s %q is not valid UTF-8", what, s)
	}
	return ""
}

// docSize returns the length of d's record.
func docSize(d *Doc) int {
	n := 2 // version, flags
	n += uvarintLen(uint64(len(d.ID))) + len(d.ID)
	n += uvarintLen(uint64(len(d.Text))) + len(d.Text)
	n += uvarintLen(uint64(len(d.Source))) + len(d.Source)
	n += varintLen(int64(d.Chunk))
	n += uvarintLen(uint64(len(d.Metadata))) + len(d.Metadata)
	n += uvarintLen(uint64(len(d.Vector))) + 4*len(d.Vector)
	return n + 4 // crc
}

// encodeDoc returns d's record: the fields in a fixed order, each string
// length-prefixed with a uvarint, the vector as little-endian float32 bits,
// and a CRC-32C of everything before it. d.Num is not part of the record: it
// is the record's key.
func encodeDoc(d *Doc) []byte {
	b := make([]byte, 0, docSize(d))
	b = append(b, docVersion, 0)
	b = appendString(b, d.ID)
	b = appendString(b, d.Text)
	b = appendString(b, d.Source)
	b = binary.AppendVarint(b, int64(d.Chunk))
	b = binary.AppendUvarint(b, uint64(len(d.Metadata)))
	b = append(b, d.Metadata...)
	b = binary.AppendUvarint(b, uint64(len(d.Vector)))
	for _, x := range d.Vector {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeID returns the ID of a record without decoding the rest (the
// checksum is still verified).
func decodeID(b []byte) (string, string) {
	if len(b) < 2+4 {
		return "", fmt.Sprintf("record of %d bytes is too short", len(b))
	}
	body := b[:len(b)-4]
	if want, got := binary.LittleEndian.Uint32(b[len(b)-4:]), crc32.Checksum(body, castagnoli); want != got {
		return "", fmt.Sprintf("checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	if body[0] != docVersion {
		return "", fmt.Sprintf("unknown record version %d", body[0])
	}
	r := reader{b: body[2:]}
	id := string(r.bytes("id"))
	return id, r.err
}

// decodeDoc parses a record into a Doc that owns its memory (b may be bbolt's
// mmap). It returns a reason on any malformation and never panics.
func decodeDoc(b []byte) (Doc, string) { return decodeRecord(b, true) }

// decodeRecord decodes and checks a document record. Unless full, it
// leaves out the text, source and vector (still checking their lengths)
// and the metadata aliases b.
func decodeRecord(b []byte, full bool) (Doc, string) {
	var d Doc
	if len(b) < 2+4 {
		return d, fmt.Sprintf("record of %d bytes is too short", len(b))
	}
	body := b[:len(b)-4]
	if want, got := binary.LittleEndian.Uint32(b[len(b)-4:]), crc32.Checksum(body, castagnoli); want != got {
		return d, fmt.Sprintf("checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	if body[0] != docVersion {
		return d, fmt.Sprintf("unknown record version %d", body[0])
	}
	if body[1] != 0 {
		return d, fmt.Sprintf("unknown record flags %#x", body[1])
	}
	r := reader{b: body[2:]}
	d.ID = string(r.bytes("id"))
	text, source := r.bytes("text"), r.bytes("source")
	if full {
		d.Text, d.Source = string(text), string(source)
	}
	chunk := r.varint("chunk")
	if r.err == "" && (chunk < math.MinInt32 || chunk > math.MaxInt32) {
		r.fail("chunk %d out of int32 range", chunk)
	}
	d.Chunk = int32(chunk)
	if m := r.bytes("metadata"); len(m) > 0 {
		d.Metadata = m
		if full {
			d.Metadata = append([]byte(nil), m...)
		}
	}
	dim := r.uvarint("vector length")
	if r.err == "" && dim > uint64(len(r.b))/4 {
		r.fail("vector of %d floats overruns the record", dim)
	}
	if r.err == "" && dim > 0 && !full {
		r.b = r.b[4*dim:]
	} else if r.err == "" && dim > 0 {
		d.Vector = make([]float32, dim)
		for i := range d.Vector {
			d.Vector[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.b[4*i:]))
		}
		r.b = r.b[4*dim:]
	}
	if r.err == "" && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err == "" {
		if why := validID(d.ID); why != "" {
			r.fail("stored %s", why)
		}
	}
	if r.err != "" {
		return Doc{}, r.err
	}
	return d, ""
}

// encodeChange returns a change-log record: kind, flags, num (u32 LE), id.
func encodeChange(kind OpKind, existed bool, num uint32, id string) []byte {
	b := make([]byte, changeHead, changeHead+len(id))
	b[0] = byte(kind)
	if existed {
		b[1] = flagExisted
	}
	binary.LittleEndian.PutUint32(b[2:], num)
	return append(b, id...)
}

// decodeChange parses a change-log record.
func decodeChange(seq uint64, b []byte) (Change, string) {
	if len(b) < changeHead+1 {
		return Change{}, fmt.Sprintf("change record of %d bytes is too short", len(b))
	}
	c := Change{
		Seq:     seq,
		Kind:    OpKind(b[0]),
		Existed: b[1]&flagExisted != 0,
		Num:     binary.LittleEndian.Uint32(b[2:]),
		ID:      string(b[changeHead:]),
	}
	switch {
	case c.Kind != OpPut && c.Kind != OpDelete:
		return Change{}, fmt.Sprintf("unknown change kind %d", b[0])
	case b[1]&^flagExisted != 0:
		return Change{}, fmt.Sprintf("unknown change flags %#x", b[1])
	case c.Num < firstNum:
		return Change{}, "change record with document number 0"
	}
	if why := validID(c.ID); why != "" {
		return Change{}, "change record " + why
	}
	return c, ""
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

func numKey(num uint32) []byte {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), num)
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

func u64Value(x uint64) []byte { return seqKey(x) }

// reader decodes a record front to back, remembering the first problem.
type reader struct {
	b   []byte
	err string
}

func (r *reader) fail(format string, args ...any) {
	if r.err == "" {
		r.err = fmt.Sprintf(format, args...)
	}
}

func (r *reader) uvarint(field string) uint64 {
	if r.err != "" {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad %s", field)
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) varint(field string) int64 {
	if r.err != "" {
		return 0
	}
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad %s", field)
		return 0
	}
	r.b = r.b[n:]
	return x
}

// bytes returns a length-prefixed field, aliasing r.b.
func (r *reader) bytes(field string) []byte {
	n := r.uvarint(field + " length")
	if r.err != "" {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("%s of %d bytes overruns the record", field, n)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
