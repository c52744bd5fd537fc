package main

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/spf13/cobra"
)

func newBenchPlotCmd() *cobra.Command {
	var out, title string
	cmd := &cobra.Command{
		Use:   "plot RUNS.jsonl...",
		Short: "Plot recall against QPS for every engine in JSON-lines results of `bench ann`",
		Long: `Reads the JSON lines that 'ragctl bench ann --json' prints (and that other engines'
harnesses can print in the same format, with their own "engine" name), takes for every
engine and ef the run of median QPS, prints them as a table and draws them in one PNG.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			engines := map[string][]annRow{}
			for _, path := range args {
				runs, err := readRuns(path)
				if err != nil {
					return err
				}
				for name, rows := range runs {
					engines[name] = append(engines[name], rows...)
				}
			}
			printPlotTable(cmd.OutOrStdout(), engines)
			if out == "" {
				return nil
			}
			return plotRecallQPS(out, title, engines)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the PNG here")
	cmd.Flags().StringVar(&title, "title", "", "title of the plot")
	return cmd
}

func printPlotTable(w io.Writer, engines map[string][]annRow) {
	fmt.Fprintln(w, "| engine | ef | recall@k | QPS |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, name := range slices.Sorted(maps.Keys(engines)) {
		for _, r := range engines[name] {
			fmt.Fprintf(w, "| %s | %d | %.4f | %.0f |\n", name, r.Ef, r.Recall, r.QPS)
		}
	}
}
