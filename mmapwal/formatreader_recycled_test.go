package mmapwal_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// frRecycledLog writes, through the API, a log whose newest segments reuse
// files TruncateFront pooled (FORMAT.md §9.7), and leaves it open: 8 KiB
// segments, 200-byte records, the last ones synced.
func frRecycledLog(t *testing.T, dir string) *mmapwal.Log {
	t.Helper()
	l, err := mmapwal.Open(dir, &mmapwal.Options{SegmentSize: 8192, Durability: mmapwal.SyncManual, RecycleSegments: 2})
	require.NoError(t, err)
	appendOne := func() {
		p := bytes.Repeat([]byte{byte(l.LastSeq() + 1)}, 200)
		_, err := l.Append(p)
		require.NoError(t, err)
	}
	for l.Stats().Segments < 4 {
		appendOne()
	}
	require.NoError(t, l.Sync())
	require.NoError(t, l.TruncateFront(l.LastSeq()))
	for l.Stats().Recycled < 2 {
		appendOne()
	}
	for range 3 {
		appendOne()
	}
	require.NoError(t, l.Sync())
	return l
}

// frNewestEnd returns the newest segment holding records and where its
// frames end, as the reader finds them.
func frNewestEnd(t *testing.T, dir string) (string, int64) {
	t.Helper()
	rd, err := frRead(dir)
	require.NoError(t, err)
	r := rd.records[len(rd.records)-1]
	return r.segment, r.off + (24+int64(len(r.payload))+7)&^7
}

// TestFormatReaderRecycled: §9.7's end rule, read by the reader and by
// mmapwal alike: a clean Close and a crash leave stale frames behind a
// zero header (a clean end); a torn frame at the end is a torn tail; a
// frame of the segment's own seed after the zero header is garbage after
// end; a flipped bit of a record after a clean Close is corruption.
func TestFormatReaderRecycled(t *testing.T) {
	live := t.TempDir()
	l := frRecycledLog(t, live)
	defer l.Close()
	crashed := copyToTempDir(t, live) // a killed process: the page cache as it is
	seg, end := frNewestEnd(t, crashed)
	data, err := os.ReadFile(filepath.Join(crashed, seg))
	require.NoError(t, err)
	h, why := frCheckHeader(data)
	require.Empty(t, why)
	require.NotZero(t, h.flags&2, "the newest segment is recycled")
	require.False(t, frZeroFrom(data, int(end)+24), "stale bytes after the end")

	// Torn: one more record, whose second half did not reach the disk.
	before := data
	_, err = l.Append(bytes.Repeat([]byte{0xee}, 200))
	require.NoError(t, err)
	torn := copyToTempDir(t, live)
	tb, err := os.ReadFile(filepath.Join(torn, seg))
	require.NoError(t, err)
	copy(tb[end+112:end+256], before[end+112:end+256])
	require.NoError(t, os.WriteFile(filepath.Join(torn, seg), tb, 0o644))

	// A frame of this segment's seed (a copy of its first) after the zero
	// header: its durable field claims nothing past the end.
	after := copyToTempDir(t, crashed)
	ab := bytes.Clone(data)
	n := (24 + int64(frLE.Uint32(data[64+4:])) + 7) &^ 7
	copy(ab[end+64:], data[64:64+n])
	require.NoError(t, os.WriteFile(filepath.Join(after, seg), ab, 0o644))

	require.NoError(t, l.Close())
	closed := copyToTempDir(t, live)
	flipped := copyToTempDir(t, live)
	cseg, cend := frNewestEnd(t, closed)
	fb, err := os.ReadFile(filepath.Join(flipped, cseg))
	require.NoError(t, err)
	fb[cend-200] ^= 4
	require.NoError(t, os.WriteFile(filepath.Join(flipped, cseg), fb, 0o644))

	for _, c := range []struct {
		name, dir, want string
	}{
		{"clean close", closed, ""},
		{"crash: stale frames after the zero header", crashed, ""},
		{"a torn frame at the end", torn, "torn tail at " + seg + "@" + itoa(end)},
		{"a frame of the seed after the zero header", after, "torn tail at " + seg + "@" + itoa(end)},
		{"a flipped record after a clean Close", flipped, cseg + " at " + itoa(cend-224) + ": " + frChecksum},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, readOnly := range []bool{true, false} {
				got, err := frAgree(t, c.dir, readOnly)
				require.Equal(t, c.want, frVerdict(got, err))
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
