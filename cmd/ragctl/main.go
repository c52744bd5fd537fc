// Command ragctl is ragd's command-line tool: it fills collections with
// documents (ingest), searches and asks them, manages collections and
// documents, embeds texts, and runs the benchmarks. It talks to a ragd
// server (--server, gRPC with REST as the fallback) or opens a data folder
// in process (--data) through the server's own code, so both modes behave
// the same.
//
// Exit codes: 0 ok, 1 partial failure (some inputs failed), 2 usage, 3 the
// server or the file system failed the command.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ragctl:", err)
	}
	os.Exit(exitCode(err))
}

// globals are the flags before the subcommand.
type globals struct {
	conn connOptions
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "ragctl",
		Short: "Command-line tool for ragd",
		Long: `ragctl fills ragd collections with documents and searches them.

It talks to a ragd server (--server, default ` + defaultServer + `; gRPC on the same host's
port 9090, REST when that does not answer; the API key comes from $` + apiKeyEnv + `), or,
with --data DIR, opens a data folder in process through the server's own code (no server
needed; not while a server has the folder open).

Exit codes: 0 ok, 1 some inputs failed (the rest was done), 2 usage, 3 server or I/O error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v (see %s --help)", err, c.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.conn.server, "server", envOr("RAGD_SERVER", defaultServer), "ragd's REST URL ($RAGD_SERVER); https:// for TLS")
	pf.StringVar(&g.conn.grpcAddr, "grpc-addr", "", "ragd's gRPC address (default: --server's host, port "+defaultGRPCPort+")")
	pf.StringVar(&g.conn.data, "data", "", "open this data folder in process instead of talking to a server")
	pf.DurationVar(&g.conn.timeout, "timeout", 5*time.Minute, "bound of one REST call to the server")
	pf.BoolVarP(&g.conn.verbose, "verbose", "v", false, "say how the server is reached")
	pf.StringVar(&g.conn.transport, "transport", "auto", "auto (gRPC, REST when gRPC does not answer), grpc or rest")

	bench := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks with published, reproducible contracts",
	}
	bench.AddCommand(newBenchANNCmd(), newBenchPlotCmd(), newBenchRetrievalCmd())
	bench.AddCommand(newBenchExactCmd())
	root.AddCommand(bench)
	root.AddCommand(newEmbedCmd())
	root.AddCommand(newCollectionsCmd(g))
	root.AddCommand(newIngestCmd(g))
	root.AddCommand(newSearchCmd(g))
	root.AddCommand(newGetCmd(g))
	root.AddCommand(newDeleteCmd(g))
	root.AddCommand(newAskCmd(g))
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes argument-count errors usage errors (exit 2), in c and its
// subcommands.
func wrapArgs(c *cobra.Command) {
	if a := c.Args; a != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := a(cmd, args); err != nil {
				return usageErrorf("%v (see %s --help)", err, cmd.CommandPath())
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// connect dials ragd for a command and returns the client; close it when
// done.
func (g *globals) connect(cmd *cobra.Command) (client, error) {
	if g.conn.data != "" && cmd.Flags().Changed("server") {
		return nil, usageErrorf("give --server or --data, not both")
	}
	return dial(cmd.Context(), g.conn, cmd.ErrOrStderr())
}

// withClient runs fn with a client and closes it after, joining the
// errors.
func (g *globals) withClient(cmd *cobra.Command, fn func(context.Context, client) error) (err error) {
	c, err := g.connect(cmd)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = ioErrorf("close: %v", cerr)
		}
	}()
	return fn(cmd.Context(), c)
}

// isTerminal reports whether w is a terminal (for colours and progress
// bars).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// jsonOut is how --json prints a response: as ragd's REST API writes it
// (proto field names, default values included).
var jsonOut = protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true, Multiline: true, Indent: "  "}

// printJSON prints m on w as --json does.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOut.Marshal(m)
	if err != nil {
		return ioErrorf("encode the answer: %v", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
