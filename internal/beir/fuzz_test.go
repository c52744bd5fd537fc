package beir

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseDoc feeds arbitrary lines to the corpus and query parsers. They
// must never panic; what they accept must have a non-empty id and must
// survive a round trip through encoding/json unchanged.
func FuzzParseDoc(f *testing.F) {
	f.Add([]byte(`{"_id": "d1", "title": "t", "text": "x", "metadata": {"a": [1, "b", null, true]}}`))
	f.Add([]byte(`{"_id": 12, "text": ""}`))
	f.Add([]byte(`{"_id": -0, "text": "x"}`))
	f.Add([]byte(`{"_id": "", "text": "x"}`))
	f.Add([]byte(`{"_id": 1.5}`))
	f.Add([]byte(`{"_id": "\u00e9\ud800", "text": "\n"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"_id": "a", "text": "x"} {}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		doc, reason := parseDoc(line)
		q, qreason := parseQuery(line)
		if reason == "" {
			if doc.ID == "" {
				t.Fatalf("accepted an empty id: %q", line)
			}
			b, err := json.Marshal(map[string]any{"_id": doc.ID, "title": doc.Title, "text": doc.Text, "metadata": doc.Metadata})
			if err != nil {
				t.Fatal(err)
			}
			again, reason := parseDoc(b)
			if reason != "" || !reflect.DeepEqual(doc, again) {
				t.Fatalf("round trip of %q: %+v became %+v (%s)", line, doc, again, reason)
			}
			// The query parser reads a subset of the document's fields:
			// a valid document line is a valid query line.
			if qreason != "" || q.ID != doc.ID || q.Text != doc.Text {
				t.Fatalf("document %q is not a query: %+v %s", line, q, qreason)
			}
		}
		if qreason == "" && q.ID == "" {
			t.Fatalf("accepted a query with an empty id: %q", line)
		}
	})
}

// FuzzParseQrel feeds arbitrary lines to the qrels parser. It must never
// panic, and what it accepts must read back the same when written as a
// canonical tab-separated line.
func FuzzParseQrel(f *testing.F) {
	f.Add("q1\td1\t2")
	f.Add("query-id\tcorpus-id\tscore")
	f.Add("q1 d1 1\r\n")
	f.Add("q 1\td 1\t-1")
	f.Add("q1\td1\t1.0")
	f.Add("q1\td1\t+3")
	f.Add("\t\t")
	f.Add("q1\td1\t99999999999999999999")
	f.Fuzz(func(t *testing.T, line string) {
		qid, did, grade, reason := parseQrel(line)
		if reason != "" {
			return
		}
		if qid == "" || did == "" || qid == "query-id" {
			t.Fatalf("accepted %q as (%q, %q, %d)", line, qid, did, grade)
		}
		canon := qid + "\t" + did + "\t" + strconv.Itoa(grade)
		q2, d2, g2, r2 := parseQrel(canon)
		if r2 != "" || q2 != qid || d2 != did || g2 != grade {
			t.Fatalf("%q: (%q, %q, %d) read back as (%q, %q, %d) %s", line, qid, did, grade, q2, d2, g2, r2)
		}
	})
}

// FuzzReadTREC feeds arbitrary bytes to ReadTREC. It must never panic; it
// must reject input with a *FormatError or accept it, and what it accepts
// and WriteTREC can write must read back to the same hits with the same
// scores.
func FuzzReadTREC(f *testing.F) {
	f.Add([]byte("1 Q0 d1 1 2.5 tag\n1 Q0 d2 2 2.5 tag\n"))
	f.Add([]byte("q Q0 d 1 -Inf t\n\nq Q0 e 1 1e308 t\r\n"))
	f.Add([]byte("q Q0 d 1 NaN t\n"))
	f.Add([]byte("q Q0 d 1 0x1p-2 t\n"))
	f.Add([]byte("q Q0 d 1 2 t\nq Q0 d 2 1 t\n"))
	f.Add([]byte("a b c\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		run, err := ReadTREC(bytes.NewReader(in), "fuzz")
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) || fe.Line < 1 {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteTREC(&buf, run, "fuzz"); err != nil {
			if !errors.Is(err, ErrRun) || !strings.Contains(err.Error(), "control character") {
				t.Fatalf("read %q but cannot write it: %v", in, err)
			}
			return
		}
		back, err := ReadTREC(&buf, "again")
		if err != nil {
			t.Fatalf("cannot read back %q: %v", buf.String(), err)
		}
		if len(back) != len(run) {
			t.Fatalf("%d queries became %d", len(run), len(back))
		}
		for qid, hits := range run {
			want := map[string]float64{}
			for _, h := range hits {
				want[h.ID] = h.Score
			}
			got := map[string]float64{}
			for _, h := range back[qid] {
				got[h.ID] = h.Score
			}
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("query %q: %v read back as %v", qid, want, got)
			}
			if !reflect.DeepEqual(TRECOrder(hits), back[qid]) {
				t.Fatalf("query %q: not written in TREC order: %v", qid, back[qid])
			}
		}
	})
}
