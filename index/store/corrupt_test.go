package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// makeStoreFile writes a closed store with a few documents and returns its
// path and bytes.
func makeStoreFile(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Config{NoSync: true})
	require.NoError(t, err)
	for i := range 40 {
		d := mkDoc(strings.Repeat("k", i+1), i)
		if i == 17 {
			d.Text += "UNIQUE-MARKER"
		}
		apply(t, s, puts(d)...)
	}
	require.NoError(t, s.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, b
}

// rawUpdate changes a closed store file through bbolt directly.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(fn))
	require.NoError(t, db.Close())
}

func TestOpenRejects(t *testing.T) {
	_, good := makeStoreFile(t)
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*131 + i>>8)
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    error
	}{
		{"garbage", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, garbage, 0o600))
		}, ErrCorrupt},
		{"text file", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("hello, world\n"), 0o600))
		}, ErrCorrupt},
		{"truncated to one page", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, good[:4096], 0o600))
		}, ErrCorrupt},
		{"truncated to two pages", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, good[:8192], 0o600))
		}, ErrCorrupt},
		{"truncated mid-page", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, good[:12345], 0o600))
		}, ErrCorrupt},
		{"both meta pages damaged", func(t *testing.T, path string) {
			b := bytes.Clone(good)
			b[20], b[4096+20] = b[20]^0xff, b[4096+20]^0xff
			require.NoError(t, os.WriteFile(path, b, 0o600))
		}, ErrCorrupt},
		{"a bbolt file of another program", func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("widgets"))
				return err
			})
		}, ErrNotStore},
		{"a catalog", func(t *testing.T, path string) {
			c, err := OpenCatalog(path, Config{NoSync: true})
			require.NoError(t, err)
			require.NoError(t, c.Close())
		}, ErrNotStore},
		{"a future version", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, good, 0o600))
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(keyVersion, []byte{0, 0, 0, 2})
			})
		}, ErrUnsupportedVersion},
		{"a missing bucket", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, good, 0o600))
			rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketLog) })
		}, ErrCorrupt},
		{"a bad counter", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, good, 0o600))
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(keyNextNum, []byte{1})
			})
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			tt.prepare(t, path)
			s, err := Open(path, Config{NoSync: true})
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, s)
			t.Log(err)
			// The lock was released: the file can be replaced and reopened.
			require.NoError(t, os.Remove(path))
			s, err = Open(path, Config{NoSync: true})
			require.NoError(t, err)
			require.NoError(t, s.Close())
		})
	}
}

func TestOpenLocked(t *testing.T) {
	// bbolt's flock is per open file, so a second Open in one process
	// contends like a second process would.
	path := filepath.Join(t.TempDir(), "s.db")
	openAt(t, path, Config{NoSync: true})
	_, err := Open(path, Config{NoSync: true, LockTimeout: 50e6})
	require.ErrorIs(t, err, ErrLocked)
}

func TestCorruptRecords(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(tx *bolt.Tx) error
		read    func(s *Store) error
	}{
		{"garbage document: Get", putRaw(bucketDocs, numKey(1), []byte("garbage")), func(s *Store) error {
			_, _, err := s.Get("k")
			return err
		}},
		{"garbage document: GetByNum", putRaw(bucketDocs, numKey(1), []byte{1, 0}), func(s *Store) error {
			_, _, err := s.GetByNum(1)
			return err
		}},
		{"garbage document: ForEach", putRaw(bucketDocs, numKey(2), nil), func(s *Store) error {
			return s.ForEach(func(Doc) error { return nil })
		}},
		{"garbage document: Scan", putRaw(bucketDocs, numKey(3), []byte("x")), func(s *Store) error {
			_, _, err := s.Scan("", 100)
			return err
		}},
		{"bad number in ids", putRaw(bucketIDs, []byte("k"), []byte{0, 0, 1}), func(s *Store) error {
			_, _, err := s.Get("k")
			return err
		}},
		{"dangling id", putRaw(bucketIDs, []byte("ghost"), numKey(999)), func(s *Store) error {
			_, _, err := s.Get("ghost")
			return err
		}},
		{"id and document disagree", putRaw(bucketIDs, []byte("kk"), numKey(1)), func(s *Store) error {
			_, _, err := s.Get("kk")
			return err
		}},
		{"garbage document: ForEachMetadata", putRaw(bucketDocs, numKey(2), []byte{1, 0, 9}), func(s *Store) error {
			return s.View(func(r *Reader) error {
				return r.ForEachMetadata(func(uint32, []byte) error { return nil })
			})
		}},
		{"bad document key", putRaw(bucketDocs, []byte{1}, []byte("x")), func(s *Store) error {
			return s.ForEach(func(Doc) error { return nil })
		}},
		{"garbage change record", putRaw(bucketLog, seqKey(2), []byte{9}), func(s *Store) error {
			return s.Changes(0, func(Change) error { return nil })
		}},
		{"bad doc count", putRaw(bucketMeta, keyDocCount, []byte{1, 2}), nil}, // caught by Open
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Config{NoSync: true})
			require.NoError(t, err)
			apply(t, s, puts(mkDoc("k", 1), mkDoc("kk", 1), mkDoc("kkk", 1))...)
			require.NoError(t, s.Close())
			rawUpdate(t, path, tt.corrupt)

			s, err = Open(path, Config{NoSync: true})
			if tt.read != nil {
				require.NoError(t, err)
				t.Cleanup(func() { _ = s.Close() })
				err = tt.read(s)
			}
			require.ErrorIs(t, err, ErrCorrupt)
			var ce *CorruptionError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, path, ce.Path)
			require.NotEmpty(t, ce.Reason)
			t.Log(err)
		})
	}
}

func putRaw(bucket, key, value []byte) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if value == nil {
			value = []byte{}
		}
		return tx.Bucket(bucket).Put(key, value)
	}
}

// TestBitFlipInFile damages a document's bytes in the file itself, as a disk
// would, and expects the record's checksum to catch it.
func TestBitFlipInFile(t *testing.T) {
	path, b := makeStoreFile(t)
	// bbolt copies pages on write, so stale copies of the record may sit in
	// free pages: damage every copy.
	marker := []byte("UNIQUE-MARKER")
	require.Positive(t, bytes.Count(b, marker))
	for i := bytes.Index(b, marker); i >= 0; i = bytes.Index(b, marker) {
		b[i+3] ^= 0x20
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))
	s := openAt(t, path, Config{NoSync: true})
	err := s.ForEach(func(Doc) error { return nil })
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "checksum mismatch")
	var ce *CorruptionError
	require.ErrorAs(t, err, &ce)
	var num uint32
	_, err = fmt.Sscanf(ce.Where, "docs[num %d]", &num)
	require.NoError(t, err, ce.Where)
	_, _, err = s.GetByNum(num)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Equal(t, uint32(18), num)
	// The other documents still read.
	d, ok, err := s.GetByNum(17)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, strings.Repeat("k", 17), d.ID)
}
