package text

import (
	"fmt"
	"math"
	"slices"
	"strings"
	gounicode "unicode"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/registry"

	// The language analyzers bleve registers.
	_ "github.com/blevesearch/bleve/v2/analysis/lang/ar"
	"github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/ckb"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/da"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/de"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/en"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/es"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/fa"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/fi"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/fr"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/hi"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/hr"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/hu"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/it"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/nl"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/no"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/pl"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/pt"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/ro"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/ru"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/sv"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/tr"

	// Languages for which bleve ships only stop words (and elision), put
	// together below.
	"github.com/blevesearch/bleve/v2/analysis/lang/bg"
	"github.com/blevesearch/bleve/v2/analysis/lang/ca"
	"github.com/blevesearch/bleve/v2/analysis/lang/cs"
	"github.com/blevesearch/bleve/v2/analysis/lang/el"
	"github.com/blevesearch/bleve/v2/analysis/lang/eu"
	"github.com/blevesearch/bleve/v2/analysis/lang/ga"
	"github.com/blevesearch/bleve/v2/analysis/lang/gl"
	"github.com/blevesearch/bleve/v2/analysis/lang/hy"
	"github.com/blevesearch/bleve/v2/analysis/lang/id"
)

// Config describes a text index. Analyzer shapes the index and is saved
// with it; K1 and B only weigh scores and may change between opens.
type Config struct {
	// Analyzer names the text analysis (see Analyzers). Default "en":
	// English with possessives stripped, stop words removed and Porter
	// stemming, bleve's "en", which on Cranfield scores as well as Lucene's
	// EnglishAnalyzer.
	Analyzer string
	// K1 is BM25's term-frequency saturation, from 0 (a term counts once
	// however often it occurs) to 100. nil means the default, 1.2, Lucene's
	// and Elasticsearch's.
	K1 *float64
	// B is BM25's length normalisation, from 0 (none) to 1 (full). nil
	// means the default, 0.75, Lucene's and Elasticsearch's; 0 turns
	// length normalisation off.
	B *float64
}

// DefaultConfig returns the defaults: English analysis, k1 1.2, b 0.75.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

// withDefaults fills in the defaults. The result shares no memory with c.
func (c Config) withDefaults() Config {
	if c.Analyzer == "" {
		c.Analyzer = "en"
	}
	if c.K1 == nil {
		c.K1 = new(1.2)
	} else {
		c.K1 = new(*c.K1)
	}
	if c.B == nil {
		c.B = new(0.75)
	} else {
		c.B = new(*c.B)
	}
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// unset ones.
func (c Config) Validate() error {
	c = c.withDefaults()
	k1, b := *c.K1, *c.B
	switch {
	case !slices.Contains(Analyzers(), c.Analyzer):
		return fmt.Errorf("%w: unknown analyzer %q (want one of %s)",
			ErrInvalidConfig, c.Analyzer, strings.Join(Analyzers(), ", "))
	case math.IsNaN(k1) || k1 < 0 || k1 > 100:
		return fmt.Errorf("%w: k1 %v out of range [0, 100]", ErrInvalidConfig, k1)
	case math.IsNaN(b) || b < 0 || b > 1:
		return fmt.Errorf("%w: b %v out of range [0, 1]", ErrInvalidConfig, b)
	}
	return nil
}

// registered are the analyzers bleve itself registers: "standard" (Unicode
// word boundaries, lower case, English stop words, no stemming) and one per
// language, named by its ISO 639-1 code (ckb: Sorani Kurdish; cjk: Chinese,
// Japanese and Korean as overlapping bigrams of ideographs, kana and
// Hangul, as Lucene's CJKAnalyzer; see newCJK).
var registered = []string{
	standard.Name,
	"ar", "cjk", "ckb", "da", "de", "en", "es", "fa", "fi", "fr", "hi", "hr",
	"hu", "it", "nl", "no", "pl", "pt", "ro", "ru", "sv", "tr",
}

// assembled are languages for which bleve ships stop words (and for Catalan
// and Irish an elision filter) but no analyzer or stemmer: Unicode word
// boundaries, lower case, the elision (l'avió → avió), the stop words. No stemming, so
// inflected forms do not match each other.
var assembled = map[string][]string{
	"bg": {lowercase.Name, bg.StopName},
	"ca": {lowercase.Name, ca.ElisionName, ca.StopName},
	"cs": {lowercase.Name, cs.StopName},
	"el": {lowercase.Name, el.StopName},
	"eu": {lowercase.Name, eu.StopName},
	"ga": {lowercase.Name, ga.ElisionName, ga.StopName},
	"gl": {lowercase.Name, gl.StopName},
	"hy": {lowercase.Name, hy.StopName},
	"id": {lowercase.Name, id.StopName},
}

// Analyzers returns the names Config.Analyzer accepts, sorted.
func Analyzers() []string {
	names := slices.Clone(registered)
	for name := range assembled {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// newAnalyzer builds the named analyzer. bleve's analyzers are safe for
// concurrent use: its own indexing runs one analyzer on many goroutines.
func newAnalyzer(name string) (analysis.Analyzer, error) {
	cache := registry.NewCache()
	if filters, ok := assembled[name]; ok {
		return cache.DefineAnalyzer(name, map[string]any{
			"type":          custom.Name,
			"tokenizer":     unicode.Name,
			"token_filters": filters,
		})
	}
	if name == "cjk" {
		return newCJK(cache)
	}
	if !slices.Contains(registered, name) {
		return nil, fmt.Errorf("%w: unknown analyzer %q", ErrInvalidConfig, name)
	}
	return cache.AnalyzerNamed(name)
}

// newCJK builds bleve's "cjk" analyzer (Unicode word boundaries, full- and
// half-width folding, lower case, overlapping bigrams) with one step added:
// Hangul words are bigrammed too, as Lucene's CJKBigramFilter does. bleve
// bigrams only ideographs and kana, so a Korean noun with a particle
// attached (서울은, "Seoul" + topic marker) would not match the noun.
func newCJK(cache *registry.Cache) (analysis.Analyzer, error) {
	tokenizer, err := cache.TokenizerNamed(unicode.Name)
	if err != nil {
		return nil, err
	}
	var filters []analysis.TokenFilter
	for _, name := range []string{cjk.WidthName, lowercase.Name, "", cjk.BigramName} {
		if name == "" {
			filters = append(filters, hangulAsIdeographic{})
			continue
		}
		f, err := cache.TokenFilterNamed(name)
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	return &analysis.DefaultAnalyzer{Tokenizer: tokenizer, TokenFilters: filters}, nil
}

// hangulAsIdeographic marks tokens written in Hangul as ideographic, so
// that the bigram filter after it splits them.
type hangulAsIdeographic struct{}

func (hangulAsIdeographic) Filter(in analysis.TokenStream) analysis.TokenStream {
	for _, t := range in {
		if t.Type != analysis.Ideographic && isHangul(t.Term) {
			t.Type = analysis.Ideographic
		}
	}
	return in
}

func isHangul(term []byte) bool {
	if len(term) == 0 {
		return false
	}
	for _, r := range string(term) {
		if !gounicode.Is(gounicode.Hangul, r) {
			return false
		}
	}
	return true
}
