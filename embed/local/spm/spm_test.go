package spm_test

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/ragd/ragd/embed/local/internal/modelfile"
	"github.com/ragd/ragd/embed/local/spm"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/text/unicode/norm"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// usePieces reads the vocabulary of the shipped model, once.
var usePieces = sync.OnceValues(func() ([]spm.Piece, error) {
	b, err := os.ReadFile("../model/use-lite.bin")
	if err != nil {
		return nil, err
	}
	f, err := modelfile.Decode(b)
	if err != nil {
		return nil, err
	}
	pieces := make([]spm.Piece, len(f.Pieces))
	for i, p := range f.Pieces {
		pieces[i] = spm.Piece{Text: p.Text, Score: p.Score}
	}
	return pieces, nil
})

// newUSE builds a tokenizer over the USE vocabulary that cuts long texts
// after segment bytes (math.MaxInt: never).
func newUSE(t testing.TB, segment int) *spm.Tokenizer {
	pieces, err := usePieces()
	require.NoError(t, err)
	tok, err := spm.New(pieces, 6)
	require.NoError(t, err)
	spm.SetSegmentBytes(tok, segment)
	return tok
}

var useTokenizer sync.Map // segment → *spm.Tokenizer

// use returns the USE tokenizer with the default segment size.
func use(t testing.TB) *spm.Tokenizer { return useSeg(t, 0) }

func useSeg(t testing.TB, segment int) *spm.Tokenizer {
	if tok, ok := useTokenizer.Load(segment); ok {
		return tok.(*spm.Tokenizer)
	}
	var tok *spm.Tokenizer
	if segment == 0 {
		pieces, err := usePieces()
		require.NoError(t, err)
		tok, err = spm.New(pieces, 6)
		require.NoError(t, err)
	} else {
		tok = newUSE(t, segment)
	}
	got, _ := useTokenizer.LoadOrStore(segment, tok)
	return got.(*spm.Tokenizer)
}

// TestReferenceIDs checks the ids of the reference sentences, which the
// 1.3.3 JavaScript tokenizer produced.
func TestReferenceIDs(t *testing.T) {
	tok := use(t)
	f, err := os.Open("../testdata/reference-embeddings.jsonl")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var ref struct {
			Text     string  `json:"text"`
			TokenIDs []int32 `json:"token_ids"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ref))
		require.Equal(t, ref.TokenIDs, tok.Encode(nil, ref.Text), "%q", ref.Text)
		n++
	}
	require.NoError(t, sc.Err())
	require.Equal(t, 12, n)
}

// TestUSEQuirks checks behaviours of the real vocabulary that follow from
// the JavaScript code.
func TestUSEQuirks(t *testing.T) {
	tok := use(t)
	enc := func(s string) []int32 { return tok.Encode(nil, s) }
	cases := []struct {
		name string
		a, b string // a encodes like b
	}{
		{"NBSP is a space after NFKC", "I\u00a0like", "I like"},
		{"ideographic space too", "I\u3000like", "I like"},
		{"full-width letters", "\uff29 like", "I like"},
		{"ligature", "\ufb01ne", "fine"},
		{"an emoji is one unknown, as a control character", "I 😀 it", "I \u0001 it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, enc(c.b), enc(c.a))
			require.NotContains(t, pairs(enc(c.a)), [2]int32{0, 0})
		})
	}
	t.Run("case-sensitive", func(t *testing.T) {
		require.NotEqual(t, enc("The"), enc("the"))
	})
	t.Run("tab and newline are unknown", func(t *testing.T) {
		ids := enc("a\t\nb")
		require.Contains(t, ids, int32(spm.UnknownID))
		require.NotEqual(t, enc("a b"), ids)
	})
	t.Run("leading trailing and repeated spaces kept", func(t *testing.T) {
		require.Greater(t, len(enc("  a  b  ")), len(enc("a b")))
	})
	t.Run("CJK run collapses", func(t *testing.T) {
		for _, id := range pairs(enc("日本語のテキスト")) {
			require.False(t, id[0] == 0 && id[1] == 0, "two unknown ids in a row")
		}
	})
	t.Run("null-score pieces", func(t *testing.T) {
		// "▁:-)" (6600), "▁:" (604) and ":" (57) have null scores in
		// vocab.json, so 0. At the start of a text the running score
		// after "▁:" or "▁:-)" is 0, which reads as unset, and "▁" ":"
		// "-" ")" replaces it; a textbook Viterbi gives [6600].
		require.Equal(t, []int32{30, 57, 24, 52}, enc(":-)"))
		// After a word the running score is negative and "▁:-)" wins.
		require.Equal(t, append(enc("Great"), 6600), enc("Great :-)"))
	})
	t.Run("reserved pieces never match", func(t *testing.T) {
		for _, id := range enc("<s></s>extra_token_id_1") {
			require.True(t, id == 0 || id >= 6)
		}
	})
	t.Run("empty", func(t *testing.T) {
		require.Empty(t, enc(""))
		require.Equal(t, []int32{7}, tok.Encode([]int32{7}, ""))
	})
}

func pairs(ids []int32) [][2]int32 {
	var p [][2]int32
	for i := 1; i < len(ids); i++ {
		p = append(p, [2]int32{ids[i-1], ids[i]})
	}
	return p
}

// toy builds a tokenizer over "<unk>" plus the given pieces, ids from 1.
func toy(t *testing.T, pieces ...spm.Piece) *spm.Tokenizer {
	tok, err := spm.New(append([]spm.Piece{{Text: "\ufffd"}}, pieces...), 1)
	require.NoError(t, err)
	return tok
}

// TestViterbiQuirks checks each quirk of the JavaScript search on a small
// vocabulary, where a textbook Viterbi would answer differently.
func TestViterbiQuirks(t *testing.T) {
	cases := []struct {
		name   string
		pieces []spm.Piece
		text   string
		want   []int32
	}{
		{
			// "▁a" scores 0 (a null score), so best[2] is 0, which the
			// loop reads as unset: "▁"+"a" (-2) replaces it. Textbook:
			// [▁a, b] (total -1).
			name:   "zero running score is unset",
			pieces: []spm.Piece{{"▁", -1}, {"▁a", 0}, {"a", -1}, {"b", -1}, {"ab", -5}},
			text:   "ab",
			want:   []int32{1, 3, 4},
		},
		{
			name:   "nonzero running score keeps the best",
			pieces: []spm.Piece{{"▁", -1}, {"▁a", -0.5}, {"a", -1}, {"b", -1}, {"ab", -5}},
			text:   "ab",
			want:   []int32{2, 4},
		},
		{
			// Both segmentations score -2; the later start wins.
			name:   "ties go to the later start",
			pieces: []spm.Piece{{"▁", -1}, {"a", -1}, {"▁a", -2}},
			text:   "a",
			want:   []int32{1, 2},
		},
		{
			name:   "the last duplicate wins",
			pieces: []spm.Piece{{"▁", -1}, {"a", -1}, {"a", -3}},
			text:   "a",
			want:   []int32{1, 3},
		},
		{
			name:   "a positive score is the best",
			pieces: []spm.Piece{{"▁", -1}, {"a", -1}, {"b", -1}, {"ab", 30}},
			text:   "ab",
			want:   []int32{1, 4},
		},
		{
			name:   "unknown runs collapse, also across surrogate halves",
			pieces: []spm.Piece{{"▁", -1}, {"a", -1}, {"b", -1}},
			text:   "a\t😀é\nb",
			want:   []int32{1, 2, 0, 3},
		},
		{
			name:   "spaces are kept, one separator each",
			pieces: []spm.Piece{{"▁", -1}, {"a", -1}},
			text:   " a  ",
			want:   []int32{1, 1, 2, 1, 1},
		},
		{
			name:   "case-sensitive",
			pieces: []spm.Piece{{"▁", -1}, {"a", -1}},
			text:   "A",
			want:   []int32{1, 0},
		},
		{
			name:   "reserved pieces never match",
			pieces: []spm.Piece{{"▁", -1}},
			text:   "\ufffd",
			want:   []int32{1, 0},
		},
		{
			name:   "invalid UTF-8 is unknown",
			pieces: []spm.Piece{{"▁", -1}, {"a", -1}},
			text:   "a\xff\xfe",
			want:   []int32{1, 2, 0},
		},
		{
			// JavaScript works on UTF-16 units: nothing ends between the
			// halves of a surrogate pair, so the running score there is
			// 0 ("unset", the best), and the unknown low half beats the
			// piece. The USE vocabulary has no such piece.
			name:   "astral pieces lose to their unknown halves",
			pieces: []spm.Piece{{"▁", -1}, {"😀", -1}},
			text:   "😀😀",
			want:   []int32{1, 0},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, toy(t, c.pieces...).Encode(nil, c.text))
		})
	}
}

func TestNew(t *testing.T) {
	_, err := spm.New([]spm.Piece{{"\ufffd", 0}}, 1)
	require.ErrorIs(t, err, spm.ErrInvalidVocabulary)
	_, err = spm.New([]spm.Piece{{"\ufffd", 0}, {"", -1}}, 1)
	require.ErrorIs(t, err, spm.ErrInvalidVocabulary)
	_, err = spm.New([]spm.Piece{{"\ufffd", 0}, {"a", 0}}, 0)
	require.ErrorIs(t, err, spm.ErrInvalidVocabulary)
	tok, err := spm.New([]spm.Piece{{"\ufffd", 0}, {"a", 0}}, 1)
	require.NoError(t, err)
	require.Equal(t, 2, tok.Len())
}

// longTexts are texts whose segment cuts fall next to the quirks: zero
// and positive scores after a space, unknown runs on both sides of a
// space, repeated spaces, an emoji.
func longTexts() []string {
	base := []string{
		"Great :-) :30 :00 ok. ",
		"a\t b\u00e9\u0301 \u65e5\u672c  \U0001F600 x ",
		"http://example.org/:30/path?q=1 :-( :) done ",
		"  leading and trailing  ",
		"\u00ff\u0001 \u0002 ",
	}
	var out []string
	for i, b := range base {
		out = append(out, strings.Repeat(b, 1+i*37))
		out = append(out, strings.Repeat(strings.Join(base, ""), 20+i))
	}
	return out
}

// TestSegmentsGiveSameIDs compares cutting at every space, at the default
// size and never: the ids must not change.
func TestSegmentsGiveSameIDs(t *testing.T) {
	require.True(t, spm.Cuttable(use(t)))
	never, every, dflt := useSeg(t, math.MaxInt), useSeg(t, 1), use(t)
	for i, text := range longTexts() {
		want := never.Encode(nil, text)
		require.Equal(t, want, every.Encode(nil, text), "text %d", i)
		require.Equal(t, want, dflt.Encode(nil, text), "text %d", i)
	}
}

func TestEncodePrefix(t *testing.T) {
	tok := use(t)
	long := strings.Repeat("The boundary layer over a flat plate at supersonic speed was measured. ", 2000)
	all := tok.Encode(nil, long)
	for _, n := range []int{0, 1, 5, 128, 1000, len(all), len(all) + 1} {
		got := tok.EncodePrefix([]int32{42}, long, n)
		require.Equal(t, int32(42), got[0])
		got = got[1:]
		require.GreaterOrEqual(t, len(got), min(n, len(all)), "n=%d", n)
		require.Equal(t, all[:len(got)], got, "n=%d", n)
		if n <= 128 {
			require.Less(t, len(got), 1000, "n=%d: no early stop", n)
		}
	}
	// A vocabulary with '▁' inside a piece cannot be cut, and still
	// encodes right.
	tt, err := spm.New([]spm.Piece{{"\ufffd", 0}, {"▁", -1}, {"a", -1}, {"a▁a", -0.5}}, 1)
	require.NoError(t, err)
	require.False(t, spm.Cuttable(tt))
	spm.SetSegmentBytes(tt, 1)
	require.Equal(t, []int32{1, 3, 1, 2}, tt.EncodePrefix(nil, "a a a", 1))
}

func TestNormalize(t *testing.T) {
	require.Equal(t, "", spm.Normalize(""))
	require.Equal(t, "▁a▁b", spm.Normalize("a b"))
	require.Equal(t, "▁a\tb", spm.Normalize("a\tb"))
	require.Equal(t, "▁fi", spm.Normalize("\ufb01"))
}

func TestConcurrentEncode(t *testing.T) {
	tok := use(t)
	want := tok.Encode(nil, "How do I deploy an SAP Fiori application to Cloud Foundry?")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				require.Equal(t, want, tok.Encode(nil, "How do I deploy an SAP Fiori application to Cloud Foundry?"))
			}
		})
	}
	wg.Wait()
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", " ", "I like my phone.", "http://x.org/:30 :-) :00", "日本語 😀\t\n", "\xff\x00"} {
		f.Add(s)
	}
	tok, every := useSeg(f, math.MaxInt), useSeg(f, 1)
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(nil, s)
		require.Equal(t, ids, every.Encode(nil, s), "segments change the ids")
		// Encode normalises with norm.Iter, Normalize with norm.String.
		var it norm.Iter
		it.InitString(norm.NFKC, s)
		var iterated []byte
		for !it.Done() {
			iterated = append(iterated, it.Next()...)
		}
		require.Equal(t, norm.NFKC.String(s), string(iterated))
		if len(ids) > 0 {
			n := len(ids) / 2
			require.Equal(t, ids[:n], every.EncodePrefix(nil, s, n)[:n])
		}
		require.Equal(t, spm.Normalize(s) == "", len(ids) == 0)
		for i, id := range ids {
			require.True(t, id >= 0 && int(id) < tok.Len(), "id %d", id)
			require.False(t, i > 0 && id == 0 && ids[i-1] == 0, "unknown run not collapsed")
		}
		if utf8.ValidString(s) {
			require.Equal(t, ids, tok.Encode(nil, s), "not deterministic")
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	tok := use(b)
	text := "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft ."
	var ids []int32
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		ids = tok.Encode(ids[:0], text)
	}
}
