package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/local"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type embedOptions struct {
	embedder   string
	json       bool
	baseURL    string
	apiType    string
	apiVersion string
	model      string
	apiKeyFile string
	dimensions int
	batch      int
	timeout    time.Duration
}

// openaiOnly are the flags that configure the openai embedder only.
var openaiOnly = []string{"base-url", "api-type", "api-version", "model", "api-key-file", "timeout-embed"}

func newEmbedCmd() *cobra.Command {
	var o embedOptions
	cmd := &cobra.Command{
		Use:   "embed",
		Short: "Embed one text per line of stdin, printing one JSON array of floats per line",
		Long: `Reads texts from stdin, one per line (a trailing \r is dropped), and prints each one's
vector on its own line of stdout, in input order: a JSON array of floats, or with --json an
object {"model", "dimension", "embedding"}. Lines are embedded --batch at a time and printed as
each batch completes, so the command works in a pipe.

A blank line (empty or white space only) is an error naming its line number: the output would
otherwise lose its line-for-line correspondence with the input. The lines before it are printed
first. A text the embedder rejects (the hash embedder rejects lines of punctuation only) is an
error the same way.

--embedder local (the default) is the built-in model; hash a deterministic feature-hashing
embedder for tests (--dimensions sets its size, default 256); openai any OpenAI-compatible
endpoint (--base-url, --model, --dimensions, --api-key-file; the key otherwise comes from
$OPENAI_API_KEY and is never printed). Examples:

  echo "heat transfer in a boundary layer" | ragctl embed --embedder hash --dimensions 8
  ragctl embed --embedder openai --base-url http://localhost:11434/v1 --model nomic-embed-text < lines.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.embedder != "openai" {
				for _, name := range openaiOnly {
					if cmd.Flags().Changed(name) {
						return fmt.Errorf("--%s applies to --embedder openai only", name)
					}
				}
			}
			return runEmbed(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), o)
		},
	}
	addEmbedFlags(cmd.Flags(), &o)
	cmd.Flags().Lookup("embedder").DefValue = "local"
	_ = cmd.Flags().Set("embedder", "local")
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, `print {"model","dimension","embedding"} objects instead of bare arrays`)
	f.IntVar(&o.batch, "batch", 64, "lines per embedding call")
	return cmd
}

// addEmbedFlags defines the flags that choose and configure an embedder
// (--embedder and the openai ones), shared by embed and ingest.
func addEmbedFlags(f *pflag.FlagSet, o *embedOptions) {
	f.StringVar(&o.embedder, "embedder", "", "local, hash or openai")
	f.StringVar(&o.baseURL, "base-url", embed.DefaultOpenAIBaseURL, "API root of the OpenAI-compatible endpoint (openai)")
	f.StringVar(&o.apiType, "api-type", embed.APITypeOpenAI, "openai, azure or azure_ad (openai)")
	f.StringVar(&o.apiVersion, "api-version", "", "Azure api-version (openai; default "+embed.DefaultAzureAPIVersion+" for azure)")
	f.StringVar(&o.model, "model", embed.DefaultOpenAIModel, "model, or Azure deployment (openai)")
	f.StringVar(&o.apiKeyFile, "api-key-file", "", "file holding the API key (openai; default $OPENAI_API_KEY)")
	f.IntVar(&o.dimensions, "dimensions", 0, "vector length: hash's size (default 256), or openai's dimensions request field")
	f.DurationVar(&o.timeout, "timeout-embed", 60*time.Second, "timeout of one embedding request (openai)")
}

// newLocalEmbedder returns the built-in model behind a pool that runs it on
// every core (the model embeds one text at a time per call), and the
// function that stops the pool.
func newLocalEmbedder() (embed.Embedder, func() error, error) {
	m, err := local.New(local.Config{})
	if err != nil {
		return nil, nil, err
	}
	p, err := embed.NewPool(m, embed.PoolConfig{Workers: runtime.GOMAXPROCS(0), MaxBatch: 4, BatchWindow: -1})
	if err != nil {
		return nil, nil, err
	}
	return p, p.Close, nil
}

// newCLIEmbedder builds the embedder of o and the function that releases it.
func newCLIEmbedder(o embedOptions) (embed.Embedder, func() error, error) {
	none := func() error { return nil }
	switch o.embedder {
	case "local":
		if o.dimensions != 0 {
			return nil, nil, errors.New("--dimensions does not apply to --embedder local")
		}
		return newLocalEmbedder()
	case "hash":
		e, err := embed.NewHash(embed.HashConfig{Dimension: o.dimensions})
		return e, none, err
	case "openai":
		e, err := embed.NewOpenAI(embed.OpenAIConfig{
			BaseURL:    o.baseURL,
			APIType:    o.apiType,
			APIVersion: o.apiVersion,
			Model:      o.model,
			APIKeyFile: o.apiKeyFile,
			Dimensions: o.dimensions,
			Timeout:    o.timeout,
		})
		if err != nil {
			return nil, nil, err
		}
		return e, e.Close, nil
	default:
		return nil, nil, fmt.Errorf("--embedder %q: want local, hash or openai", o.embedder)
	}
}

func runEmbed(ctx context.Context, in io.Reader, out io.Writer, o embedOptions) (err error) {
	if o.batch < 1 {
		return fmt.Errorf("--batch %d: want at least 1", o.batch)
	}
	e, release, err := newCLIEmbedder(o)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, release()) }()
	w := &vectorWriter{w: bufio.NewWriter(out), json: o.json, model: e.Model()}
	r := bufio.NewReader(in)
	var batch []string
	first := 1 // line number of batch[0]
	for lineNo := 1; ; lineNo++ {
		line, rerr := r.ReadString('\n')
		if rerr != nil && rerr != io.EOF {
			return fmt.Errorf("reading stdin: %w", rerr)
		}
		if rerr == io.EOF && line == "" {
			break
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if strings.TrimSpace(line) == "" {
			if err := embedLines(ctx, e, batch, first, w); err != nil {
				return err
			}
			return fmt.Errorf("line %d: blank line: every line must hold a text", lineNo)
		}
		batch = append(batch, line)
		if len(batch) == o.batch {
			if err := embedLines(ctx, e, batch, first, w); err != nil {
				return err
			}
			batch, first = batch[:0], lineNo+1
		}
		if rerr == io.EOF {
			break
		}
	}
	return embedLines(ctx, e, batch, first, w)
}

// embedLines embeds lines (the first being line number first) and prints
// their vectors. When the embedder rejects one text, the lines before it
// are printed and the error names its line.
func embedLines(ctx context.Context, e embed.Embedder, lines []string, first int, w *vectorWriter) error {
	if len(lines) == 0 {
		return nil
	}
	vs, err := e.Embed(ctx, lines)
	if err != nil {
		bad := rejectedLine(lines, err)
		if bad < 0 {
			return err
		}
		if bad > 0 {
			if err := embedLines(ctx, e, lines[:bad], first, w); err != nil {
				return err
			}
		}
		return fmt.Errorf("line %d: %w", first+bad, err)
	}
	for _, v := range vs {
		if err := w.write(v); err != nil {
			return err
		}
	}
	return w.w.Flush()
}

// rejectedLine returns the index of the line that err is about (every
// embedder reports a text it rejects as a *embed.TextError), or -1.
func rejectedLine(lines []string, err error) int {
	var te *embed.TextError
	if errors.As(err, &te) && te.Index >= 0 && te.Index < len(lines) {
		return te.Index
	}
	return -1
}

// vectorWriter prints vectors as JSON, floats in their shortest float32
// form (they parse back to the same float32).
type vectorWriter struct {
	w     *bufio.Writer
	json  bool
	model string
	buf   []byte
}

func (vw *vectorWriter) write(v []float32) error {
	b := vw.buf[:0]
	if vw.json {
		model, err := json.Marshal(vw.model)
		if err != nil {
			return err
		}
		b = append(b, `{"model":`...)
		b = append(b, model...)
		b = append(b, `,"dimension":`...)
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, `,"embedding":`...)
	}
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	b = append(b, ']')
	if vw.json {
		b = append(b, '}')
	}
	b = append(b, '\n')
	vw.buf = b
	_, err := vw.w.Write(b)
	return err
}
