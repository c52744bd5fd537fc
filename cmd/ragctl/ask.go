package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/rag"
)

type askOptions struct {
	collection   string
	k            int
	mode         string
	filter       string
	fusion       string
	alpha        float64
	model        string
	temperature  float64
	maxTokens    int
	maxContext   int
	systemPrompt string
	noStream     bool
	json         bool
	// --data mode's LLM.
	llmBaseURL string
	llmModel   string
	llmModels  []string
	llmTimeout time.Duration
}

func newAskCmd(g *globals) *cobra.Command {
	var o askOptions
	cmd := &cobra.Command{
		Use:   `ask "QUESTION" --collection NAME`,
		Short: "Answer a question from a collection, citing its sources",
		Long: `Retrieves the passages that answer a question and, when an LLM is configured, prints its
answer as it is written, then the sources it cites ([n]). Without an LLM it prints the
passages. --json prints the server's response.

The LLM is the server's (ragd --llm-base-url, --llm-model, RAGD_LLM_API_KEY). With --data,
give it here: --llm-base-url, --llm-model, --llm-models, --llm-timeout, and the key in
$RAGD_LLM_API_KEY.

  ragctl ask "how do goroutines communicate?" --collection go-docs
  ragctl --data ./data ask "what is a slice?" -c go-docs --llm-base-url http://localhost:11434/v1 --llm-model llama3.1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.collection == "" {
				return usageErrorf("--collection is required")
			}
			llmSet := cmd.Flags().Changed("llm-base-url") || cmd.Flags().Changed("llm-model") || cmd.Flags().Changed("llm-models") || cmd.Flags().Changed("llm-timeout")
			if llmSet && g.conn.data == "" {
				return usageErrorf("--llm-* flags apply with --data; a server answers with its own LLM (ragd --llm-base-url)")
			}
			if g.conn.data != "" && o.llmBaseURL != "" {
				g.conn.llm = rag.Config{BaseURL: o.llmBaseURL, Model: o.llmModel, Models: o.llmModels, Timeout: o.llmTimeout,
					FirstByteTimeout: o.llmTimeout, APIKey: embed.Secret(strings.TrimSpace(os.Getenv(llmKeyEnv)))}
				if err := g.conn.llm.Validate(); err != nil {
					return usageErrorf("%v", err)
				}
			}
			f, err := parseFilter(o.filter)
			if err != nil {
				return err
			}
			req := &ragv1.AskRequest{Collection: o.collection, Question: args[0], K: int32(o.k), Mode: o.mode, Filter: f, Fusion: o.fusion,
				Model: o.model, MaxTokens: int32(o.maxTokens), MaxContextTokens: int32(o.maxContext), SystemPrompt: o.systemPrompt,
				Stream: !o.json && !o.noStream}
			if cmd.Flags().Changed("alpha") {
				req.Alpha = proto.Float64(o.alpha)
			}
			if cmd.Flags().Changed("temperature") {
				req.Temperature = proto.Float64(o.temperature)
			}
			return g.withClient(cmd, func(ctx context.Context, c client) error {
				return runAsk(ctx, c, req, o.json, cmd.OutOrStdout())
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.collection, "collection", "c", "", "collection to ask")
	f.IntVarP(&o.k, "k", "k", 0, "passages retrieved (default: the server's, 8)")
	f.StringVar(&o.mode, "mode", "", "search mode: hybrid, vector or text (default: the collection's)")
	f.StringVar(&o.filter, "filter", "", "metadata filter, JSON")
	f.StringVar(&o.fusion, "fusion", "", "fusion of a hybrid search: dbsf, relative or rrf (default: the collection's calibrated one)")
	f.Float64Var(&o.alpha, "alpha", 0, "weight of the vector leg in relative fusion")
	f.StringVar(&o.model, "model", "", "model to answer with, one the server allows (default: the server's)")
	f.Float64Var(&o.temperature, "temperature", 0, "sampling temperature (default: the model's)")
	f.IntVar(&o.maxTokens, "max-tokens", 0, "bound of the answer's length in tokens")
	f.IntVar(&o.maxContext, "max-context-tokens", 0, "token budget of the prompt")
	f.StringVar(&o.systemPrompt, "system-prompt", "", "instructions replacing the default ones (the citation rules stay)")
	f.BoolVar(&o.noStream, "no-stream", false, "wait for the whole answer instead of printing it as it comes")
	f.BoolVar(&o.json, "json", false, "print the server's response as JSON")
	f.StringVar(&o.llmBaseURL, "llm-base-url", "", "with --data: OpenAI-compatible chat API (key in $"+llmKeyEnv+")")
	f.StringVar(&o.llmModel, "llm-model", "", "with --data: the model")
	f.StringSliceVar(&o.llmModels, "llm-models", nil, "with --data: other models --model may name")
	f.DurationVar(&o.llmTimeout, "llm-timeout", rag.DefaultTimeout, "with --data: bound of the wait for the answer (its first token when streaming)")
	return cmd
}

// runAsk prints the answer as it streams (or whole), then the sources.
func runAsk(ctx context.Context, c client, req *ragv1.AskRequest, asJSON bool, w io.Writer) error {
	var done *ragv1.AskResponse
	streamed := false
	err := c.Ask(ctx, req, func(ev *ragv1.AskEvent) error {
		if d := ev.GetDelta(); d != nil {
			streamed = true
			_, err := io.WriteString(w, d.GetText())
			return err
		}
		done = ev.GetDone()
		return nil
	})
	if err != nil {
		if streamed {
			fmt.Fprintln(w)
		}
		return callError(fmt.Sprintf("ask %q", req.GetCollection()), err)
	}
	if done == nil {
		return ioErrorf("ask: the server sent no answer")
	}
	if asJSON {
		return printJSON(w, done)
	}
	switch {
	case done.GetAnswer() == "":
		fmt.Fprintf(w, "%s\n\n", done.GetNote())
		for _, p := range done.GetPassages() {
			fmt.Fprintf(w, "[%d] %s\n%s\n\n", p.GetN(), passageWhere(p), indent(p.GetText()))
		}
		return nil
	case !streamed:
		fmt.Fprint(w, done.GetAnswer())
	}
	fmt.Fprintln(w)
	if len(done.GetCitations()) > 0 {
		fmt.Fprintln(w, "\nSources:")
		for _, ci := range done.GetCitations() {
			where := ci.GetSource()
			if where == "" {
				where = ci.GetId()
			}
			if ci.GetHeading() != "" {
				where += " › " + ci.GetHeading()
			}
			fmt.Fprintf(w, "  [%d] %s\n", ci.GetN(), where)
		}
	}
	return nil
}

func passageWhere(p *ragv1.Passage) string {
	where := p.GetSource()
	if where == "" {
		where = p.GetId()
	}
	if h, ok := p.GetMetadata().AsMap()["heading"].(string); ok && h != "" {
		where += " › " + h
	}
	return where
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}
