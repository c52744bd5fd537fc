package main

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotRecallQPS draws QPS (log scale) against recall, one point per ef, the
// way ann-benchmarks presents its results.
func plotRecallQPS(path, title string, rows []annRow) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "recall@k"
	p.Y.Label.Text = "queries per second (1 thread)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	pts := make(plotter.XYs, len(rows))
	labels := make([]string, len(rows))
	for i, r := range rows {
		pts[i].X, pts[i].Y = r.Recall, r.QPS
		labels[i] = fmt.Sprintf("ef %d", r.Ef)
	}
	if err := plotutil.AddLinePoints(p, "ragd", pts); err != nil {
		return err
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
	if err != nil {
		return err
	}
	p.Add(l)
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	return nil
}
