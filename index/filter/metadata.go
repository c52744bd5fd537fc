package filter

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// valueKind is the type of one metadata value.
type valueKind uint8

const (
	kindString valueKind = iota
	kindNumber
	kindBool
)

// value is one scalar of a document's metadata. A string that is an RFC
// 3339 time within the range of int64 Unix nanoseconds also carries the
// time, in ns, and its format code.
type value struct {
	str    string
	num    float64 // kindNumber
	ns     int64   // kindString with isTime
	code   uint16  // kindString with isTime: timeCode, or noCode
	kind   valueKind
	isTime bool
	b      bool // kindBool
}

// compact reports whether v is a time string that the time range index
// alone can hold: its code formats it back exactly.
func (v *value) compact() bool { return v.isTime && v.code != noCode }

// field is one key of a document with its values: one for a scalar, the
// elements of a list (nulls left out). A key whose value is null, [] or a
// list of nulls has no field.
type field struct {
	key  string
	vals []value
}

// The instants a time value may have: those whose Unix nanoseconds fit an
// int64 (1677-09-21 to 2262-04-11). A string outside them is only a string.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// parseRFC3339 parses an RFC 3339 date-time, YYYY-MM-DDTHH:MM:SS with an
// optional fraction and a zone (Z or ±HH:MM), as time.Parse reads
// time.RFC3339 but without its leniency (a one-digit hour). The shape check
// first also turns most strings away cheaply.
func parseRFC3339(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// parseTime returns s as Unix nanoseconds if it is an RFC 3339 time that
// they can hold, with its format code.
func parseTime(s string) (ns int64, code uint16, ok bool) {
	t, ok := parseRFC3339(s)
	if !ok || t.Before(minTime) || t.After(maxTime) {
		return 0, 0, false
	}
	return t.UnixNano(), timeCode(s, t), true
}

// A time's format code says how its string writes it: the number of
// fraction digits (4 bits) and the zone (12 bits: "Z", or the offset in
// minutes from -1439 to +1439). A string that is the instant formatted so
// — most machine-written timestamps — is equal to another exactly when
// both the instant and the code are, so the index keeps such strings as
// (instant, code) in the time range index and not as strings.
const (
	noCode   uint16 = 0xFFFF // the string is not what its code would write
	zoneZ           = 4095
	zoneBias        = 1440
)

// timeLayouts[d][z] writes a time with d fraction digits and, for z = 1, a
// "Z" zone.
var timeLayouts = func() (l [10][2]string) {
	for d := range l {
		frac := ""
		if d > 0 {
			frac = "." + strings.Repeat("0", d)
		}
		l[d][0] = "2006-01-02T15:04:05" + frac + "-07:00"
		l[d][1] = "2006-01-02T15:04:05" + frac + "Z07:00"
	}
	return l
}()

// timeCode returns the code that writes t as s, or noCode.
func timeCode(s string, t time.Time) uint16 {
	d := 0
	if len(s) > 20 && s[19] == '.' {
		for d < len(s)-20 && s[20+d] >= '0' && s[20+d] <= '9' {
			d++
		}
	}
	if d > 9 {
		return noCode
	}
	z, zone := 0, uint16(0)
	if s[len(s)-1] == 'Z' {
		z, zone = 1, zoneZ
	} else {
		_, off := t.Zone()
		zone = uint16(off/60 + zoneBias)
	}
	if t.Format(timeLayouts[d][z]) != s {
		return noCode
	}
	return uint16(d) | zone<<4
}

// mdParser reads a document's metadata. It accepts exactly the JSON that
// encoding/json accepts for an object of scalars and lists of scalars
// (FuzzMetadata holds it to that), about ten times faster than
// json.Decoder's token stream.
type mdParser struct {
	s []byte
	i int
}

// parseMetadata decodes a document's metadata: a JSON object of strings,
// numbers, booleans and lists of those. Empty input and null are an empty
// object. Nested objects, lists of lists, duplicate keys, numbers beyond
// float64 and invalid keys are errors.
func parseMetadata(data []byte) ([]field, error) {
	p := mdParser{s: data}
	p.space()
	if p.i == len(p.s) {
		return nil, nil
	}
	if !utf8.Valid(data) {
		return nil, &MetadataError{Reason: "not valid UTF-8"}
	}
	if p.literal("null") {
		return nil, p.end()
	}
	if p.s[p.i] != '{' {
		if k := p.kindAt(); k != "" {
			return nil, &MetadataError{Reason: "want a JSON object, got " + k}
		}
		return nil, p.syntax("want a JSON object")
	}
	p.i++
	var fields []field
	var seen map[string]struct{} // for documents with many keys
	for first := true; ; first = false {
		p.space()
		if first && p.peek() == '}' {
			p.i++
			break
		}
		if p.peek() != '"' {
			return nil, p.syntax("want a key")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if key == "" {
			return nil, &MetadataError{Reason: "empty key"}
		}
		if why := checkKey(key); why != "" {
			return nil, &MetadataError{Key: key, Reason: "key " + why}
		}
		if dup(fields, &seen, key) {
			return nil, &MetadataError{Key: key, Reason: "duplicate key"}
		}
		p.space()
		if p.peek() != ':' {
			return nil, p.syntax("want ':'")
		}
		p.i++
		p.space()
		f := field{key: key}
		switch p.peek() {
		case '{':
			return nil, &MetadataError{Key: key, Reason: "nested objects are not supported (want a string, number, boolean or a list of those)"}
		case '[':
			p.i++
			for first := true; ; first = false {
				p.space()
				if first && p.peek() == ']' {
					p.i++
					break
				}
				v, null, err := p.scalar(key)
				if err != nil {
					return nil, err
				}
				if !null {
					f.vals = append(f.vals, v)
				}
				p.space()
				if p.peek() == ',' {
					p.i++
					continue
				}
				if p.peek() != ']' {
					return nil, p.syntax("want ',' or ']'")
				}
				p.i++
				break
			}
		default:
			v, null, err := p.scalar(key)
			if err != nil {
				return nil, err
			}
			if !null {
				f.vals = []value{v}
			}
		}
		// The key is recorded even without values, for the duplicate check.
		fields = append(fields, f)
		p.space()
		if p.peek() == ',' {
			p.i++
			continue
		}
		if p.peek() != '}' {
			return nil, p.syntax("want ',' or '}'")
		}
		p.i++
		break
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	// Drop the keys that have no value.
	out := fields[:0]
	for _, f := range fields {
		if len(f.vals) > 0 {
			out = append(out, f)
		}
	}
	return out, nil
}

// dup reports whether key is among fields' keys, keeping a set once there
// are many.
func dup(fields []field, seen *map[string]struct{}, key string) bool {
	const linear = 16
	if len(fields) < linear {
		for i := range fields {
			if fields[i].key == key {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*linear)
		for i := range fields {
			(*seen)[fields[i].key] = struct{}{}
		}
	}
	if _, ok := (*seen)[key]; ok {
		return true
	}
	(*seen)[key] = struct{}{}
	return false
}

// peek returns the next byte, or 0 at the end.
func (p *mdParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *mdParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *mdParser) literal(word string) bool {
	if len(p.s)-p.i >= len(word) && string(p.s[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return true
	}
	return false
}

func (p *mdParser) end() error {
	p.space()
	if p.i != len(p.s) {
		return &MetadataError{Reason: "unexpected data after the JSON object at byte " + strconv.Itoa(p.i)}
	}
	return nil
}

func (p *mdParser) syntax(what string) error {
	if p.i >= len(p.s) {
		return &MetadataError{Reason: "unexpected end of JSON input"}
	}
	return &MetadataError{Reason: "invalid JSON at byte " + strconv.Itoa(p.i) + ": " + what}
}

// kindAt names the JSON type of the value at the cursor, for an error.
func (p *mdParser) kindAt() string {
	switch c := p.peek(); {
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == '-' || c >= '0' && c <= '9':
		return "number"
	}
	return ""
}

// scalar reads a string, number, boolean or null.
func (p *mdParser) scalar(key string) (v value, null bool, err error) {
	switch c := p.peek(); {
	case c == '"':
		s, err := p.str()
		if err != nil {
			return value{}, false, err
		}
		v := value{kind: kindString, str: s}
		v.ns, v.code, v.isTime = parseTime(s)
		return v, false, nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number(key)
	case p.literal("true"):
		return value{kind: kindBool, b: true}, false, nil
	case p.literal("false"):
		return value{kind: kindBool}, false, nil
	case p.literal("null"):
		return value{}, true, nil
	case c == '{' || c == '[':
		what := "objects"
		if c == '[' {
			what = "arrays"
		}
		return value{}, false, &MetadataError{Key: key, Reason: "a list may hold only strings, numbers and booleans, not " + what}
	}
	return value{}, false, p.syntax("want a value")
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *mdParser) number(key string) (value, bool, error) {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.peek() == '-' {
		p.i++
	}
	switch {
	case p.peek() == '0':
		p.i++
	case digits() == 0:
		return value{}, false, p.syntax("want a digit")
	}
	if p.peek() == '.' {
		p.i++
		if digits() == 0 {
			return value{}, false, p.syntax("want a digit")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if digits() == 0 {
			return value{}, false, p.syntax("want a digit")
		}
	}
	lit := string(p.s[start:p.i])
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return value{}, false, &MetadataError{Key: key, Reason: "number " + lit + " is out of range"}
	}
	if f == 0 {
		f = 0 // -0 is 0
	}
	return value{kind: kindNumber, num: f}, false, nil
}

// str reads a JSON string at the cursor (a '"'), decoding escapes as
// encoding/json does: a \u escape of a lone surrogate is U+FFFD. The input
// is known to be valid UTF-8.
func (p *mdParser) str() (string, error) {
	p.i++ // '"'
	start := p.i
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '"':
			s := string(p.s[start:p.i])
			p.i++
			return s, nil
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return "", p.syntax("control character in string")
		}
		p.i++
	}
	return "", p.syntax("")
}

func (p *mdParser) strEscaped(start int) (string, error) {
	b := append([]byte(nil), p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), nil
		case c < 0x20:
			return "", p.syntax("control character in string")
		case c != '\\':
			b = append(b, c)
			p.i++
			continue
		}
		p.i++ // '\\'
		switch p.peek() {
		case '"', '\\', '/':
			b = append(b, p.s[p.i])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := p.hex4(p.i + 1)
			if r < 0 {
				return "", p.syntax("bad \\u escape")
			}
			p.i += 4
			if utf16.IsSurrogate(r) {
				// A pair \uD8xx\uDCxx is one rune; a lone half is U+FFFD.
				if p.i+2 < len(p.s) && p.s[p.i+1] == '\\' && p.s[p.i+2] == 'u' {
					if r2 := p.hex4(p.i + 3); r2 >= 0 {
						if d := utf16.DecodeRune(r, r2); d != unicode.ReplacementChar {
							p.i += 6
							b = utf8.AppendRune(b, d)
							break
						}
					}
				}
				r = unicode.ReplacementChar
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", p.syntax("bad escape")
		}
		p.i++
	}
	return "", p.syntax("")
}

// hex4 reads four hex digits at i, or returns -1.
func (p *mdParser) hex4(i int) rune {
	if i+4 > len(p.s) {
		return -1
	}
	var r rune
	for _, c := range p.s[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// numKey maps a finite float64 to a uint64 with the same order (-0 and 0 to
// the same key).
func numKey(f float64) uint64 {
	if f == 0 {
		f = 0
	}
	b := math.Float64bits(f)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

// timeKey maps Unix nanoseconds to a uint64 with the same order.
func timeKey(ns int64) uint64 { return uint64(ns) ^ 1<<63 }
