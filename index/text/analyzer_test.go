package text

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	require.Equal(t, Config{Analyzer: "en", K1: new(1.2), B: new(0.75)}, DefaultConfig())
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero is the default", Config{}, true},
		{"standard", Config{Analyzer: "standard"}, true},
		{"cjk", Config{Analyzer: "cjk", K1: new(0.9), B: new(0.4)}, true},
		{"b one", Config{B: new(1.0)}, true},
		{"b zero", Config{B: new(0.0)}, true},
		{"k1 zero", Config{K1: new(0.0)}, true},
		{"unknown analyzer", Config{Analyzer: "klingon"}, false},
		{"analyzer case", Config{Analyzer: "EN"}, false},
		{"negative k1", Config{K1: new(-1.0)}, false},
		{"huge k1", Config{K1: new(1000.0)}, false},
		{"NaN k1", Config{K1: new(nan())}, false},
		{"negative b", Config{B: new(-0.1)}, false},
		{"b above one", Config{B: new(1.5)}, false},
		{"NaN b", Config{B: new(nan())}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
	err := Config{Analyzer: "klingon"}.Validate()
	require.ErrorContains(t, err, "en, es", "the error lists the valid names")
	_, err = Open(filepath.Join(t.TempDir(), "x"), Config{Analyzer: "klingon"})
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func nan() float64 { var z float64; return z / z }

func TestAnalyzersList(t *testing.T) {
	names := Analyzers()
	require.True(t, slices.IsSorted(names))
	for _, want := range []string{"standard", "en", "cjk", "de", "fr", "ru", "ar", "hi", "bg", "ca", "el", "id"} {
		require.Contains(t, names, want)
	}
	require.Len(t, names, len(samples), "a sample text for every analyzer")
}

// TestAnalyzers indexes a sentence in each analyzer's language beside
// distractors and finds it by one of its words.
func TestAnalyzers(t *testing.T) {
	dir := t.TempDir()
	for _, name := range Analyzers() {
		t.Run(name, func(t *testing.T) {
			s, ok := samples[name]
			require.True(t, ok, "no sample for %s", name)
			ix := openDirT(t, filepath.Join(dir, name), Config{Analyzer: name})
			require.NoError(t, ix.Apply(1, []Doc{
				{Num: 1, Text: s.text},
				{Num: 2, Text: "Nothing of interest is written here, 12345."},
				{Num: 3, Text: "A quiet evening at home, with tea."},
			}, nil))
			require.Equal(t, []uint32{1}, nums(search(t, ix, s.query, 10, nil)))
			require.NotEmpty(t, ix.Terms(s.query))
			if s.stop != "" {
				require.Empty(t, ix.Terms(s.stop), "stop word %q", s.stop)
			}
			checkInvariants(t, ix)
		})
	}
}

func TestElision(t *testing.T) {
	for _, c := range []struct{ analyzer, text, query string }{
		{"ca", "L'avió vola", "avió"},
		{"fr", "L'avion vole", "avion"},
		{"it", "L'aereo vola", "aereo"},
	} {
		ix := openT(t, Config{Analyzer: c.analyzer})
		require.NoError(t, ix.Apply(1, docsOf(1, c.text), nil))
		require.Equal(t, []uint32{1}, nums(search(t, ix, c.query, 10, nil)), c.analyzer)
	}
}

func TestCJK(t *testing.T) {
	ix := openT(t, Config{Analyzer: "cjk"})
	require.NoError(t, ix.Apply(1, []Doc{
		{Num: 1, Text: "我们在北京大学学习中文。"},
		{Num: 2, Text: "東京は日本の首都です。"},
		{Num: 3, Text: "서울은 한국의 수도입니다."},
		{Num: 4, Text: "Beijing and Tokyo are capitals."},
	}, nil))
	cases := []struct {
		query string
		want  []uint32
	}{
		{"北京", []uint32{1}},
		{"大学", []uint32{1}},
		{"東京", []uint32{2}},
		{"首都", []uint32{2}},
		{"日本の首都", []uint32{2}},
		{"서울", []uint32{3}},
		{"한국", []uint32{3}},
		{"上海", nil},
		{"tokyo", []uint32{4}},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			require.Equal(t, c.want, nonNil(nums(search(t, ix, c.query, 10, nil))))
		})
	}
}

func nonNil(s []uint32) []uint32 {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestStemming(t *testing.T) {
	cases := []struct {
		analyzer string
		want     []uint32
	}{
		{"en", []uint32{1}},
		{"standard", nil},
	}
	for _, c := range cases {
		t.Run(c.analyzer, func(t *testing.T) {
			ix := openT(t, Config{Analyzer: c.analyzer})
			require.NoError(t, ix.Apply(1, docsOf(1, "She runs every morning.", "A quiet evening."), nil))
			require.Equal(t, c.want, nonNil(nums(search(t, ix, "running", 10, nil))))
		})
	}
}
