package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	ragv1 "github.com/ragd/ragd/api/ragv1"
)

// parseFilter reads a --filter flag: the search filter language as JSON.
func parseFilter(s string) (*structpb.Struct, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, usageErrorf(`--filter: not a JSON object (%v); e.g. --filter '{"must": [{"key": "lang", "match": {"value": "en"}}]}'`, err)
	}
	st, err := structpb.NewStruct(m)
	if err != nil {
		return nil, usageErrorf("--filter: %v", err)
	}
	return st, nil
}

type searchOptions struct {
	collection string
	mode       string
	k          int
	filter     string
	fusion     string
	alpha      float64
	json       bool
	full       bool
}

func newSearchCmd(g *globals) *cobra.Command {
	var o searchOptions
	cmd := &cobra.Command{
		Use:   "search QUERY --collection NAME",
		Short: "Search a collection: a ranked list, or the server's response with --json",
		Long: `Searches a collection by vector, keywords or both (the collection's default: hybrid when it
has an embedder) and prints the hits best first: score, source and heading, and a snippet
with the query's words highlighted on a terminal. --json prints the server's response.

  ragctl search "how do goroutines communicate" --collection go-docs
  ragctl search "channels" -c go-docs --mode text --k 5 --filter '{"must": [{"key": "source", "match": {"value": "doc/effective_go.html"}}]}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.collection == "" {
				return usageErrorf("--collection is required")
			}
			f, err := parseFilter(o.filter)
			if err != nil {
				return err
			}
			req := &ragv1.SearchRequest{Collection: o.collection, Query: args[0], Mode: o.mode, K: int32(o.k), Filter: f, Fusion: o.fusion}
			if cmd.Flags().Changed("alpha") {
				req.Alpha = proto.Float64(o.alpha)
			}
			return g.withClient(cmd, func(ctx context.Context, c client) error {
				resp, err := c.Search(ctx, req)
				if err != nil {
					return callError(fmt.Sprintf("search %q", o.collection), err)
				}
				if o.json {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				printHits(cmd.OutOrStdout(), args[0], resp, o.full, isTerminal(cmd.OutOrStdout()))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.collection, "collection", "c", "", "collection to search")
	f.StringVar(&o.mode, "mode", "", "hybrid, vector or text (default: hybrid when the collection has an embedder)")
	f.IntVarP(&o.k, "k", "k", 10, "hits")
	f.StringVar(&o.filter, "filter", "", "metadata filter, JSON (must / should / must_not)")
	f.StringVar(&o.fusion, "fusion", "", "fusion of a hybrid search: dbsf, relative or rrf (default: the collection's calibrated one)")
	f.Float64Var(&o.alpha, "alpha", 0, "weight of the vector leg in relative fusion, [0, 1]")
	f.BoolVar(&o.full, "full", false, "print each hit's whole text instead of a snippet")
	f.BoolVar(&o.json, "json", false, "print the server's response as JSON")
	return cmd
}

// printHits prints a ranked list for people.
func printHits(w io.Writer, query string, resp *ragv1.SearchResponse, full, color bool) {
	if len(resp.GetResults()) == 0 {
		fmt.Fprintln(w, "no results")
		return
	}
	terms := queryTerms(query)
	for i, h := range resp.GetResults() {
		md := h.GetMetadata().AsMap()
		where := h.GetSource()
		if where == "" {
			where = h.GetId()
		}
		if hd, ok := md["heading"].(string); ok && hd != "" {
			where += " › " + hd
		} else if p, ok := md["page"].(float64); ok && p > 0 {
			where += fmt.Sprintf(" › page %d", int(p))
		}
		fmt.Fprintf(w, "%2d. %.4f  %s\n", i+1, h.GetScore(), where)
		text := h.GetText()
		if !full {
			text = snippet(text, terms, 240)
		}
		if color {
			text = highlight(text, terms)
		}
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
}

// queryTerms are the words of a query worth highlighting: lower-cased,
// without the commonest English function words.
func queryTerms(q string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if !stopword[w] && utf8.RuneCountInString(w) > 1 {
			out = append(out, w)
		}
	}
	return out
}

var stopword = map[string]bool{}

func init() {
	for _, w := range strings.Fields("a an and are as at be by do does for from how in is it of on or that the this to was what when where which who why with") {
		stopword[w] = true
	}
}

// wordAt finds the first whole-word, case-insensitive occurrence of one
// of terms in text at or after from; -1 if none.
func wordAt(text string, terms []string, from int) (int, int) {
	lower := strings.ToLower(text)
	best, bestLen := -1, 0
	for _, t := range terms {
		for off := from; off < len(lower); {
			i := strings.Index(lower[off:], t)
			if i < 0 {
				break
			}
			i += off
			j := i + len(t)
			if isWordBoundary(lower, i) && isWordBoundary(lower, j) {
				if best < 0 || i < best {
					best, bestLen = i, len(t)
				}
				break
			}
			off = j
		}
	}
	return best, bestLen
}

// isWordBoundary reports whether byte offset i of s is not inside a word.
// (ToLower keeps the byte offsets of ASCII; other text may shift them, and
// then a highlight is merely off, never out of range: callers clamp.)
func isWordBoundary(s string, i int) bool {
	if i <= 0 || i >= len(s) {
		return true
	}
	before, _ := utf8.DecodeLastRuneInString(s[:i])
	after, _ := utf8.DecodeRuneInString(s[i:])
	word := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	return !word(before) || !word(after)
}

// snippet cuts text to about n bytes around the first query word, at word
// boundaries, with "…" where it cut.
func snippet(text string, terms []string, n int) string {
	text = strings.Join(strings.Fields(text), " ")
	if len(text) <= n {
		return text
	}
	at, _ := wordAt(text, terms, 0)
	start := 0
	if at > n/3 {
		start = at - n/3
	}
	end := min(len(text), start+n)
	for start > 0 && !utf8.RuneStart(text[start]) {
		start++
	}
	for end < len(text) && !utf8.RuneStart(text[end]) {
		end++
	}
	if start > 0 {
		if sp := strings.IndexByte(text[start:], ' '); sp >= 0 && sp < 20 {
			start += sp + 1
		}
	}
	if end < len(text) {
		if sp := strings.LastIndexByte(text[start:end], ' '); sp > 0 {
			end = start + sp
		}
	}
	s := text[start:end]
	if start > 0 {
		s = "…" + s
	}
	if end < len(text) {
		s += "…"
	}
	return s
}

// highlight makes the query's words bold and yellow (ANSI).
func highlight(text string, terms []string) string {
	if len(terms) == 0 {
		return text
	}
	var b strings.Builder
	for off := 0; off < len(text); {
		i, n := wordAt(text, terms, off)
		if i < 0 || i+n > len(text) {
			b.WriteString(text[off:])
			break
		}
		b.WriteString(text[off:i])
		b.WriteString("\x1b[1;33m")
		b.WriteString(text[i : i+n])
		b.WriteString("\x1b[0m")
		off = i + n
	}
	return b.String()
}

func newGetCmd(g *globals) *cobra.Command {
	var collection string
	var asJSON, vector bool
	cmd := &cobra.Command{
		Use:   "get ID --collection NAME",
		Short: "Print one document",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if collection == "" {
				return usageErrorf("--collection is required")
			}
			return g.withClient(cmd, func(ctx context.Context, c client) error {
				d, err := c.GetDocument(ctx, &ragv1.GetDocumentRequest{Collection: collection, Id: args[0], IncludeVector: vector})
				if err != nil {
					return callError(fmt.Sprintf("get document %q", args[0]), err)
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), d)
				}
				w := cmd.OutOrStdout()
				tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
				fmt.Fprintf(tw, "id:\t%s\n", d.GetId())
				if d.GetSource() != "" {
					fmt.Fprintf(tw, "source:\t%s (chunk %d)\n", d.GetSource(), d.GetChunk())
				}
				if md := d.GetMetadata(); md != nil {
					b, _ := json.Marshal(md.AsMap())
					fmt.Fprintf(tw, "metadata:\t%s\n", b)
				}
				if len(d.GetVector()) > 0 {
					fmt.Fprintf(tw, "vector:\t%d dimensions\n", len(d.GetVector()))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(w, "\n%s\n", d.GetText())
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&collection, "collection", "c", "", "collection")
	cmd.Flags().BoolVar(&vector, "include-vector", false, "include the vector")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the document as JSON")
	return cmd
}

func newDeleteCmd(g *globals) *cobra.Command {
	var collection, filter string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "delete [ID…] --collection NAME [--filter JSON]",
		Short: "Delete documents by id or by metadata filter",
		Long: `Deletes the documents with the given ids, or those a filter matches:

  ragctl delete guides/intro.md#0 guides/intro.md#1 --collection docs
  ragctl delete --collection docs --filter '{"must": [{"key": "source", "match": {"value": "old.md"}}]}'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case collection == "":
				return usageErrorf("--collection is required")
			case len(args) == 0 && filter == "":
				return usageErrorf("give ids or --filter")
			case len(args) > 0 && filter != "":
				return usageErrorf("give ids or --filter, not both")
			}
			f, err := parseFilter(filter)
			if err != nil {
				return err
			}
			return g.withClient(cmd, func(ctx context.Context, c client) error {
				total := int32(0)
				if f != nil {
					resp, err := c.DeleteMany(ctx, &ragv1.DeleteDocumentsRequest{Collection: collection, Filter: f})
					if err != nil {
						return callError("delete by filter", err)
					}
					total = resp.GetDeleted()
				}
				for len(args) > 0 {
					n := min(len(args), 1000)
					resp, err := c.DeleteMany(ctx, &ragv1.DeleteDocumentsRequest{Collection: collection, Ids: args[:n]})
					if err != nil {
						return callError("delete", err)
					}
					total += resp.GetDeleted()
					args = args[n:]
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), &ragv1.DeleteDocumentsResponse{Deleted: total})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %d documents\n", total)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&collection, "collection", "c", "", "collection")
	cmd.Flags().StringVar(&filter, "filter", "", "delete what this metadata filter (JSON) matches")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"deleted": N}`)
	return cmd
}
