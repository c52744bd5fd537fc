package beir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeDataset makes a BEIR folder from the three files' contents.
func writeDataset(t *testing.T, corpus, queries, qrels string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, QrelsDir), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, CorpusFile), []byte(corpus), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, QueriesFile), []byte(queries), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, QrelsDir, "test.tsv"), []byte(qrels), 0o644))
	return dir
}

const (
	goodCorpus = "\xef\xbb\xbf" + `{"_id": "d1", "title": "Wings", "text": "lift and drag", "metadata": {"year": 1962, "tags": ["a"]}}
{"_id": "d2", "text": "no title here"}

{"_id": 3, "title": null, "text": ""}
`
	goodQueries = `{"_id": "q1", "text": "what is lift", "metadata": {}}
{"_id": "q2", "text": "unjudged query"}
{"_id": "q3", "text": "judged not relevant only"}
`
	goodQrels = "query-id\tcorpus-id\tscore\r\nq1\td1\t2\r\nq1\td2\t0\r\nq3\td3\t0\r\nq1\td1\t2\r\nq9\td2\t1\r\n"
)

func TestLoad(t *testing.T) {
	d, err := Load(writeDataset(t, goodCorpus, goodQueries, goodQrels))
	require.NoError(t, err)
	require.Equal(t, []Doc{
		{ID: "d1", Title: "Wings", Text: "lift and drag", Metadata: map[string]any{"year": 1962.0, "tags": []any{"a"}}},
		{ID: "d2", Text: "no title here"},
		{ID: "3"},
	}, d.Corpus)
	require.Equal(t, []Query{{"q1", "what is lift"}, {"q2", "unjudged query"}, {"q3", "judged not relevant only"}}, d.Queries)
	require.Equal(t, map[string]map[string]int{
		"q1": {"d1": 2, "d2": 0},
		"q3": {"d3": 0},
		"q9": {"d2": 1},
	}, d.Qrels)
	// q3 is judged (it has a qrels line) although nothing is relevant; q9 is
	// judged but has no text, so it cannot be returned.
	require.Equal(t, []Query{{"q1", "what is lift"}, {"q3", "judged not relevant only"}}, d.JudgedQueries())
}

func TestLoadSplit(t *testing.T) {
	dir := writeDataset(t, goodCorpus, goodQueries, goodQrels)
	require.NoError(t, os.WriteFile(filepath.Join(dir, QrelsDir, "dev.tsv"), []byte("q2 d1 1\n"), 0o644))
	d, err := LoadSplit(dir, "dev")
	require.NoError(t, err)
	require.Equal(t, map[string]map[string]int{"q2": {"d1": 1}}, d.Qrels)
	require.Equal(t, []Query{{"q2", "unjudged query"}}, d.JudgedQueries())

	_, err = LoadSplit(dir, "train")
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "train.tsv")
}

func TestLoadLongLine(t *testing.T) {
	long := strings.Repeat("lift ", 400_000) // 2 MB, far past bufio's default 64 KiB
	d, err := Load(writeDataset(t, `{"_id": "big", "text": "`+long+`"}`+"\n", goodQueries, goodQrels))
	require.NoError(t, err)
	require.Len(t, d.Corpus, 1)
	require.Equal(t, long, d.Corpus[0].Text)
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // which file is broken: corpus, queries or qrels
		content string
		line    int
		reason  string
	}{
		{"bad JSON", "corpus", `{"_id": "d1", "text": "x"}` + "\n" + `{"_id": "d2", "text": }`, 2, "bad JSON"},
		{"not an object", "corpus", `["d1"]`, 1, "bad JSON"},
		{"trailing garbage", "corpus", `{"_id": "d1", "text": "x"} x`, 1, "bad JSON"},
		{"missing _id", "corpus", `{"text": "x"}`, 1, "missing _id"},
		{"null _id", "corpus", `{"_id": null, "text": "x"}`, 1, "missing _id"},
		{"empty _id", "corpus", `{"_id": "", "text": "x"}`, 1, "empty _id"},
		{"float _id", "corpus", `{"_id": 1.5, "text": "x"}`, 1, "not a string or an integer"},
		{"object _id", "corpus", `{"_id": {}, "text": "x"}`, 1, "not a string or an integer"},
		{"missing text", "corpus", `{"_id": "d1", "title": "t"}`, 1, `_id "d1": missing text`},
		{"text not a string", "corpus", `{"_id": "d1", "text": 5}`, 1, "bad JSON"},
		{"metadata not an object", "corpus", `{"_id": "d1", "text": "x", "metadata": "m"}`, 1, "bad JSON"},
		{"duplicate doc", "corpus", `{"_id": "d1", "text": "x"}` + "\n\n" + `{"_id": "d1", "text": "y"}`, 3, `duplicate _id "d1" (first on line 1)`},
		{"duplicate doc, int and string", "corpus", `{"_id": 7, "text": "x"}` + "\n" + `{"_id": "7", "text": "y"}`, 2, `duplicate _id "7"`},
		{"query bad JSON", "queries", `{"_id": "q1", "text": "x"`, 1, "bad JSON"},
		{"query missing text", "queries", `{"_id": "q1"}`, 1, `_id "q1": missing text`},
		{"duplicate query", "queries", `{"_id": "q1", "text": "x"}` + "\n" + `{"_id": "q1", "text": "x"}`, 2, `duplicate _id "q1" (first on line 1)`},
		{"qrels two fields", "qrels", "query-id\tcorpus-id\tscore\nq1\td1\n", 2, "want 3 tab-separated fields"},
		{"qrels four fields", "qrels", "q1\t0\td1\t1\n", 1, "got 4"},
		{"qrels float grade", "qrels", "q1\td1\t1.0\n", 1, `score "1.0" is not an integer`},
		{"qrels empty id", "qrels", "q1\t\t1\n", 1, "empty query-id or corpus-id"},
		{"qrels late header", "qrels", "q1\td1\t1\nquery-id\tcorpus-id\tscore\n", 2, "header line after line 1"},
		{"qrels conflicting grades", "qrels", "q1\td1\t1\nq1\td1\t2\n", 2, `query "q1" doc "d1" judged 2, already judged 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			corpus, queries, qrels := goodCorpus, goodQueries, goodQrels
			var file string
			switch tt.file {
			case "corpus":
				corpus, file = tt.content, CorpusFile
			case "queries":
				queries, file = tt.content, QueriesFile
			case "qrels":
				qrels, file = tt.content, "test.tsv"
			}
			_, err := Load(writeDataset(t, corpus, queries, qrels))
			require.ErrorIs(t, err, ErrFormat)
			var fe *FormatError
			require.True(t, errors.As(err, &fe))
			require.Equal(t, file, filepath.Base(fe.Name))
			require.Equal(t, tt.line, fe.Line, err.Error())
			require.Contains(t, fe.Reason, tt.reason)
			require.Contains(t, err.Error(), file+":")
		})
	}
}

func TestLoadMissingFiles(t *testing.T) {
	for _, name := range []string{CorpusFile, QueriesFile, filepath.Join(QrelsDir, "test.tsv")} {
		t.Run(name, func(t *testing.T) {
			dir := writeDataset(t, goodCorpus, goodQueries, goodQrels)
			require.NoError(t, os.Remove(filepath.Join(dir, name)))
			_, err := Load(dir)
			require.ErrorIs(t, err, os.ErrNotExist)
			require.ErrorContains(t, err, name)
		})
	}
}

func TestReadCorpusStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	var n int
	err := ReadCorpus(strings.NewReader(goodCorpus), "c", func(Doc) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 2, n)
}

func TestReadLineTooLong(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates MaxLineBytes")
	}
	in := `{"_id": "q1", "text": "x"}` + "\n" + strings.Repeat("x", MaxLineBytes+1)
	_, err := ReadQueries(strings.NewReader(in), "q.jsonl")
	var fe *FormatError
	require.True(t, errors.As(err, &fe), "%v", err)
	require.Equal(t, 2, fe.Line)
	require.Contains(t, fe.Reason, "line longer than")
}

// cranfieldDir is the shared Cranfield collection: $RAGD_SHARED/data/ir/cranfield,
// by default ../shared next to the repository root.
func cranfieldDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(sharedDir(), "data", "ir", "cranfield")
	if _, err := os.Stat(filepath.Join(dir, CorpusFile)); err != nil {
		t.Skipf("Cranfield not present: %v", err)
	}
	return dir
}

func sharedDir() string {
	if d := os.Getenv("RAGD_SHARED"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared")
}

func TestLoadCranfield(t *testing.T) {
	d, err := Load(cranfieldDir(t))
	require.NoError(t, err)
	require.Len(t, d.Corpus, 1400)
	require.Len(t, d.Queries, 225)
	require.Len(t, d.Qrels, 225)
	n := 0
	for _, docs := range d.Qrels {
		n += len(docs)
	}
	require.Equal(t, 1612, n) // SOURCE.md
	require.Len(t, d.JudgedQueries(), 225)
	require.Equal(t, "1", d.Corpus[0].ID)
	require.Equal(t, "1", d.JudgedQueries()[0].ID)
}
