package rag

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ragd/ragd/index"
	"github.com/stretchr/testify/require"
)

func TestFromHits(t *testing.T) {
	hits := []index.Hit{
		hit("a", "Guide > Install\n\nRun the installer.", 0.9, "source", "guide.md", "chunk", float64(3), "heading", "Guide > Install", "title", "Guide"),
		hit("blank", "  \n", 0.8),
		{Document: index.Document{ID: "b", Text: "Plain text.", Source: "notes.txt", Chunk: 0}, Score: 0.7},
		hit("c", "No heading line here.", 0.6, "heading", "Guide > Other", "chunk", json.Number("2")),
		hit("d", "Bad chunk.", 0.5, "source", "x.md", "chunk", 1.5),
	}
	ps := fromHits(hits)
	require.Len(t, ps, 4, "the blank hit is skipped")

	a := ps[0]
	require.Equal(t, "a", a.ID)
	require.Equal(t, []string{"a"}, a.IDs)
	require.Equal(t, "guide.md", a.Source)
	require.Equal(t, 3, a.Chunk)
	require.True(t, a.hasChunk)
	require.Equal(t, "Guide", a.Title)
	require.Equal(t, "Guide > Install", a.Heading)
	require.Equal(t, "Guide > Install", a.heading, "the heading line is recognised")
	require.Equal(t, "Run the installer.", a.body)
	require.Equal(t, hits[0].Text, a.Text, "the text is kept whole")

	b := ps[1]
	require.Equal(t, "notes.txt", b.Source, "from the document when the metadata has none")
	require.True(t, b.hasChunk)
	require.Equal(t, 0, b.Chunk)
	require.Equal(t, 2, b.rank)

	c := ps[2]
	require.Empty(t, c.heading, "the heading is not the text's first line")
	require.Equal(t, "No heading line here.", c.body)
	require.False(t, c.hasChunk, "a chunk number without a source cannot merge")

	d := ps[3]
	require.False(t, d.hasChunk, "a chunk that is not an integer")
}

func pieces(hits ...index.Hit) []piece { return fromHits(hits) }

func ids(ps []piece) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestDedupe(t *testing.T) {
	long := "Otters sleep in dens by the river and hunt fish at dawn, when the water is calm and the light is low; " +
		"they return to their dens before noon and spend the afternoon grooming their thick fur, which keeps them warm in cold water. " +
		"Young otters stay with their mother for about a year, learning to swim, to dive and to crack shells on flat stones. " +
		"Their numbers fell sharply in the last century, when rivers were polluted and their fur was prized, but clean water brought them back."
	for _, tt := range []struct {
		name    string
		hits    []index.Hit
		want    []string
		dropped int
	}{
		{"distinct", []index.Hit{hit("a", "Otters sleep in dens.", 0.9), hit("b", "Herons hunt fish.", 0.8)}, []string{"a", "b"}, 0},
		{"exact", []index.Hit{hit("a", "Otters sleep in dens.", 0.9), hit("b", "Otters sleep in dens.", 0.8)}, []string{"a"}, 1},
		{"case, spacing and punctuation", []index.Hit{hit("a", "Otters sleep in dens.", 0.9), hit("b", "otters  SLEEP\nin dens!", 0.8)}, []string{"a"}, 1},
		{"a word changed in a long passage", []index.Hit{hit("a", long, 0.9), hit("b", strings.Replace(long, "thick", "dense", 1), 0.8)}, []string{"a"}, 1},
		{"the same body under another heading", []index.Hit{
			hit("a", "Guide > A\n\n"+long, 0.9, "heading", "Guide > A"),
			hit("b", "Copy > A\n\n"+long, 0.8, "heading", "Copy > A")}, []string{"a"}, 1},
		{"half shared is no duplicate", []index.Hit{hit("a", long, 0.9), hit("b", long[:len(long)/2]+" And then something else entirely happens in the story.", 0.8)}, []string{"a", "b"}, 0},
		{"the same ID twice", []index.Hit{hit("a", "One.", 0.9), hit("a", "Two.", 0.8)}, []string{"a"}, 1},
		{"the better one is kept", []index.Hit{hit("b", "Same text.", 0.5), hit("a", "Same text.", 0.9)}, []string{"a"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ps := pieces(tt.hits...)
			byScore(ps)
			got, dropped := dedupe(ps)
			require.Equal(t, tt.want, ids(got))
			require.Equal(t, tt.dropped, dropped)
		})
	}
}

func TestJaccard(t *testing.T) {
	require.Equal(t, 1.0, jaccard(nil, nil))
	require.Equal(t, 0.0, jaccard([]uint64{1}, nil))
	require.Equal(t, 0.5, jaccard([]uint64{1, 2, 3}, []uint64{2, 3, 4}))
	require.Equal(t, 1.0, jaccard([]uint64{1, 2}, []uint64{1, 2}))
}

func TestOverlap(t *testing.T) {
	for _, tt := range []struct {
		name, a, b string
		want       int
	}{
		{"sentence overlap", "Otters sleep in dens. They hunt at dawn.", "They hunt at dawn. Herons wait.", len("They hunt at dawn.")},
		{"too short", "The river is wide.", "wide. It floods.", 0},
		{"none", "Otters sleep in dens by the river.", "Herons hunt fish in shallow water.", 0},
		{"mid-word start is refused", "xxThey hunt at dawn", "They hunt at dawn, then rest.", 0},
		{"b inside a", "Otters sleep in dens. They hunt at dawn.", "They hunt at dawn.", len("They hunt at dawn.")},
		{"the longest wins", "one two three four five six seven eight", "three four five six seven eight nine", len("three four five six seven eight")},
		{"a shorter one at a boundary", "abcdefgh ijklmnopqrstuvwx ijklmnopqrstuvwx", "ijklmnopqrstuvwx ijklmnopqrstuvwx z", len("ijklmnopqrstuvwx ijklmnopqrstuvwx")},
		{"empty", "", "anything at all here", 0},
		{"multi-byte", "Die Flüsse fließen ruhig ins Meer.", "fließen ruhig ins Meer. Dann mehr.", len("fließen ruhig ins Meer.")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, overlap(tt.a, tt.b))
		})
	}
}

func TestOverlapMatchesBruteForce(t *testing.T) {
	brute := func(a, b string) int {
		for k := min(len(a), len(b)); k >= minOverlap; k-- {
			start := len(a) - k
			if a[start:] == b[:k] && (start == 0 || isBoundary(a[start-1]) || isBoundary(a[start])) {
				return k
			}
		}
		return 0
	}
	words := []string{"ab", "ab ", "a", "b ", "abab", ". ", "ba"}
	for i := range 2000 {
		var a, b strings.Builder
		x := uint32(i*2654435761 + 1)
		next := func() int { x ^= x << 13; x ^= x >> 17; x ^= x << 5; return int(x % uint32(len(words))) }
		for range 6 + next()*3 {
			a.WriteString(words[next()])
		}
		for range 6 + next()*3 {
			b.WriteString(words[next()])
		}
		// Make some share a tail and a head.
		if i%2 == 0 {
			tail := a.String()[a.Len()/2:]
			b2 := tail + b.String()
			require.Equal(t, brute(a.String(), b2), overlap(a.String(), b2), "%q %q", a.String(), b2)
		}
		require.Equal(t, brute(a.String(), b.String()), overlap(a.String(), b.String()), "%q %q", a.String(), b.String())
	}
}

func TestMergeAdjacent(t *testing.T) {
	const head = "Guide > Install"
	chunk := func(id string, n int, body string, score float64) index.Hit {
		return hit(id, head+"\n\n"+body, score, "source", "guide.md", "chunk", float64(n), "heading", head, "title", "Guide")
	}
	t.Run("heading and overlap written once", func(t *testing.T) {
		ps := pieces(
			chunk("c4", 4, "Then run the installer. It asks for a folder and copies the files there.", 0.7),
			chunk("c3", 3, "Download the archive from the site. Then run the installer.", 0.8),
			chunk("c5", 5, "It asks for a folder and copies the files there. Finally, restart.", 0.6),
		)
		got, merged := mergeAdjacent(ps)
		require.Equal(t, 2, merged)
		require.Len(t, got, 1)
		p := got[0]
		require.Equal(t, head+"\n\nDownload the archive from the site. Then run the installer. It asks for a folder and copies the files there. Finally, restart.", p.Text)
		require.Equal(t, "c3", p.ID, "the first chunk's ID")
		require.Equal(t, []string{"c3", "c4", "c5"}, p.IDs)
		require.Equal(t, 3, p.Chunk)
		require.Equal(t, 0.8, p.Score, "the best score")
		require.Equal(t, 0, p.rank, "the best rank")
		require.Equal(t, "Guide", p.Title)
	})
	t.Run("a gap splits", func(t *testing.T) {
		got, merged := mergeAdjacent(pieces(chunk("c1", 1, "One.", 0.9), chunk("c3", 3, "Three.", 0.8), chunk("c2b", 7, "Seven.", 0.7)))
		require.Zero(t, merged)
		require.Equal(t, []string{"c1", "c3", "c2b"}, ids(got))
	})
	t.Run("other sources do not merge", func(t *testing.T) {
		got, merged := mergeAdjacent(pieces(
			hit("a", "A one.", 0.9, "source", "a.md", "chunk", float64(1)),
			hit("b", "B two.", 0.8, "source", "b.md", "chunk", float64(2)),
			hit("n", "No source.", 0.7, "chunk", float64(3)),
		))
		require.Zero(t, merged)
		require.Len(t, got, 3)
	})
	t.Run("no overlap joins with a blank line", func(t *testing.T) {
		got, _ := mergeAdjacent(pieces(
			hit("a", "First part.", 0.9, "source", "a.md", "chunk", float64(0)),
			hit("b", "Second part.", 0.8, "source", "a.md", "chunk", float64(1)),
		))
		require.Equal(t, "First part.\n\nSecond part.", got[0].Text)
	})
	t.Run("a new section keeps its heading line", func(t *testing.T) {
		got, _ := mergeAdjacent(pieces(
			hit("a", "Guide > A\n\nEnd of section A.", 0.9, "source", "g.md", "chunk", float64(0), "heading", "Guide > A"),
			hit("b", "Guide > B\n\nStart of section B.", 0.8, "source", "g.md", "chunk", float64(1), "heading", "Guide > B"),
		))
		require.Equal(t, "Guide > A\n\nEnd of section A.\n\nGuide > B\n\nStart of section B.", got[0].Text)
		require.Equal(t, "Guide > A", got[0].Heading)
	})
	t.Run("document source and chunk", func(t *testing.T) {
		got, merged := mergeAdjacent(pieces(
			index.Hit{Document: index.Document{ID: "x0", Text: "Alpha beta gamma delta.", Source: "s.txt", Chunk: 0}, Score: 0.5},
			index.Hit{Document: index.Document{ID: "x1", Text: "Epsilon zeta.", Source: "s.txt", Chunk: 1}, Score: 0.9},
		))
		require.Equal(t, 1, merged)
		require.Equal(t, "x0", got[0].ID)
		require.Equal(t, 0.9, got[0].Score)
	})
}
