package beir

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The hand-computed example of ireval.py --selftest. Grades: q1 graded (d3
// judged 0 = not relevant), q2 and q5 binary, q3 judged but absent from the
// run, q4 in the run but unjudged (ignored).
var (
	toyQrels = map[string]map[string]int{
		"q1": {"d1": 3, "d2": 2, "d3": 0, "d4": 1},
		"q2": {"d5": 1},
		"q3": {"d9": 1},
		"q5": {"x11": 1},
	}
	toyRun = Run{
		"q1": {{"d2", 10}, {"d9", 9}, {"d1", 8}, {"d4", 7}, {"d3", 6}},
		// A tie: d5 and d7 both score 3; trec_eval ranks d7 (id descending) first.
		"q2": {{"d6", 5}, {"d5", 3}, {"d7", 3}},
		"q4": {{"d1", 1}},
		"q5": append(tenHits("y", 100), Scored{"x11", 1}), // the only relevant doc at rank 11
	}
)

func tenHits(prefix string, top float64) []Scored {
	var out []Scored
	for i := range 10 {
		out = append(out, Scored{fmt.Sprintf("%s%02d", prefix, i), top - float64(i)})
	}
	return out
}

func TestEvaluateHandComputed(t *testing.T) {
	// q1: ranking d2(2) d9(-) d1(3) d4(1) d3(0)
	//   DCG  = 2/log2(2) + 0 + 3/log2(4) + 1/log2(5) = 2 + 1.5 + 0.4306765581 = 3.9306765581
	//   IDCG = 3/log2(2) + 2/log2(3) + 1/log2(4)     = 3 + 1.2618595071 + 0.5 = 4.7618595071
	//   AP = (1/1 + 2/3 + 3/4)/3; R = 1; RR = 1
	// q2: d6(-) d7(-) d5(1): nDCG = (1/log2(4))/1 = 0.5; AP = 1/3; R = 1; RR = 1/3
	// q3: absent from the run: 0 everywhere
	// q5: relevant at rank 11: nDCG@10 = 0, RR@10 = 0, AP = 1/11, R = 1
	want := map[string]Scores{
		"q1": {NDCG10: 3.9306765581 / 4.7618595071, MAP100: (1 + 2.0/3 + 3.0/4) / 3, Recall100: 1, MRR10: 1},
		"q2": {NDCG10: 0.5, MAP100: 1.0 / 3, Recall100: 1, MRR10: 1.0 / 3},
		"q3": {},
		"q5": {MAP100: 1.0 / 11, Recall100: 1},
	}
	m := Evaluate(toyRun, toyQrels)
	require.Equal(t, 4, m.Judged)
	require.Equal(t, []string{"q3"}, m.Missing)
	require.Equal(t, 1, m.Unjudged)
	require.Len(t, m.PerQuery, 4)
	for q, w := range want {
		requireScores(t, w, m.PerQuery[q], 1e-9, q)
	}
	require.InDelta(t, 0.8254499, m.PerQuery["q1"].NDCG10, 1e-7)
	requireScores(t, Scores{
		NDCG10:    (0.8254499 + 0.5) / 4,
		MAP100:    (0.8055556 + 1.0/3 + 1.0/11) / 4,
		Recall100: 3.0 / 4,
		MRR10:     (1 + 1.0/3) / 4,
	}, m.Mean, 1e-6, "mean")
	require.InDelta(t, 0.331362, m.Mean.NDCG10, 1e-6) // what ireval.py --selftest prints
}

func requireScores(t *testing.T, want, got Scores, delta float64, msg string) {
	t.Helper()
	require.InDelta(t, want.NDCG10, got.NDCG10, delta, "%s nDCG@10", msg)
	require.InDelta(t, want.MAP100, got.MAP100, delta, "%s MAP@100", msg)
	require.InDelta(t, want.Recall100, got.Recall100, delta, "%s R@100", msg)
	require.InDelta(t, want.MRR10, got.MRR10, delta, "%s MRR@10", msg)
}

func TestEvaluateQuery(t *testing.T) {
	graded := map[string]int{"a": 3, "b": 2, "c": 1, "z": 0, "n": -1}
	tests := []struct {
		name   string
		hits   []Scored
		judged map[string]int
		want   Scores
	}{
		{"perfect", []Scored{{"a", 3}, {"b", 2}, {"c", 1}}, graded, Scores{1, 1, 1, 1}},
		{"perfect, slice order ignored", []Scored{{"c", 1}, {"a", 3}, {"b", 2}}, graded, Scores{1, 1, 1, 1}},
		{"no hits", nil, graded, Scores{}},
		{"nothing relevant judged", []Scored{{"z", 1}}, map[string]int{"z": 0, "n": -2}, Scores{}},
		{"no judgements", []Scored{{"a", 1}}, nil, Scores{}},
		// Grades ≤ 0 give no gain and are not relevant.
		{"only non-relevant retrieved", []Scored{{"z", 2}, {"n", 1}}, graded, Scores{}},
		// One relevant doc of grade 1 at rank 2 of 1 relevant.
		{"rank 2", []Scored{{"x", 2}, {"c", 1}}, map[string]int{"c": 1}, Scores{1 / math.Log2(3), 0.5, 1, 0.5}},
		// Ties by id descending: b before a, so the relevant a is at rank 2.
		{"tie", []Scored{{"a", 1}, {"b", 1}}, map[string]int{"a": 1}, Scores{1 / math.Log2(3), 0.5, 1, 0.5}},
		// NaN ranks last, below -Inf.
		{"NaN last", []Scored{{"a", math.NaN()}, {"b", math.Inf(-1)}}, map[string]int{"a": 1}, Scores{1 / math.Log2(3), 0.5, 1, 0.5}},
		// A duplicate counts once, at its best position: a at 1, b at 2.
		{"duplicate", []Scored{{"a", 0}, {"a", 5}, {"b", 1}}, map[string]int{"b": 1}, Scores{1 / math.Log2(3), 0.5, 1, 0.5}},
		// Relevant at rank 101: outside every cut-off.
		{"rank 101", append(manyHits(100), Scored{"a", -1}), map[string]int{"a": 1}, Scores{}},
		// Relevant at rank 100 of 2 relevant.
		{"rank 100", append(manyHits(99), Scored{"a", -1}), map[string]int{"a": 1, "b": 1}, Scores{0, 0.01 / 2, 0.5, 0}},
		// Ideal DCG is cut at 10 too: 12 relevant docs of grade 1, all retrieved first.
		{"ideal cut", manyHits(12), relevantAll(12), Scores{1, 1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireScores(t, tt.want, EvaluateQuery(tt.hits, tt.judged), 1e-12, tt.name)
		})
	}
}

func manyHits(n int) []Scored {
	out := make([]Scored, n)
	for i := range out {
		out[i] = Scored{fmt.Sprintf("h%03d", i), float64(n - i)}
	}
	return out
}

func relevantAll(n int) map[string]int {
	m := make(map[string]int)
	for i := range n {
		m[fmt.Sprintf("h%03d", i)] = 1
	}
	return m
}

func TestTRECOrder(t *testing.T) {
	hits := []Scored{{"1", 2}, {"10", 2}, {"9", 2}, {"b", 5}, {"a", math.NaN()}, {"é", 2}, {"z", 2}, {"b", 1}}
	got := TRECOrder(hits)
	var ids []string
	for _, h := range got {
		ids = append(ids, h.ID)
	}
	// Bytewise descending, like Python's string order: "é" (U+00E9) > "z" > "9" > "10" > "1".
	require.Equal(t, []string{"b", "é", "z", "9", "10", "1", "a"}, ids)
	require.Equal(t, 5.0, got[0].Score)
	require.Equal(t, "1", hits[0].ID, "input untouched")
}

// TestEvaluateProperties checks, on seeded random runs, that every metric is
// in [0, 1], that ranking the relevant documents first by grade scores 1
// everywhere, and that the result does not depend on the slice order.
func TestEvaluateProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		qrels := map[string]map[string]int{}
		run := Run{}
		for q := range 1 + rng.IntN(5) {
			qid := fmt.Sprint(q)
			judged := map[string]int{}
			for range rng.IntN(30) {
				judged[fmt.Sprint(rng.IntN(200))] = rng.IntN(5) - 1
			}
			qrels[qid] = judged
			var hits []Scored
			for d := range rng.IntN(150) {
				hits = append(hits, Scored{fmt.Sprint(d), float64(rng.IntN(20))})
			}
			run[qid] = hits
		}
		m := Evaluate(run, qrels)
		for qid, s := range m.PerQuery {
			for _, v := range []float64{s.NDCG10, s.MAP100, s.Recall100, s.MRR10} {
				require.True(t, v >= 0 && v <= 1+1e-12, "trial %d query %s: %+v", trial, qid, s)
			}
			shuffled := append([]Scored(nil), run[qid]...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			require.Equal(t, s, EvaluateQuery(shuffled, qrels[qid]))

			var ideal []Scored
			nrel := 0
			for d, g := range qrels[qid] {
				if g > 0 {
					nrel++
					ideal = append(ideal, Scored{d, float64(g)})
				}
			}
			if nrel == 0 || nrel > 10 {
				continue
			}
			requireScores(t, Scores{1, 1, 1, 1}, EvaluateQuery(ideal, qrels[qid]), 1e-12, "ideal")
		}
	}
}

func TestEvaluateEmpty(t *testing.T) {
	m := Evaluate(nil, nil)
	require.Equal(t, Scores{}, m.Mean)
	require.Zero(t, m.Judged)
	m = Evaluate(Run{"q": {{"d", 1}}}, map[string]map[string]int{"q": {}})
	require.Zero(t, m.Judged, "a query with an empty judgement map is not judged")
	require.Equal(t, 1, m.Unjudged)
}

func TestWriteTREC(t *testing.T) {
	run := Run{
		"10": {{"d1", 0.5}, {"d2", 0.25}},
		"2":  {{"a", 1}, {"b", 1}, {"c", 1e-7}, {"e", math.Inf(-1)}},
		"3":  nil,
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTREC(&buf, run, "ragd"))
	require.Equal(t, `2 Q0 b 1 1 ragd
2 Q0 a 2 1 ragd
2 Q0 c 3 1e-07 ragd
2 Q0 e 4 -Inf ragd
10 Q0 d1 1 0.5 ragd
10 Q0 d2 2 0.25 ragd
`, buf.String())

	back, err := ReadTREC(&buf, "run")
	require.NoError(t, err)
	require.Equal(t, Run{
		"2":  {{"b", 1}, {"a", 1}, {"c", 1e-7}, {"e", math.Inf(-1)}},
		"10": {{"d1", 0.5}, {"d2", 0.25}},
	}, back)
}

func TestWriteTRECErrors(t *testing.T) {
	tests := []struct {
		name string
		run  Run
		tag  string
		want string
	}{
		{"empty tag", Run{"q": {{"d", 1}}}, "", "empty tag"},
		{"blank in tag", Run{"q": {{"d", 1}}}, "my run", `tag "my run"`},
		{"blank in query id", Run{"q 1": {{"d", 1}}}, "t", `query id "q 1"`},
		{"empty doc id", Run{"q": {{"", 1}}}, "t", "empty doc id"},
		{"tab in doc id", Run{"q": {{"d\t1", 1}}}, "t", `doc id "d\t1"`},
		{"separator control in doc id", Run{"q": {{"d\x1e1", 1}}}, "t", "control character"},
		{"NaN", Run{"q": {{"d", math.NaN()}}}, "t", "NaN score"},
		{"duplicate", Run{"q": {{"d", 1}, {"d", 2}}}, "t", `doc "d" listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteTREC(&buf, tt.run, tt.tag)
			require.ErrorIs(t, err, ErrRun)
			require.ErrorContains(t, err, tt.want)
			require.Zero(t, buf.Len(), "nothing written")
		})
	}
}

func TestWriteTRECWriterError(t *testing.T) {
	boom := errors.New("boom")
	err := WriteTREC(failWriter{boom}, Run{"q": {{"d", 1}}}, "t")
	require.ErrorIs(t, err, boom)
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestReadTRECErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		reason   string
	}{
		{"five fields", "q Q0 d 1 2.5\n", 1, "want 6 fields"},
		{"bad score", "q Q0 d 1 x t\n", 1, `score "x" is not a number`},
		{"NaN score", "q Q0 d 1 NaN t\n", 1, "not a number"},
		{"repeated doc", "q Q0 d 1 2 t\n\nq Q0 d 2 1 t\n", 3, `doc "d" repeated (first on line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadTREC(strings.NewReader(tt.in), "run.txt")
			var fe *FormatError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.ErrorIs(t, err, ErrFormat)
			require.Equal(t, tt.line, fe.Line)
			require.Contains(t, fe.Reason, tt.reason)
			require.Contains(t, err.Error(), "run.txt:")
		})
	}
}
