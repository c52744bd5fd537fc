package rag

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestTokenizerName(t *testing.T) {
	for _, tt := range []struct{ forced, model, want string }{
		{"", "gpt-4o", TokenizerO200k},
		{"", "gpt-4o-mini-2024-07-18", TokenizerO200k},
		{"", "chatgpt-4o-latest", TokenizerO200k},
		{"", "gpt-4.1-nano", TokenizerO200k},
		{"", "gpt-4.5-preview", TokenizerO200k},
		{"", "o1", TokenizerO200k},
		{"", "o3-mini", TokenizerO200k},
		{"", "o4-mini", TokenizerO200k},
		{"", "gpt-5", TokenizerO200k},
		{"", "gpt-oss-20b", TokenizerO200k},
		{"", "openai/gpt-4o", TokenizerO200k},
		{"", "GPT-4o", TokenizerO200k},
		{"", "gpt-4", TokenizerCL100k},
		{"", "gpt-4-turbo", TokenizerCL100k},
		{"", "gpt-3.5-turbo", TokenizerCL100k},
		{"", "text-embedding-3-small", TokenizerCL100k},
		{"", "llama3.1:8b", TokenizerEstimate},
		{"", "mistral", TokenizerEstimate},
		{"", "qwen2.5:7b-instruct", TokenizerEstimate},
		{"", "olmo2", TokenizerEstimate},
		{"", "o1x", TokenizerEstimate},
		{"", "", TokenizerEstimate},
		{TokenizerCL100k, "my-azure-deployment", TokenizerCL100k},
		{TokenizerEstimate, "gpt-4o", TokenizerEstimate},
	} {
		t.Run(tt.forced+"/"+tt.model, func(t *testing.T) {
			require.Equal(t, tt.want, tokenizerName(tt.forced, tt.model))
		})
	}
}

func TestNewTokenizerUnknown(t *testing.T) {
	_, err := newTokenizer("p50k_base")
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestTokenizerCount(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       int
	}{
		// Counts from OpenAI's tiktoken.
		{TokenizerCL100k, "hello world", 2},
		{TokenizerCL100k, "tiktoken is great!", 6},
		{TokenizerO200k, "hello world", 2},
		{TokenizerCL100k, "", 0},
		// Special tokens in text are ordinary text.
		{TokenizerCL100k, "<|endoftext|>", 7},
		// The estimate: ceil(6 × 1.3).
		{TokenizerEstimate, "tiktoken is great!", 8},
	} {
		t.Run(tt.name+"/"+tt.text, func(t *testing.T) {
			tok, err := newTokenizer(tt.name)
			require.NoError(t, err)
			require.Equal(t, tt.name, tok.Name())
			require.Equal(t, tt.want, tok.Count(tt.text))
		})
	}
}

func TestTokenizerTruncate(t *testing.T) {
	texts := []string{
		"The quick brown fox jumps over the lazy dog. ",
		"向量检索能够找到与问题含义相近的文档，即使它们之间没有任何相同的词语。",
		"emoji 🦦🦦🦦 and accents: déjà vu, naïve café 👩‍👩‍👧",
	}
	for _, name := range []string{TokenizerO200k, TokenizerCL100k, TokenizerEstimate} {
		tok, err := newTokenizer(name)
		require.NoError(t, err)
		for _, s := range texts {
			s = strings.Repeat(s, 3)
			total := tok.Count(s)
			require.Equal(t, s, tok.Truncate(s, total), "%s: a budget of the whole keeps it", name)
			require.Empty(t, tok.Truncate(s, 0))
			for n := 1; n < total; n += 3 {
				cut := tok.Truncate(s, n)
				require.True(t, strings.HasPrefix(s, cut), "%s %d: a prefix", name, n)
				require.True(t, utf8.ValidString(cut), "%s %d: whole characters", name, n)
				require.LessOrEqual(t, tok.Count(cut), n, "%s %d: within the budget", name, n)
			}
		}
	}
}

// TestEstimateFactor checks that the estimate for unknown models covers
// the counts of the real Llama 2, Mistral and Llama 3 tokenizers on the
// texts they were measured on (testdata/tokens/counts.json), and is not
// far above the largest (within 1.5×).
func TestEstimateFactor(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "tokens", "counts.json"))
	require.NoError(t, err)
	var counts struct {
		Texts map[string]map[string]int `json:"texts"`
	}
	require.NoError(t, json.Unmarshal(b, &counts))
	require.NotEmpty(t, counts.Texts)
	est, err := newTokenizer(TokenizerEstimate)
	require.NoError(t, err)
	for name, c := range counts.Texts {
		text, err := os.ReadFile(filepath.Join("testdata", "tokens", name))
		require.NoError(t, err)
		most := max(c["llama2"], c["mistral"], c["llama3"])
		got := est.Count(string(text))
		require.GreaterOrEqual(t, got, most, "%s: the estimate covers the real tokenizers", name)
		require.Less(t, float64(got), 1.5*float64(most), "%s: and is not far above", name)
	}
}
