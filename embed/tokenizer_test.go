package embed

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEncodingFor(t *testing.T) {
	cases := []struct{ model, want string }{
		{"gpt-4o", EncodingO200K},
		{"gpt-4o-mini", EncodingO200K},
		{"gpt-4.1-nano", EncodingO200K},
		{"gpt-5", EncodingO200K},
		{"o3-mini", EncodingO200K},
		{"openai/gpt-4o", EncodingO200K},
		{"GPT-4", EncodingCL100K},
		{"gpt-4-turbo", EncodingCL100K},
		{"gpt-3.5-turbo", EncodingCL100K},
		{"text-embedding-3-small", EncodingCL100K},
		{"text-embedding-ada-002", EncodingCL100K},
		{"llama3.1:8b", ""},
		{"nomic-embed-text", ""},
		{"gpt-40", ""}, // not a family, a typo
		{"olmo-7b", ""},
		{"o1", EncodingO200K},
		{"gpt-oss-20b", EncodingO200K},
		{"", ""},
	}
	for _, c := range cases {
		require.Equal(t, c.want, EncodingFor(c.model), c.model)
	}
}

// TestBPECounts checks the counts against OpenAI's published tokenisations
// (the tiktoken README and cookbook examples).
func TestBPECounts(t *testing.T) {
	cl, err := NewBPETokenizer(EncodingCL100K, 0)
	require.NoError(t, err)
	o2, err := NewBPETokenizer(EncodingO200K, 0)
	require.NoError(t, err)
	require.Equal(t, 2, cl.CountTokens("hello world"))
	require.Equal(t, 6, cl.CountTokens("tiktoken is great!"))
	require.Equal(t, 2, o2.CountTokens("hello world"))
	require.Equal(t, 0, cl.CountTokens(""))
	// Special tokens are text here, not control tokens.
	require.Greater(t, cl.CountTokens("<|endoftext|>"), 1)
	require.Equal(t, EncodingCL100K, cl.TokenizerName())

	_, err = NewBPETokenizer("p50k", 0)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "unknown BPE encoding p50k")

	// Truncate cuts at a token and character boundary.
	s := "tiktoken is great! naïve café"
	for n := range cl.CountTokens(s) + 2 {
		p := cl.Truncate(s, n)
		require.True(t, strings.HasPrefix(s, p))
		require.LessOrEqual(t, cl.CountTokens(p), n)
	}
	require.Equal(t, s, cl.Truncate(s, 100))
}

func TestTokenizerFor(t *testing.T) {
	tk, exact := TokenizerFor("text-embedding-3-small")
	require.True(t, exact)
	require.Equal(t, OpenAIEmbeddingWindow, tk.(Windowed).MaxTokens())
	tk, exact = TokenizerFor("gpt-4o-mini")
	require.True(t, exact)
	require.Equal(t, 0, tk.(Windowed).MaxTokens())
	tk, exact = TokenizerFor("mistral")
	require.False(t, exact)
	require.Equal(t, "estimate", tk.TokenizerName())
}

// TestEstimateNearBPE checks the estimate against cl100k on English prose:
// never under, at most 40 % over.
func TestEstimateNearBPE(t *testing.T) {
	cl, err := NewBPETokenizer(EncodingCL100K, 0)
	require.NoError(t, err)
	for _, s := range []string{
		"Sea otters hold hands while they sleep so that they do not drift apart.",
		"An experimental study of a wing in a propeller slipstream was made in order to determine the spanwise distribution of the lift increase due to slipstream at different angles of attack of the wing and at different free stream to slipstream velocity ratios.",
	} {
		e, b := EstimateTokenizer{}.CountTokens(s), cl.CountTokens(s)
		require.GreaterOrEqual(t, e, b, s)
		require.LessOrEqual(t, float64(e), 1.4*float64(b), s)
	}
}

func TestWordTokenizer(t *testing.T) {
	cases := []struct {
		text string
		want int
	}{
		{"", 0},
		{"  ", 0},
		{"one", 1},
		{"don't stop-me now", 5},
		{"naïve café 42", 3},
		{"---", 0},
	}
	for _, c := range cases {
		require.Equal(t, c.want, WordTokenizer{}.CountTokens(c.text), c.text)
	}
}
