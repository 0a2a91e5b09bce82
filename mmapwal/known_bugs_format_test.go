package mmapwal_test

// Cases where the library disagrees with a sensible reading of FORMAT.md.
// Each is skipped until fixed; remove the t.Skip to see it fail.

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FORMAT §2: an interrupted creation holds no valid frame anywhere in the
// header's sector, and a seal (type 7) is a valid frame. segment.Probe's
// frameIn looks only for types 1–6 after offset 64, so a newest segment
// whose header and first frame a torn write damaged, with its seal intact
// further in the sector, is removed as an interrupted creation (its bytes
// quarantined) instead of reported as corruption.
func TestKnownBugSealInTornSectorRemoved(t *testing.T) {
	seed1, seed2 := frSeed(frGoldenID, 1), frSeed(frGoldenID, 2)
	seg1 := frCraftSegment(1, 1, frFrameBytes(seed1, frFull, 1, 0, []byte("one")))
	seg2 := make([]byte, 4096)
	copy(seg2, frHeaderBytes(frHeader{logID: frGoldenID, number: 2, firstSeq: 2, size: 4096})[:40])
	rec := frFrameBytes(seed2, frFull, 2, 64, []byte("two"))
	rec[30] ^= 1 // torn: checksum mismatch
	copy(seg2[64:], rec)
	copy(seg2[64+len(rec):], frFrameBytes(seed2, frSeal, 2, 64, nil))
	dir := frCraftLog(t, seg1, seg2)

	want := "0000000000000002.wal at 0: segment header checksum mismatch"
	_, err := frRead(dir)
	require.EqualError(t, err, want, "the reader follows FORMAT §2")
	t.Skip("known bug: segment.Probe's frameIn skips seal frames (type 7), so a sector holding only a seal counts as an interrupted creation")
	_, err = frAgree(t, dir, true)
	require.Error(t, err)
}

// FORMAT §2: only the first `segment size` bytes of a file are read, and a
// later file whose prepared header is followed by zeros up to its segment
// size is not activated. laterActivated asks segment.Probe, which reads to
// the end of the file: bytes past the segment size make the file
// activated, so an unproven torn tail in the segment before it is reported
// as corruption, while the same file, as the newest, is removed as an
// unused prepared segment (segment.File.DirtyEnd stops at the segment size).
func TestKnownBugActivatedReadsPastSegmentSize(t *testing.T) {
	seed1 := frSeed(frGoldenID, 1)
	torn := frFrameBytes(seed1, frFull, 2, 0, []byte("torn"))
	torn[30] ^= 1
	seg1 := frCraftSegment(1, 1, frFrameBytes(seed1, frFull, 1, 0, []byte("one")), torn)
	seg2 := append(frCraftSegment(2, 0), make([]byte, 4096)...)
	seg2[5000] = 1 // past segment 2's size (4096)
	dir := frCraftLog(t, seg1, seg2)

	lg, err := frRead(dir)
	require.NoError(t, err)
	require.Equal(t, "0000000000000001.wal@96", lg.tornTail, "the reader follows FORMAT §2")
	t.Skip("known bug: laterActivated (segment.Probe) reads a later segment past its segment size")
	_, err = frAgree(t, dir, true)
	require.NoError(t, err)
	_, err = frAgree(t, dir, false) // cuts the tail, removes segment 2 as unused prepared
	require.NoError(t, err)
}
