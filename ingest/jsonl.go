package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// loadJSONL reads JSON Lines: one document per non-blank line, each a JSON
// object whose TextField holds the text (read as plain text: paragraphs
// at blank lines). The ID comes from IDField (a string or a number), else
// it is "<source>:<line>"; the title from TitleField; every field but the
// text and the ID goes to Metadata. A line that is not an object, or whose text is missing,
// not a string or blank, fails the whole file with the line's number: a
// bad line is never dropped in silence.
func loadJSONL(source string, data []byte, cfg LoadConfig) ([]Document, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	var docs []Document
	for lineNo := 1; len(data) > 0; lineNo++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		doc, err := jsonlDocument(source, line, lineNo, cfg)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrMalformed, lineNo, err)
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%w: no JSON lines", ErrEmpty)
	}
	return docs, nil
}

// jsonlDocument decodes one line.
func jsonlDocument(source string, line []byte, lineNo int, cfg LoadConfig) (Document, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Document{}, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Document{}, errors.New("more than one JSON value on the line")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Document{}, fmt.Errorf("want a JSON object, got %s", jsonKind(v))
	}
	raw, ok := obj[cfg.TextField]
	if !ok {
		return Document{}, fmt.Errorf("no %q field", cfg.TextField)
	}
	text, ok := raw.(string)
	if !ok {
		return Document{}, fmt.Errorf("field %q is %s, want a string", cfg.TextField, jsonKind(raw))
	}
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	docs, err := textDocument(text, BlockParagraph)
	if err != nil {
		return Document{}, fmt.Errorf("field %q is blank", cfg.TextField)
	}
	doc := docs[0]
	doc.ID = source + ":" + strconv.Itoa(lineNo)
	switch id := obj[cfg.IDField].(type) {
	case nil:
	case string:
		if id != "" {
			doc.ID = id
		}
	case json.Number:
		doc.ID = id.String()
	default:
		return Document{}, fmt.Errorf("field %q is %s, want a string or a number", cfg.IDField, jsonKind(id))
	}
	if t, ok := obj[cfg.TitleField].(string); ok {
		doc.Title = strings.TrimSpace(t)
	}
	meta := make(map[string]any, len(obj))
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if k != cfg.TextField && k != cfg.IDField {
			flattenMeta(meta, k, obj[k])
		}
	}
	if len(meta) > 0 {
		doc.Metadata = meta
	}
	return doc, nil
}

// jsonError rewords encoding/json's errors for a user: the offset of a
// syntax error, an unexpected end of the line.
func jsonError(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%s (at byte %d)", syn.Error(), syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON value is cut short")
	}
	return err
}

// jsonKind names a decoded JSON value's type for an error message.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
