package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxMetaKeyLen is the longest metadata key the index accepts
// (index/filter.MaxKeyLen); longer keys are dropped.
const maxMetaKeyLen = 256

// splitFrontMatter separates a leading front matter block from a Markdown
// or HTML page: YAML between "---" lines (Jekyll, Hugo, go.dev), or a JSON
// object in an HTML comment, "<!--{ … }-->" (go.dev's older pages). It
// returns the block's fields flattened (see flattenMeta), its title, and
// the rest of the page. A "---" block that is not a YAML mapping is no
// front matter (it is Markdown: a rule, a setext heading); one that is
// invalid YAML fails with ErrMalformed, since its fields would otherwise
// pollute the text.
func splitFrontMatter(s string) (meta map[string]any, title, rest string, err error) {
	var fields any
	switch {
	case strings.HasPrefix(s, "---"):
		body, after, ok := fencedBlock(s)
		if !ok {
			return nil, "", s, nil
		}
		if strings.TrimSpace(body) == "" {
			return nil, "", after, nil // empty front matter
		}
		if !startsWithYAMLKey(body) {
			return nil, "", s, nil // a rule, then Markdown
		}
		// The leading newline makes yaml's line numbers the file's.
		if err := yaml.Unmarshal([]byte("\n"+body), &fields); err != nil {
			return nil, "", "", fmt.Errorf("%w: front matter: %v", ErrMalformed, err)
		}
		rest = after
	case strings.HasPrefix(strings.TrimLeft(s, " \t\n"), "<!--{"):
		t := strings.TrimLeft(s, " \t\n")
		end := strings.Index(t, "}-->")
		if end < 0 {
			return nil, "", s, nil
		}
		dec := json.NewDecoder(strings.NewReader(t[4 : end+1]))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil {
			return nil, "", "", fmt.Errorf("%w: front matter: %v", ErrMalformed, err)
		}
		rest = t[end+4:]
	default:
		return nil, "", s, nil
	}
	m, ok := asMap(fields)
	if !ok {
		return nil, "", s, nil
	}
	meta = make(map[string]any, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		flattenMeta(meta, k, m[k])
		if t, ok := m[k].(string); ok && title == "" && strings.EqualFold(k, "title") {
			title = strings.TrimSpace(t)
		}
	}
	if len(meta) == 0 {
		meta = nil
	}
	return meta, title, rest, nil
}

// startsWithYAMLKey reports whether the first line of s that is neither
// blank nor a comment starts a mapping ("key:"), which tells front matter
// from Markdown that happens to open with a rule.
func startsWithYAMLKey(s string) bool {
	for line := range strings.Lines(s) {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		k, _, ok := strings.Cut(t, ":")
		return ok && k != "" && !strings.ContainsAny(k, "*[]{}<>`")
	}
	return false
}

// fencedBlock splits "---\n<body>\n---\n<after>" (the closing line may also
// be "..."); ok is false when s does not open such a block.
func fencedBlock(s string) (body, after string, ok bool) {
	nl := strings.IndexByte(s, '\n')
	if nl < 0 || strings.TrimRight(s[:nl], " \t") != "---" {
		return "", "", false
	}
	for i := nl + 1; i < len(s); {
		end := strings.IndexByte(s[i:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += i
		}
		if l := strings.TrimRight(s[i:end], " \t"); l == "---" || l == "..." {
			return s[nl+1 : i], s[min(end+1, len(s)):], true
		}
		i = end + 1
	}
	return "", "", false
}

// flattenMeta stores v under key in dst as values the index accepts:
// strings, float64 numbers, booleans and lists of those. Times become RFC
// 3339 strings; nested objects are flattened to dotted keys ("author.name");
// a list of objects (or of lists) is kept whole as one JSON string; nulls,
// empty lists and keys longer than the index allows are dropped.
func flattenMeta(dst map[string]any, key string, v any) {
	if key == "" || len(key) > maxMetaKeyLen {
		return
	}
	if m, ok := asMap(v); ok {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			flattenMeta(dst, key+"."+k, m[k])
		}
		return
	}
	list, ok := v.([]any)
	if !ok {
		if s, ok := metaScalar(v); ok {
			dst[key] = s
		}
		return
	}
	vals := make([]any, 0, len(list))
	for _, e := range list {
		if e == nil {
			continue
		}
		s, ok := metaScalar(e)
		if !ok {
			if b, err := marshalMeta(v); err == nil {
				dst[key] = string(b)
			}
			return
		}
		vals = append(vals, s)
	}
	if len(vals) > 0 {
		dst[key] = vals
	}
}

// metaScalar converts a YAML or JSON scalar to the index's types.
func metaScalar(v any) (any, bool) {
	var f float64
	switch v := v.(type) {
	case string, bool:
		return v, true
	case time.Time:
		return v.Format(time.RFC3339Nano), true
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case uint64:
		f = float64(v)
	case float64:
		f = v
	case json.Number:
		x, err := v.Float64()
		if err != nil {
			return v.String(), true
		}
		f = x
	case []byte:
		return string(v), true
	default:
		return nil, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	return f, true
}

// asMap returns v as a map with string keys, for YAML's map[any]any too.
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[fmt.Sprint(k)] = e
		}
		return out, true
	}
	return nil, false
}

// marshalMeta is json.Marshal for decoded YAML or JSON, whose maps may
// have non-string keys and whose times should read as RFC 3339.
func marshalMeta(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jsonSafe(v)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func jsonSafe(v any) any {
	if m, ok := asMap(v); ok {
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[k] = jsonSafe(e)
		}
		return out
	}
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonSafe(e)
		}
		return out
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
	}
	return v
}
