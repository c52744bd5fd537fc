package text

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild() // never returns: the parent kills it
	}
	goleak.VerifyTestMain(m)
}

// openT opens an index in a fresh folder under t.TempDir and closes it at
// cleanup.
func openT(t testing.TB, cfg Config) *Index {
	t.Helper()
	return openDirT(t, filepath.Join(t.TempDir(), "text"), cfg)
}

func openDirT(t testing.TB, dir string, cfg Config) *Index {
	t.Helper()
	ix, err := Open(dir, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ix.Close()) })
	return ix
}

// docsOf numbers texts from first.
func docsOf(first uint32, texts ...string) []Doc {
	out := make([]Doc, len(texts))
	for i, s := range texts {
		out[i] = Doc{Num: first + uint32(i), Text: s}
	}
	return out
}

// checkInvariants walks the whole index and checks its bookkeeping: the
// stored total length is the sum of the stored lengths, each posting's norm
// gives back its document's stored length, every term's document frequency
// is its number of live postings, and Count is the number of documents.
func checkInvariants(t testing.TB, ix *Index) {
	t.Helper()
	r, err := ix.bi.Reader()
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()

	lens := map[string]uint64{} // internal ID → stored length
	all, err := r.DocIDReaderAll()
	require.NoError(t, err)
	var sum uint64
	for {
		iid, err := all.Next()
		require.NoError(t, err)
		if iid == nil {
			break
		}
		ext, err := r.ExternalID(iid)
		require.NoError(t, err)
		doc, err := r.Document(ext)
		require.NoError(t, err)
		l, ok := storedLen(doc)
		require.True(t, ok, "document %s has no stored length", ext)
		lens[string(iid)] = l
		sum += l
	}
	require.NoError(t, all.Close())

	total, err := r.GetInternal([]byte(keyTotalLen))
	require.NoError(t, err)
	require.Equal(t, sum, binary.BigEndian.Uint64(total), "total length")
	n, err := ix.Count()
	require.NoError(t, err)
	require.Equal(t, uint64(len(lens)), n, "count")

	dict, err := r.FieldDict(fieldText)
	require.NoError(t, err)
	for {
		e, err := dict.Next()
		require.NoError(t, err)
		if e == nil {
			break
		}
		tfr, err := r.TermFieldReader(context.Background(), []byte(e.Term), fieldText, true, true, false)
		require.NoError(t, err)
		var live uint64
		for {
			p, err := tfr.Next(nil)
			require.NoError(t, err)
			if p == nil {
				break
			}
			live++
			l, ok := lens[string(p.ID)]
			require.True(t, ok, "posting of %q for a document that is not live", e.Term)
			require.Equal(t, float64(l), lenFromNorm(p.Norm), "length from the norm of %q", e.Term)
			require.NotZero(t, p.Freq)
		}
		require.Equal(t, live, tfr.Count(), "df of %q", e.Term)
		require.NoError(t, tfr.Close())
	}
	require.NoError(t, dict.Close())
}
