package beir

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// WriteTREC writes run to w as a TREC run file, one "qid Q0 docid rank score
// tag" line per hit: queries with shorter ids first, then bytewise (numeric
// ids in numeric order), each query's hits in TRECOrder with ranks from 1,
// scores in the shortest form that reads back to the same float64, so that
// trec_eval sees exactly the order Evaluate sees. Queries with no hits are
// left out. It writes nothing and returns an error wrapping ErrRun if an id
// or the tag is empty or contains blanks or control characters, a score is
// NaN, or a document is listed twice for one query.
func WriteTREC(w io.Writer, run Run, tag string) error {
	if err := checkField("tag", tag); err != nil {
		return err
	}
	qids := make([]string, 0, len(run))
	for qid, hits := range run {
		if len(hits) == 0 {
			continue
		}
		if err := checkField("query id", qid); err != nil {
			return err
		}
		seen := make(map[string]struct{}, len(hits))
		for _, h := range hits {
			if err := checkField("doc id", h.ID); err != nil {
				return fmt.Errorf("%w (query %q)", err, qid)
			}
			if math.IsNaN(h.Score) {
				return fmt.Errorf("%w: query %q doc %q: NaN score", ErrRun, qid, h.ID)
			}
			if _, dup := seen[h.ID]; dup {
				return fmt.Errorf("%w: query %q: doc %q listed twice", ErrRun, qid, h.ID)
			}
			seen[h.ID] = struct{}{}
		}
		qids = append(qids, qid)
	}
	slices.SortFunc(qids, compareQueryIDs)

	bw := bufio.NewWriter(w)
	var buf []byte
	for _, qid := range qids {
		for i, h := range TRECOrder(run[qid]) {
			buf = buf[:0]
			buf = append(buf, qid...)
			buf = append(buf, " Q0 "...)
			buf = append(buf, h.ID...)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, int64(i+1), 10)
			buf = append(buf, ' ')
			buf = strconv.AppendFloat(buf, h.Score, 'g', -1, 64)
			buf = append(buf, ' ')
			buf = append(buf, tag...)
			buf = append(buf, '\n')
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("beir: write run: %w", err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("beir: write run: %w", err)
	}
	return nil
}

func checkField(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrRun, what)
	}
	// Python's str.split, which ireval.py uses, also splits at the
	// separator controls U+001C–U+001F: refuse every control character.
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("%w: %s %q contains a blank or control character", ErrRun, what, s)
	}
	return nil
}

// ReadTREC reads a TREC run file ("qid Q0 docid rank score tag", blank
// separated) from r. The rank and tag columns are checked for presence only
// and ignored, as trec_eval ignores them; each query's hits keep the file's
// order. A line without six fields, a score that is not a number, or a
// document listed twice for one query is a *FormatError (name is used in its
// message).
func ReadTREC(r io.Reader, name string) (Run, error) {
	run := make(Run)
	seen := make(map[[2]string]int) // (qid, docid) → line
	err := scanLines(r, name, func(line []byte, n int) error {
		qid, did, score, reason := parseTRECLine(string(line))
		if reason != "" {
			return &FormatError{Name: name, Line: n, Reason: reason}
		}
		key := [2]string{qid, did}
		if first, ok := seen[key]; ok {
			return &FormatError{Name: name, Line: n, Reason: fmt.Sprintf("query %q: doc %q repeated (first on line %d)", qid, did, first)}
		}
		seen[key] = n
		run[qid] = append(run[qid], Scored{ID: did, Score: score})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// parseTRECLine parses one run line. A non-empty reason means it is
// malformed.
func parseTRECLine(line string) (qid, did string, score float64, reason string) {
	f := strings.Fields(line)
	if len(f) != 6 {
		return "", "", 0, fmt.Sprintf("want 6 fields (qid Q0 docid rank score tag), got %d", len(f))
	}
	score, err := strconv.ParseFloat(f[4], 64)
	if err != nil || math.IsNaN(score) {
		return "", "", 0, fmt.Sprintf("score %q is not a number", f[4])
	}
	return f[0], f[2], score, ""
}
