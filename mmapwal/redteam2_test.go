package mmapwal

// Second red-team pass (after deferred verification, Reset, raftstore and
// the ReadOnly retry loop landed): each TestRedTeam2Xxx fails on the tree
// it was written against, and says which contract it breaks and how the
// break was seen. They are not fixes; they live on the red-team branch.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// TestRedTeam2VerifyMissesDamageUnderTruncateBack: Verify's contract is
// "nil when every record is intact"; only "a segment a truncation removes
// or cuts while Verify reads it is skipped". Verify drops the damage it
// finds in any sealed segment whenever *any* TruncateBack ran meanwhile
// (verify.go: `if err != nil && l.cuts.Load() == c`), also one that only
// cut the newest segment's tail and never touched the damaged segment: it
// then returns nil over a damaged, still-present segment. Seen by reading
// verify.go; made deterministic with the fault seam (the TruncateBack runs
// when Verify opens the damaged segment).
func TestRedTeam2VerifyMissesDamageUnderTruncateBack(t *testing.T) {
	dir, _ := dfBuild(t, 5)
	name := segment.Name(3)
	frames := dfFrames(t, dir, name)
	bad := frames[len(frames)/2]
	img := snapshotDir(t, dir)
	img[name][bad.off+crcframe.HeaderSize] ^= 0x10
	dir = writeImage(t, fastTempDir(t), img)

	l, err := Open(dir, manualOpts(bbSegSize, Strict))
	require.NoError(t, err)
	defer l.Close()
	require.Positive(t, l.Recovery().Deferred)
	for range 2 { // records in the newest segment, so that a TruncateBack cuts only it
		_, err := l.Append([]byte("tail"))
		require.NoError(t, err)
	}
	cutTo := l.LastSeq() - 1
	var once sync.Once
	var cutErr error
	t.Cleanup(sysutil.SetFault(func(op sysutil.Op, path string) error {
		if op == sysutil.OpOpen && filepath.Base(path) == name {
			once.Do(func() { cutErr = l.TruncateBack(cutTo) })
		}
		return nil
	}))
	verr := l.Verify(context.Background())
	sysutil.SetFault(nil)
	require.NoError(t, cutErr)
	_, rerr := l.Read(bad.seq)
	require.ErrorIs(t, rerr, ErrCorrupt, "the damaged segment is still in the log")
	require.ErrorIs(t, verr, ErrCorrupt, "Verify returned %v over a damaged segment that no truncation touched", verr)
}

// rt2TornReadOnly leaves dir as a crash with a torn tail leaves it: n
// synced records, then bytes of an unfinished frame after them, and opens
// it ReadOnly.
func rt2TornReadOnly(t *testing.T, n int) (*Log, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, manualOpts(64<<10, TruncatePartial))
	require.NoError(t, err)
	for i := range n {
		_, err := l.Append(sealPayload(uint64(i + 1)))
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync())
	path, off := l.active.path, l.off
	crashRelease(l)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef, 0x10, 0, 0, 0}, off) // a frame header cut short
	require.NoError(t, err)
	require.NoError(t, f.Close())
	ro, err := Open(dir, readOnlyOpts(64<<10))
	require.NoError(t, err)
	return ro, dir
}

// TestRedTeam2ReadOnlyVerifyTornTail: Verify returns "the first damage in
// log order as a *CorruptionError (ErrCorrupt, Durable)", nil when every
// record is intact. On a ReadOnly log whose newest segment ends with a
// torn tail (an unfinished frame after the synced records: what any crash
// mid-append leaves, Recovery().TornTail, not Corruption), Verify reports
// it as Durable corruption (ReasonGarbageAfterEnd), though no writer is
// running: verifyNewest checks that nothing follows s.written, which on a
// ReadOnly open is where the valid frames end, before the torn bytes
// Open left in place. A writable Open + Verify of the same files says
// nil. Seen by reading verifyNewest against adopt.
func TestRedTeam2ReadOnlyVerifyTornTail(t *testing.T) {
	ro, dir := rt2TornReadOnly(t, 5)
	defer ro.Close()
	require.NotNil(t, ro.Recovery().TornTail)
	require.Nil(t, ro.Recovery().Corruption)
	require.Equal(t, uint64(5), ro.LastSeq())

	l, err := Open(writeImage(t, t.TempDir(), snapshotDir(t, dir)), manualOpts(64<<10, TruncatePartial))
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.Verify(context.Background()), "the writable verdict on the same files")

	err = ro.Verify(context.Background())
	require.NoError(t, err, "Verify on a ReadOnly log with a torn tail (not damage to durable data)")
}

// TestRedTeam2ResetNumberReused: Reset's contract (doc comment: "one new
// segment, numbered above every earlier one"; FORMAT.md §9.5: N is "above
// every segment number the log used", "no file that may have held a
// record is ever given its number again") does not hold after a
// TruncateBack into an earlier segment: Reset takes nextNum+1, and
// TruncateBack lowered nextNum to the cut segment's number + 1, so the
// Reset's segment gets the number of a segment that held records and was
// removed by the TruncateBack. Seen by reading reset.go against cutBack.
func TestRedTeam2ResetNumberReused(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, manualOpts(bbSegSize, Strict))
	require.NoError(t, err)
	defer l.Close()
	sealFill(t, l, 5)
	segs := l.segments()
	maxUsed := segs[len(segs)-1].num
	require.NoError(t, l.TruncateBack(segs[1].lastSeq()-1)) // into segment 2: 3.. go
	require.NoError(t, l.Reset(1))
	got := l.segments()[0].num
	require.Greater(t, got, maxUsed, "Reset's segment %d is not above segment %d, which held records", got, maxUsed)
}

// TestRedTeam2ReadOnlyVerifyPendingTruncateBack: a ReadOnly open of a log
// whose TruncateBack a crash interrupted (its redo record in META, the cut
// bytes still in the file) serves "what a writable open, which finishes
// the truncation, would leave" (RecoveryReport.PendingTruncation); the
// log is intact. Verify on it reports the frames the truncation is
// dropping, after the redo offset, as Durable corruption
// (ReasonGarbageAfterEnd), where the writable Open + Verify of the same
// files says nil. Seen by reading verifyNewest against pendingTruncateBack;
// the crash is a failed removal of the prepared segment inside cutBack
// (fault seam), then a crash release.
func TestRedTeam2ReadOnlyVerifyPendingTruncateBack(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, manualOpts(64<<10, TruncatePartial))
	require.NoError(t, err)
	for i := range 10 {
		_, err := l.Append(sealPayload(uint64(i + 1)))
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync())
	waitPrepared(l)
	restore := sysutil.SetFault(func(op sysutil.Op, path string) error {
		if op == sysutil.OpRemove && strings.HasSuffix(path, ".wal") {
			return errInjected
		}
		return nil
	})
	err = l.TruncateBack(5)
	restore()
	require.ErrorIs(t, err, ErrPoisoned)
	crashRelease(l)

	ro, err := Open(dir, readOnlyOpts(64<<10))
	require.NoError(t, err)
	defer ro.Close()
	require.True(t, ro.Recovery().PendingTruncation)
	require.Nil(t, ro.Recovery().Corruption)
	require.Equal(t, uint64(5), ro.LastSeq())

	w, err := Open(writeImage(t, t.TempDir(), snapshotDir(t, dir)), manualOpts(64<<10, TruncatePartial))
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.Verify(context.Background()), "the writable verdict on the same files")

	require.NoError(t, ro.Verify(context.Background()), "Verify of a ReadOnly view of an interrupted TruncateBack")
}

var errInjected = errors.New("redteam2: injected fault")

// TestRedTeam2ResetStaleFrontGone: "A TruncateFront that drops nothing it
// had still to return (a cut into a gap after its position) does not stop
// it" (Iterator doc, README "Iterators under truncation"). After a Reset
// to below the old LastSeq, an iterator opened after the Reset fails with
// ErrNotFound on such a cut: Reset stores the old LastSeq into frontGone
// (the highest record a TruncateFront removed), which is then far above
// the sequences of the restarted log, so followFront takes any later
// TruncateFront past the iterator's position for one that removed records
// it still needed. Seen by reading reset.go against Iterator.followFront.
func TestRedTeam2ResetStaleFrontGone(t *testing.T) {
	l, err := Open(t.TempDir(), manualOpts(64<<10, Strict))
	require.NoError(t, err)
	defer l.Close()
	for range 100 {
		_, err := l.Append([]byte("old"))
		require.NoError(t, err)
	}
	require.NoError(t, l.Reset(1))
	for range 10 {
		_, err := l.Append([]byte("new"))
		require.NoError(t, err)
	}
	require.NoError(t, l.AppendSeq(500, []byte("after the gap")))

	it, err := l.NewIterator(1) // opened after the Reset
	require.NoError(t, err)
	defer it.Close()
	for want := uint64(1); want <= 10; want++ {
		require.True(t, it.Next(), "record %d: %v", want, it.Err())
		require.Equal(t, want, it.Seq())
	}
	require.NoError(t, l.TruncateFront(500)) // drops 1..10, all returned; 11..499 never existed
	require.True(t, it.Next(), "after a TruncateFront into the gap after its position: %v", it.Err())
	require.Equal(t, uint64(500), it.Seq())
	require.Equal(t, []byte("after the gap"), it.Value())
}
