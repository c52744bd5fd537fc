package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotRecallQPS draws QPS (log scale) against recall for each engine, one
// point per ef, the way ann-benchmarks presents its results.
func plotRecallQPS(path, title string, engines map[string][]annRow) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "recall@k"
	p.Y.Label.Text = "queries per second (1 thread)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	names := make([]string, 0, len(engines))
	for name := range engines {
		names = append(names, name)
	}
	slices.Sort(names)
	var series []any
	for _, name := range names {
		series = append(series, name, points(engines[name]))
	}
	if err := plotutil.AddLinePoints(p, series...); err != nil {
		return err
	}
	if rows := engines["ragd"]; len(rows) > 0 {
		labels := make([]string, len(rows))
		for i, r := range rows {
			labels[i] = fmt.Sprintf("ef %d", r.Ef)
		}
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: points(rows), Labels: labels})
		if err != nil {
			return err
		}
		p.Add(l)
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	return nil
}

func points(rows []annRow) plotter.XYs {
	pts := make(plotter.XYs, len(rows))
	for i, r := range rows {
		pts[i].X, pts[i].Y = r.Recall, r.QPS
	}
	return pts
}

// readRuns reads JSON lines in the benchmark's own format (the keys engine,
// ef, recall and qps at least; other engines' harnesses can write them too)
// and keeps, for each engine and ef, the run of median QPS.
func readRuns(path string) (map[string][]annRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type key struct {
		engine string
		ef     int
	}
	runs := map[key][]annRow{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r annRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		if r.Engine == "" || r.Ef <= 0 || r.QPS <= 0 {
			return nil, fmt.Errorf("%s line %d: want engine, ef, recall and qps", path, line)
		}
		k := key{r.Engine, r.Ef}
		runs[k] = append(runs[k], r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := map[string][]annRow{}
	for k, rs := range runs {
		slices.SortFunc(rs, func(a, b annRow) int { return cmp.Compare(a.QPS, b.QPS) })
		out[k.engine] = append(out[k.engine], rs[len(rs)/2])
	}
	for _, rs := range out {
		slices.SortFunc(rs, func(a, b annRow) int { return cmp.Compare(a.Ef, b.Ef) })
	}
	return out, nil
}
