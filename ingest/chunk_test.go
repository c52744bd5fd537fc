package ingest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/local"
)

var (
	localOnce sync.Once
	localTok  *local.Model
	localErr  error
)

// localTokenizer is the local model's SentencePiece tokenizer (the model
// loads once per test binary).
func localTokenizer(t testing.TB) *local.Model {
	t.Helper()
	localOnce.Do(func() { localTok, localErr = local.New(local.Config{}) })
	require.NoError(t, localErr)
	return localTok
}

// docOf builds a Document from parts: "# x" lines are headings (level by
// the #s), "```" fences code blocks, other paragraphs are separated by
// blank lines.
func docOf(title string, parts ...string) Document {
	var b strings.Builder
	d := Document{Title: title}
	var path []string
	for _, p := range parts {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		start := b.Len()
		kind, level := BlockParagraph, 0
		switch {
		case strings.HasPrefix(p, "#"):
			level = len(p) - len(strings.TrimLeft(p, "#"))
			p = strings.TrimSpace(p[level:])
			kind = BlockHeading
		case strings.HasPrefix(p, "```"):
			p = strings.TrimPrefix(p, "```")
			kind = BlockCode
		case strings.HasPrefix(p, "|"):
			kind = BlockTable
		}
		b.WriteString(p)
		blk := Block{Kind: kind, Start: start, End: b.Len(), Level: level, Headings: append([]string(nil), path...)}
		d.Blocks = append(d.Blocks, blk)
		if kind == BlockHeading {
			path = append(path[:min(level-1, len(path))], p)
		}
	}
	d.Text = b.String()
	return d
}

// checkChunks asserts Split's contract on a document's chunks.
func checkChunks(t testing.TB, d Document, cfg ChunkConfig, chunks []Chunk) {
	t.Helper()
	covered := make([]bool, len(d.Text))
	runes := []rune(d.Text)
	prevStart, prevEnd := -1, -1
	for i, c := range chunks {
		require.LessOrEqual(t, c.Tokens, cfg.MaxTokens, "chunk %d over budget", i)
		require.Equal(t, cfg.Tokenizer.CountTokens(c.Text), c.Tokens, "chunk %d: Tokens is its count", i)
		require.True(t, utf8.ValidString(c.Text), "chunk %d: valid UTF-8", i)
		require.True(t, 0 <= c.Start && c.Start < c.End && c.End <= len(d.Text), "chunk %d: span [%d, %d) in %d bytes", i, c.Start, c.End, len(d.Text))
		body := d.Text[c.Start:c.End]
		require.True(t, strings.HasSuffix(c.Text, body), "chunk %d: Text ends with its body", i)
		require.Equal(t, utf8.RuneCountInString(d.Text[:c.Start]), c.Offset, "chunk %d: Offset in characters", i)
		require.Equal(t, body, string(runes[c.Offset:c.Offset+utf8.RuneCountInString(body)]), "chunk %d: Offset points at the body", i)
		if !cfg.HeadingPrefix {
			require.Equal(t, body, c.Text, "chunk %d: no prefix", i)
		}
		// Never inside a word: the body starts and ends at word boundaries
		// unless a single word was longer than a chunk.
		require.Greater(t, c.Start, prevStart, "chunk %d starts after chunk %d", i, i-1)
		require.GreaterOrEqual(t, c.End, prevEnd, "chunk %d ends after chunk %d", i, i-1)
		if c.Start < prevEnd && cfg.Overlap > 0 {
			require.LessOrEqual(t, cfg.Tokenizer.CountTokens(d.Text[c.Start:prevEnd]), cfg.Overlap, "chunk %d: overlap within budget", i)
		} else if cfg.Overlap == 0 {
			require.GreaterOrEqual(t, c.Start, prevEnd, "chunk %d overlaps with no overlap configured", i)
		}
		prevStart, prevEnd = c.Start, c.End
		for j := c.Start; j < c.End; j++ {
			covered[j] = true
		}
	}
	// Every letter or digit of the blocks chunked is in some body.
	for _, b := range d.Blocks {
		if b.Kind == BlockHeading && cfg.HeadingPrefix {
			continue
		}
		for j, r := range d.Text[b.Start:b.End] {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				require.True(t, covered[b.Start+j], "%q at byte %d is in no chunk", r, b.Start+j)
			}
		}
	}
}

func prose(r *rand.Rand, sentences int) string {
	words := strings.Fields("the boundary layer of a wing in a propeller slipstream was measured at several angles of attack and the lift increase grew with the velocity ratio while transition moved forward goroutines communicate over channels instead of sharing memory naïve café résumé 東京 データ")
	var b strings.Builder
	for s := range sentences {
		if s > 0 {
			b.WriteString(" ")
		}
		n := 4 + r.IntN(20)
		for w := range n {
			if w > 0 {
				b.WriteString(" ")
			}
			word := words[r.IntN(len(words))]
			if w == 0 {
				rs := []rune(word)
				rs[0] = unicode.ToUpper(rs[0])
				word = string(rs)
			}
			b.WriteString(word)
		}
		b.WriteString(".")
	}
	return b.String()
}

func TestSplitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	long := prose(r, 40)
	code := "```" + strings.Repeat("for i := range n {\n\tfmt.Println(i, \"a somewhat long line of code\")\n}\n", 12)
	table := "| name | value |\n" + strings.Repeat("| goroutine | a lightweight thread managed by the Go runtime |\n", 20)
	docs := map[string]Document{
		"prose":      docOf("Wings", prose(r, 3), long, prose(r, 2)),
		"sections":   docOf("Effective Go", "# Effective Go", prose(r, 2), "## Concurrency", prose(r, 6), "### Goroutines", long, "## Errors", prose(r, 1)),
		"code":       docOf("", "# Code", prose(r, 1), code, prose(r, 1), "```short code"),
		"table":      docOf("", table, prose(r, 2)),
		"one word":   docOf("", strings.Repeat("x", 3000)),
		"empty body": docOf("T", "# A", "# B", prose(r, 1)),
		"no blocks":  {Text: long},
		"rules only": docOf("", "---", prose(r, 1), "***"),
	}
	tokenizers := map[string]embed.Tokenizer{
		"words":    embed.WordTokenizer{},
		"estimate": embed.EstimateTokenizer{},
		"local":    localTokenizer(t),
	}
	for dn, d := range docs {
		for tn, tk := range tokenizers {
			for _, cfg := range []ChunkConfig{
				{MaxTokens: 128, Tokenizer: tk},
				{MaxTokens: 128, Overlap: 16, Tokenizer: tk, HeadingPrefix: true},
				{MaxTokens: 32, Overlap: 8, Tokenizer: tk, HeadingPrefix: true},
				{MaxTokens: 512, Overlap: 64, Tokenizer: tk},
			} {
				if w, ok := tk.(embed.Windowed); ok && cfg.MaxTokens > w.MaxTokens() {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%d/%d/%v", dn, tn, cfg.MaxTokens, cfg.Overlap, cfg.HeadingPrefix), func(t *testing.T) {
					chunks, err := Split(d, cfg)
					require.NoError(t, err)
					checkChunks(t, d, cfg, chunks)
				})
			}
		}
	}
}

func TestSplitStructure(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tk := embed.WordTokenizer{}
	t.Run("sections never share a chunk", func(t *testing.T) {
		d := docOf("Guide", "# Guide", "Intro text here.", "## Install", "Run go install.", "## Use", "Call the function.")
		chunks, err := Split(d, ChunkConfig{MaxTokens: 100, Tokenizer: tk, HeadingPrefix: true})
		require.NoError(t, err)
		require.Len(t, chunks, 3)
		require.Equal(t, "Guide\n\nIntro text here.", chunks[0].Text)
		require.Equal(t, "Guide > Install\n\nRun go install.", chunks[1].Text)
		require.Equal(t, "Guide > Use", chunks[2].Heading)
	})
	t.Run("without prefix the headings are in the bodies", func(t *testing.T) {
		d := docOf("Guide", "# Guide", "Intro text here.", "## Install", "Run go install.")
		chunks, err := Split(d, ChunkConfig{MaxTokens: 100, Tokenizer: tk})
		require.NoError(t, err)
		require.Len(t, chunks, 2)
		require.Equal(t, "Guide\n\nIntro text here.", chunks[0].Text)
		require.Equal(t, "Install\n\nRun go install.", chunks[1].Text)
		require.Equal(t, "Guide > Install", chunks[1].Heading)
	})
	t.Run("a code block that fits is kept whole", func(t *testing.T) {
		code := "```" + strings.TrimSpace(strings.Repeat("x := f(y)\n", 8))
		d := docOf("", prose(r, 2), code, prose(r, 2))
		chunks, err := Split(d, ChunkConfig{MaxTokens: 40, Tokenizer: tk})
		require.NoError(t, err)
		whole := false
		for _, c := range chunks {
			if strings.Contains(c.Text, strings.TrimPrefix(code, "```")) {
				whole = true
			}
		}
		require.True(t, whole, "no chunk holds the whole code block: %q", chunks)
	})
	t.Run("a long paragraph is cut at sentences", func(t *testing.T) {
		d := docOf("", prose(r, 30))
		chunks, err := Split(d, ChunkConfig{MaxTokens: 60, Tokenizer: tk})
		require.NoError(t, err)
		require.Greater(t, len(chunks), 3)
		for _, c := range chunks {
			require.True(t, strings.HasSuffix(c.Text, "."), "chunk ends mid-sentence: %q", c.Text)
		}
	})
	t.Run("overlap repeats whole sentences or words", func(t *testing.T) {
		d := docOf("", prose(r, 30))
		chunks, err := Split(d, ChunkConfig{MaxTokens: 60, Overlap: 20, Tokenizer: tk})
		require.NoError(t, err)
		overlapped := 0
		for i := 1; i < len(chunks); i++ {
			if chunks[i].Start < chunks[i-1].End {
				overlapped++
				rr, _ := utf8.DecodeRuneInString(d.Text[chunks[i].Start:])
				require.True(t, unicode.IsLetter(rr), "overlap starts inside a word: %q", d.Text[chunks[i].Start:chunks[i].Start+10])
			}
		}
		require.Greater(t, overlapped, 0)
	})
	t.Run("headings only", func(t *testing.T) {
		d := docOf("", "# Editing the page", "## Save")
		chunks, err := Split(d, ChunkConfig{MaxTokens: 100, Tokenizer: tk, HeadingPrefix: true})
		require.NoError(t, err)
		require.Len(t, chunks, 2)
		require.Equal(t, "Editing the page", chunks[0].Text)
		require.Equal(t, "Save", chunks[1].Text)
		require.Equal(t, "Editing the page > Save", chunks[1].Heading)
	})
	t.Run("page of the body's start", func(t *testing.T) {
		d := Document{Text: "First page text.\n\nSecond page text."}
		d.Blocks = []Block{{Start: 0, End: 16, Page: 1}, {Start: 18, End: len(d.Text), Page: 2}}
		chunks, err := Split(d, ChunkConfig{MaxTokens: 16, Tokenizer: tk})
		require.NoError(t, err)
		require.Len(t, chunks, 1)
		require.Equal(t, 1, chunks[0].Page)
	})
}

func TestChunkConfigValidate(t *testing.T) {
	tk := embed.WordTokenizer{}
	cases := []struct {
		cfg  ChunkConfig
		want string
	}{
		{ChunkConfig{MaxTokens: 128}, "no tokenizer"},
		{ChunkConfig{MaxTokens: 8, Tokenizer: tk}, "max tokens 8 below 16"},
		{ChunkConfig{MaxTokens: 128, Overlap: 65, Tokenizer: tk}, "overlap 65 out of range [0, 64]"},
		{ChunkConfig{MaxTokens: 128, Overlap: -1, Tokenizer: tk}, "overlap -1"},
		{ChunkConfig{MaxTokens: 129, Tokenizer: localTokenizer(t)}, "exceed the model's window of 128"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.ErrorContains(t, err, c.want)
	}
	require.NoError(t, ChunkConfig{MaxTokens: 128, Overlap: 64, Tokenizer: localTokenizer(t)}.Validate())
}

// FuzzSplit checks the chunk contract on arbitrary text cut into blocks at
// blank lines, with the local model's tokenizer.
func FuzzSplit(f *testing.F) {
	f.Add("Hello world. This is a test.\n\nSecond paragraph here.", uint8(20), uint8(4), true)
	f.Add(strings.Repeat("a", 500), uint8(16), uint8(0), false)
	f.Add("# Title\n\nSome text.\n\n```\ncode\n```", uint8(30), uint8(10), true)
	f.Add("東京は日本の首都です。大阪は第二の都市です。", uint8(16), uint8(2), false)
	f.Add("e\u0301e\u0301e\u0301 \U0001F468\u200D\U0001F469\u200D\U0001F467 x", uint8(16), uint8(1), false)
	tk := localTokenizer(f)
	f.Fuzz(func(t *testing.T, text string, max, overlap uint8, prefix bool) {
		if !utf8.ValidString(text) || len(text) > 4096 {
			t.Skip()
		}
		cfg := ChunkConfig{MaxTokens: MinChunkTokens + int(max)%100, Tokenizer: tk, HeadingPrefix: prefix}
		cfg.Overlap = int(overlap) % (cfg.MaxTokens/2 + 1)
		d := Document{Title: "Fuzz", Text: text}
		off := 0
		for _, para := range strings.SplitAfter(text, "\n\n") {
			s, e := trimSpan(text, off, off+len(para))
			if s < e {
				kind := BlockParagraph
				if strings.HasPrefix(para, "#") {
					kind = BlockHeading
				} else if strings.HasPrefix(para, "```") {
					kind = BlockCode
				}
				d.Blocks = append(d.Blocks, Block{Kind: kind, Start: s, End: e})
			}
			off += len(para)
		}
		chunks, err := Split(d, cfg)
		require.NoError(t, err)
		checkChunks(t, d, cfg, chunks)
	})
}

// TestChunkGolden compares the chunks of a few real documents with
// testdata/golden/*.chunks.txt (the local model's tokenizer, its 128-token
// window, an overlap of 16 and heading lines); -update rewrites them.
func TestChunkGolden(t *testing.T) {
	cfg := ChunkConfig{MaxTokens: 128, Overlap: 16, Tokenizer: localTokenizer(t), HeadingPrefix: true}
	for _, file := range []struct {
		name string
		f    Format
	}{
		{"defer-panic-and-recover.md", FormatMarkdown},
		{"querying.md", FormatMarkdown},
		{"race_detector.html", FormatHTML},
	} {
		t.Run(file.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", file.name))
			require.NoError(t, err)
			docs, err := Load(file.name, data, file.f, LoadConfig{})
			require.NoError(t, err)
			chunks, err := Split(docs[0], cfg)
			require.NoError(t, err)
			checkChunks(t, docs[0], cfg, chunks)
			var b strings.Builder
			for i, c := range chunks {
				fmt.Fprintf(&b, "=== chunk %d: offset %d, %d tokens, heading %q\n%s\n", i, c.Offset, c.Tokens, c.Heading, c.Text)
			}
			path := filepath.Join("testdata", "golden", file.name+".chunks.txt")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestChunkGolden -update ./ingest to create it")
			require.Equal(t, string(want), b.String())
		})
	}
}
