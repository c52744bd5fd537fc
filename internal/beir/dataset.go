package beir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MaxLineBytes is the longest line the readers accept. BEIR corpora have
// documents of a few hundred kilobytes at most; a longer line is far more
// likely a file that is not JSONL at all, and the bound keeps such a file
// from being buffered whole.
const MaxLineBytes = 64 << 20

// File names inside a BEIR folder.
const (
	CorpusFile  = "corpus.jsonl"
	QueriesFile = "queries.jsonl"
	QrelsDir    = "qrels"
)

// Doc is one document of a corpus.
type Doc struct {
	ID    string
	Title string // "" when absent
	Text  string
	// Metadata is the "metadata" object as encoding/json decodes it
	// (numbers are float64); nil when absent or null.
	Metadata map[string]any
}

// Query is one query.
type Query struct {
	ID   string
	Text string
}

// Dataset is a BEIR test collection held in memory.
type Dataset struct {
	Corpus  []Doc   // in file order
	Queries []Query // in file order
	// Qrels maps query id → document id → grade. It may name queries and
	// documents that are not in Queries or Corpus; BEIR files do.
	Qrels map[string]map[string]int
}

// Load reads the BEIR folder dir with the "test" qrels split:
// dir/corpus.jsonl, dir/queries.jsonl and dir/qrels/test.tsv.
func Load(dir string) (*Dataset, error) { return LoadSplit(dir, "test") }

// LoadSplit is Load with the qrels of another split (dir/qrels/<split>.tsv),
// e.g. "dev" for MS MARCO.
func LoadSplit(dir, split string) (*Dataset, error) {
	var d Dataset
	err := readFile(filepath.Join(dir, CorpusFile), func(r io.Reader, name string) error {
		return ReadCorpus(r, name, func(doc Doc) error {
			d.Corpus = append(d.Corpus, doc)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	err = readFile(filepath.Join(dir, QueriesFile), func(r io.Reader, name string) (err error) {
		d.Queries, err = ReadQueries(r, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = readFile(filepath.Join(dir, QrelsDir, split+".tsv"), func(r io.Reader, name string) (err error) {
		d.Qrels, err = ReadQrels(r, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func readFile(path string, read func(r io.Reader, name string) error) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("beir: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("beir: close %s: %w", path, cerr))
		}
	}()
	return read(f, path)
}

// JudgedQueries returns the queries that have at least one qrels line
// (whatever its grade), in file order: the queries Evaluate averages over,
// less any that the qrels name but queries.jsonl lacks.
func (d *Dataset) JudgedQueries() []Query {
	var out []Query
	for _, q := range d.Queries {
		if len(d.Qrels[q.ID]) > 0 {
			out = append(out, q)
		}
	}
	return out
}

// ReadCorpus reads corpus.jsonl lines from r and calls fn with each
// document, in order, without holding the corpus in memory (only the set of
// ids seen, to reject duplicates). It stops at the first malformed line (a
// *FormatError; name is used in its message), read error, or error from fn,
// which it returns unwrapped.
func ReadCorpus(r io.Reader, name string, fn func(Doc) error) error {
	seen := make(map[string]int) // id → line of first use
	return scanLines(r, name, func(line []byte, n int) error {
		doc, reason := parseDoc(line)
		if reason != "" {
			return &FormatError{Name: name, Line: n, Reason: reason}
		}
		if first, ok := seen[doc.ID]; ok {
			return &FormatError{Name: name, Line: n, Reason: fmt.Sprintf("duplicate _id %q (first on line %d)", doc.ID, first)}
		}
		seen[doc.ID] = n
		return fn(doc)
	})
}

// ReadQueries reads queries.jsonl lines from r, in order. name is used in
// error messages.
func ReadQueries(r io.Reader, name string) ([]Query, error) {
	var out []Query
	seen := make(map[string]int)
	err := scanLines(r, name, func(line []byte, n int) error {
		q, reason := parseQuery(line)
		if reason != "" {
			return &FormatError{Name: name, Line: n, Reason: reason}
		}
		if first, ok := seen[q.ID]; ok {
			return &FormatError{Name: name, Line: n, Reason: fmt.Sprintf("duplicate _id %q (first on line %d)", q.ID, first)}
		}
		seen[q.ID] = n
		out = append(out, q)
		return nil
	})
	return out, err
}

// ReadQrels reads a qrels TSV from r: an optional header line whose first
// field is "query-id", then "query-id corpus-id grade" lines, tab separated
// (a line without tabs may use other blanks). name is used in error
// messages.
func ReadQrels(r io.Reader, name string) (map[string]map[string]int, error) {
	qrels := make(map[string]map[string]int)
	err := scanLines(r, name, func(line []byte, n int) error {
		qid, did, grade, reason := parseQrel(string(line))
		switch {
		case reason == "header" && n == 1:
			return nil
		case reason == "header":
			reason = "header line after line 1"
		}
		if reason != "" {
			return &FormatError{Name: name, Line: n, Reason: reason}
		}
		docs := qrels[qid]
		if docs == nil {
			docs = make(map[string]int)
			qrels[qid] = docs
		}
		if old, ok := docs[did]; ok && old != grade {
			return &FormatError{Name: name, Line: n, Reason: fmt.Sprintf("query %q doc %q judged %d, already judged %d", qid, did, grade, old)}
		}
		docs[did] = grade
		return nil
	})
	if err != nil {
		return nil, err
	}
	return qrels, nil
}

// scanLines calls fn with every non-blank line of r and its 1-based number.
// The line slice is valid only during the call.
func scanLines(r io.Reader, name string, fn func(line []byte, n int) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := fn(line, n); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &FormatError{Name: name, Line: n + 1, Reason: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}
		}
		return fmt.Errorf("beir: read %s: %w", name, err)
	}
	return nil
}

// jsonLine is the union of the fields of corpus and query lines.
type jsonLine struct {
	ID       json.RawMessage `json:"_id"`
	Title    *string         `json:"title"`
	Text     *string         `json:"text"`
	Metadata map[string]any  `json:"metadata"`
}

// parseDoc parses one corpus line. A non-empty reason means it is malformed.
func parseDoc(line []byte) (Doc, string) {
	var jl jsonLine
	if err := json.Unmarshal(line, &jl); err != nil {
		return Doc{}, "bad JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	id, reason := parseID(jl.ID)
	if reason != "" {
		return Doc{}, reason
	}
	if jl.Text == nil {
		return Doc{}, fmt.Sprintf("_id %q: missing text", id)
	}
	doc := Doc{ID: id, Text: *jl.Text, Metadata: jl.Metadata}
	if jl.Title != nil {
		doc.Title = *jl.Title
	}
	return doc, ""
}

// parseQuery parses one queries line. A non-empty reason means it is
// malformed.
func parseQuery(line []byte) (Query, string) {
	var jl struct {
		ID   json.RawMessage `json:"_id"`
		Text *string         `json:"text"`
	}
	if err := json.Unmarshal(line, &jl); err != nil {
		return Query{}, "bad JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	id, reason := parseID(jl.ID)
	if reason != "" {
		return Query{}, reason
	}
	if jl.Text == nil {
		return Query{}, fmt.Sprintf("_id %q: missing text", id)
	}
	return Query{ID: id, Text: *jl.Text}, ""
}

// parseID accepts a non-empty JSON string or an integer literal, kept as
// written.
func parseID(raw json.RawMessage) (string, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", "missing _id"
	}
	var id string
	switch {
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", "bad _id: " + err.Error()
		}
	case isInteger(string(raw)):
		id = string(raw)
	default:
		return "", fmt.Sprintf("_id %s is not a string or an integer", raw)
	}
	if id == "" {
		return "", "empty _id"
	}
	return id, ""
}

func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseQrel parses one qrels line into its three fields. A non-empty reason
// means it is malformed; reason "header" marks a header line.
func parseQrel(line string) (qid, did string, grade int, reason string) {
	line = strings.TrimRight(line, "\r\n")
	parts := strings.Split(line, "\t")
	if len(parts) == 1 {
		parts = strings.Fields(line)
	}
	if len(parts) != 3 {
		return "", "", 0, fmt.Sprintf("want 3 tab-separated fields (query-id, corpus-id, score), got %d", len(parts))
	}
	qid, did = strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
	if qid == "query-id" {
		return "", "", 0, "header"
	}
	if qid == "" || did == "" {
		return "", "", 0, "empty query-id or corpus-id"
	}
	grade, err := strconv.Atoi(strings.TrimSpace(parts[2]))
	if err != nil {
		return "", "", 0, fmt.Sprintf("score %q is not an integer", parts[2])
	}
	return qid, did, grade, ""
}
