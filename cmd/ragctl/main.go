// Command ragctl is ragd's command-line tool. For now it holds the
// benchmarks (`ragctl bench ann`); ingestion, search and collection commands
// come with the server.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ragctl:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "ragctl",
		Short:         "Command-line tool for ragd",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	bench := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks with published, reproducible contracts",
	}
	bench.AddCommand(newBenchANNCmd(), newBenchPlotCmd(), newBenchRetrievalCmd())
	root.AddCommand(bench)
	root.AddCommand(newEmbedCmd())
	return root
}
