package beir

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

// TestAgreesWithIreval scores several runs over Cranfield with Evaluate and
// with the reference tool ireval.py (which agrees with trec_eval 10.0) and
// requires the same figures: means to 1e-6 (the tool rounds them to six
// decimals) and every per-query value to 1e-9. It skips when python3, the
// tool or the data is missing ($RAGD_SHARED, default ../shared next to the
// repository root).
func TestAgreesWithIreval(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python3")
	}
	dir := cranfieldDir(t)
	tool := filepath.Join(sharedDir(), "tools", "ir", "ireval.py")
	if _, err := os.Stat(tool); err != nil {
		t.Skipf("ireval.py not present: %v", err)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	d, err := Load(dir)
	require.NoError(t, err)

	tfidf := tfidfRun(d, 100, 0)
	runs := map[string]Run{
		"random":       randomRun(d, 42),
		"tfidf":        tfidf,
		"tfidf-ties":   tfidfRun(d, 1000, 1), // scores rounded to 1 decimal: many ties, past every cut-off
		"tfidf-sparse": sparseRun(tfidf),     // judged queries missing, unjudged ones added
		"near-oracle":  nearOracleRun(d, 7),  // judged docs mixed in: high scores, graded ties
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range runs {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			run := runs[name]
			path := filepath.Join(t.TempDir(), name+".run")
			f, err := os.Create(path)
			require.NoError(t, err)
			require.NoError(t, WriteTREC(f, run, "ragd-"+name))
			require.NoError(t, f.Close())

			out, err := exec.Command(python, tool, path, dir, "--json", "--per-query").Output()
			require.NoError(t, err, "%s", out)
			var ref struct {
				JudgedQueries int                           `json:"judged_queries"`
				Missing       int                           `json:"judged_missing_from_run"`
				Unjudged      int                           `json:"unjudged_in_run"`
				Metrics       map[string]float64            `json:"metrics"`
				PerQuery      map[string]map[string]float64 `json:"per_query"`
			}
			require.NoError(t, json.Unmarshal(out, &ref))

			m := Evaluate(run, d.Qrels)
			require.Equal(t, ref.JudgedQueries, m.Judged)
			require.Equal(t, ref.Missing, len(m.Missing))
			require.Equal(t, ref.Unjudged, m.Unjudged)
			requireScores(t, fromIreval(ref.Metrics), m.Mean, 1e-6, "mean")
			require.Len(t, ref.PerQuery, len(m.PerQuery))
			for qid, s := range m.PerQuery {
				requireScores(t, fromIreval(ref.PerQuery[qid]), s, 1e-9, "query "+qid)
			}
			t.Logf("%-12s go:      nDCG@10 %.6f  MAP@100 %.6f  R@100 %.6f  MRR@10 %.6f", name,
				m.Mean.NDCG10, m.Mean.MAP100, m.Mean.Recall100, m.Mean.MRR10)
			t.Logf("%-12s ireval:  nDCG@10 %.6f  MAP@100 %.6f  R@100 %.6f  MRR@10 %.6f", name,
				ref.Metrics["nDCG@10"], ref.Metrics["MAP@100"], ref.Metrics["R@100"], ref.Metrics["MRR@10"])

			// The file reads back to the same figures.
			f, err = os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			back, err := ReadTREC(f, path)
			require.NoError(t, err)
			require.Equal(t, m, Evaluate(back, d.Qrels))
		})
	}
}

func fromIreval(m map[string]float64) Scores {
	return Scores{NDCG10: m["nDCG@10"], MAP100: m["MAP@100"], Recall100: m["R@100"], MRR10: m["MRR@10"]}
}

// randomRun gives every judged query 100 random documents with random scores.
func randomRun(d *Dataset, seed uint64) Run {
	rng := rand.New(rand.NewPCG(seed, 0))
	run := Run{}
	for _, q := range d.JudgedQueries() {
		for _, i := range rng.Perm(len(d.Corpus))[:100] {
			run[q.ID] = append(run[q.ID], Scored{d.Corpus[i].ID, rng.Float64()})
		}
	}
	return run
}

// sparseRun drops the queries of run whose id ends in 0 or 5, empties
// those ending in 3, and adds two unjudged ones.
func sparseRun(run Run) Run {
	out := Run{"unjudged-1": {{"1", 1}}, "9999": {{"2", 1}}}
	for qid, hits := range run {
		switch qid[len(qid)-1] {
		case '0', '5':
		case '3':
			out[qid] = []Scored{}
		default:
			out[qid] = hits
		}
	}
	return out
}

// nearOracleRun scores each judged document by its grade plus noise, so
// relevant documents crowd the top, mixed with 50 random documents.
func nearOracleRun(d *Dataset, seed uint64) Run {
	rng := rand.New(rand.NewPCG(seed, 1))
	run := Run{}
	for _, q := range d.JudgedQueries() {
		seen := map[string]bool{}
		for did, g := range d.Qrels[q.ID] {
			if rng.IntN(4) == 0 {
				continue // miss some
			}
			run[q.ID] = append(run[q.ID], Scored{did, float64(g) + float64(rng.IntN(3))})
			seen[did] = true
		}
		for _, i := range rng.Perm(len(d.Corpus))[:50] {
			if did := d.Corpus[i].ID; !seen[did] {
				run[q.ID] = append(run[q.ID], Scored{did, float64(rng.IntN(6))})
			}
		}
	}
	return run
}

// tfidfRun ranks the corpus for each judged query by a plain tf-idf (lnc.ltc:
// sublinear tf, idf = ln(N/df), cosine-normalised documents) and keeps the
// top k. With decimals > 0 the scores are rounded to that many decimals.
func tfidfRun(d *Dataset, k, decimals int) Run {
	tokens := func(s string) []string {
		return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	}
	tf := func(toks []string) map[string]float64 {
		m := map[string]float64{}
		for _, w := range toks {
			m[w]++
		}
		for w, c := range m {
			m[w] = 1 + math.Log(c)
		}
		return m
	}
	df := map[string]int{}
	docs := make([]map[string]float64, len(d.Corpus))
	for i, doc := range d.Corpus {
		docs[i] = tf(tokens(doc.Title + " " + doc.Text))
		for w := range docs[i] {
			df[w]++
		}
	}
	n := float64(len(d.Corpus))
	for _, v := range docs {
		var norm float64
		for w, x := range v {
			v[w] = x * math.Log(n/float64(df[w]))
			norm += v[w] * v[w]
		}
		for w := range v {
			v[w] /= math.Sqrt(norm)
		}
	}
	run := Run{}
	for _, q := range d.JudgedQueries() {
		qv := tf(tokens(q.Text))
		var hits []Scored
		for i, dv := range docs {
			var s float64
			for w, x := range qv {
				if df[w] > 0 {
					s += x * math.Log(n/float64(df[w])) * dv[w]
				}
			}
			if s > 0 {
				if decimals > 0 {
					p := math.Pow(10, float64(decimals))
					s = math.Round(s*p) / p
				}
				hits = append(hits, Scored{d.Corpus[i].ID, s})
			}
		}
		hits = TRECOrder(hits)
		run[q.ID] = hits[:min(k, len(hits))]
	}
	return run
}

func ExampleEvaluate() {
	qrels := map[string]map[string]int{
		"q1": {"d1": 2, "d2": 1},
		"q2": {"d3": 1},
	}
	run := Run{
		"q1": {{ID: "d1", Score: 0.9}, {ID: "d7", Score: 0.8}, {ID: "d2", Score: 0.1}},
		// q2 is judged but not answered: it scores 0.
	}
	m := Evaluate(run, qrels)
	fmt.Printf("queries %d, missing %v\n", m.Judged, m.Missing)
	fmt.Printf("nDCG@10 %.4f  MAP@100 %.4f  R@100 %.4f  MRR@10 %.4f\n",
		m.Mean.NDCG10, m.Mean.MAP100, m.Mean.Recall100, m.Mean.MRR10)
	if err := WriteTREC(os.Stdout, run, "example"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// queries 2, missing [q2]
	// nDCG@10 0.4751  MAP@100 0.4167  R@100 0.5000  MRR@10 0.5000
	// q1 Q0 d1 1 0.9 example
	// q1 Q0 d7 2 0.8 example
	// q1 Q0 d2 3 0.1 example
}
