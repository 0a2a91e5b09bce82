package segment

import (
	"encoding/binary"
	"runtime/debug"

	"github.com/mmapwal/mmapwal/crcframe"
)

// End is what a scan found: where the valid frames of a segment end, and,
// when they do not end cleanly, the evidence the engine needs to judge the
// invalid bytes (see FORMAT.md §5: an invalid frame is a torn tail only when
// nothing after it proves it durable).
type End struct {
	// Offset is the end of the valid prefix: a frame boundary. An unfinished
	// batch at the end is not part of the prefix.
	Offset int64
	// Records counts the records (not pads or marks) in the valid prefix.
	Records int
	// LastSeq is the sequence of the prefix's last record or mark, or the
	// prevSeq given to Scan when there is none.
	LastSeq uint64
	// Durable is the highest durable watermark of the prefix's frames.
	Durable uint32
	// Marked reports whether the prefix ends with a durable mark.
	Marked bool
	// Sealed reports whether the prefix ends with a seal frame (format
	// version 2), at Offset - crcframe.HeaderSize.
	Sealed bool
	// OpenBatch is the offset of the first frame of a batch that was not
	// finished when the frames ended (0 if none). Offset equals it.
	OpenBatch int64

	// Reason is crcframe.CleanEnd, or why the bytes at Bad are not a valid
	// frame.
	Reason crcframe.Reason
	// Bad is where the first invalid frame starts (the scan stopped there);
	// it differs from Offset only when an unfinished batch precedes it.
	Bad int64
	// ValidAfter reports whether any valid frame of this segment follows
	// Bad, and DurableAfter is the highest durable watermark among them.
	ValidAfter   bool
	DurableAfter uint32
	// Dirty is the end of the last non-zero byte (rounded up to 8) in the
	// segment, at least Bad: [Offset, Dirty) is what a repair must zero.
	Dirty int64
}

// Clean reports whether the frames ended with a clean end and nothing after
// (no unfinished batch, no stray bytes).
func (e End) Clean() bool { return e.Reason == crcframe.CleanEnd && e.OpenBatch == 0 }

// ProvenDurable reports whether something after the bad spot proves that the
// bytes there were durable, which makes them corruption rather than a torn
// tail.
func (e End) ProvenDurable() bool { return e.ValidAfter && int64(e.DurableAfter) > e.Bad }

// Visit is called by Scan for every record of the valid prefix, in order,
// with the frame's offset, header and payload (a slice of the mapping). The
// records of a batch are visited once its last frame is read, so those of
// an unfinished batch are never visited.
type Visit func(off int64, h crcframe.Header, payload []byte)

// Scan reads the segment's frames from the start. prevSeq is the sequence of
// the log's record before this segment (0 for none); maxPayload bounds
// lengths. A fault while reading the mapping (a file truncated under it, an
// I/O error) ends the scan with Reason crcframe.IOFault, not a crash; End
// then describes the valid prefix read before the fault.
func (s *File) Scan(prevSeq uint64, maxPayload int, visit Visit) (end End) {
	end = End{Offset: HeaderSize, LastSeq: prevSeq}
	defer guard(func() {
		end.Reason, end.Bad, end.Dirty = crcframe.IOFault, end.Offset, s.hdr.Size
	})()
	s.scanFrames(&end, maxPayload, noLimit, visit)
	s.readAhead(&end, maxPayload)
	return end
}

// unguardScan is [guard] for ScanFrom without a closure (a verification
// in steps must not allocate per step): it restores the fault setting and
// turns a memory fault into the end of the frames.
func (s *File) unguardScan(old bool, end *End, done *bool) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if _, ok := r.(interface{ Addr() uintptr }); !ok {
			panic(r)
		}
		end.Reason, end.Bad, end.Dirty = crcframe.IOFault, end.Offset, s.hdr.Size
		*done = true
	}
}

// noLimit is the limit of a scan that runs to the end of the frames.
const noLimit = int64(^uint64(0) >> 1)

// ScanFrom is Scan in steps, for a verification that keeps pace with its
// reader: it goes on from end, which the previous step left (the first
// step starts from End{Offset: HeaderSize, LastSeq: prevSeq}), and stops
// at the first frame boundary outside a batch at or past limit. Then it
// returns false, and end describes the valid prefix so far (Offset,
// Records, LastSeq, Durable, Marked, Sealed; the other fields are unset);
// visit was called for the records between the two ends. Once the frames
// end before limit it returns true with end as Scan would have returned
// it. A fault is the end of the frames (Reason crcframe.IOFault), as in
// Scan.
func (s *File) ScanFrom(end *End, maxPayload int, limit int64, visit Visit) (done bool) {
	old := debug.SetPanicOnFault(true)
	defer s.unguardScan(old, end, &done)
	if !s.scanFrames(end, maxPayload, limit, visit) {
		return false
	}
	s.readAhead(end, maxPayload)
	return true
}

// ScanUntil is Scan for a segment whose frames are known to end at limit
// (a frame boundary: the end of the durable mark a clean Close recorded):
// when the frames do end there, with a zero frame header at limit, the
// bytes after that header are not read, and End says the segment ends
// cleanly. Otherwise it is Scan: the frames are judged against the whole
// segment, as Scan judges them, and the bytes after their end are read.
func (s *File) ScanUntil(prevSeq uint64, maxPayload int, limit int64, visit Visit) (end End) {
	end = End{Offset: HeaderSize, LastSeq: prevSeq}
	defer guard(func() {
		end.Reason, end.Bad, end.Dirty = crcframe.IOFault, end.Offset, s.hdr.Size
	})()
	s.scanFrames(&end, maxPayload, noLimit, visit)
	if end.Reason == crcframe.CleanEnd && end.OpenBatch == 0 && end.Bad == limit {
		end.Dirty = end.Bad
		return end
	}
	s.readAhead(&end, maxPayload)
	return end
}

// batchRecord is a record read but not visited yet: the records of a batch
// wait for its last frame.
type batchRecord struct {
	off     int64
	h       crcframe.Header
	payload []byte
}

// scanFrames walks the valid prefix from end.Offset and stops at the first
// frame that does not parse or does not follow its predecessor (it returns
// true: the frames ended), or at the first frame boundary outside a batch
// at or past limit (false: end.Reason and the fields after it are not
// set). It updates end only at frame boundaries outside a batch, so that
// after a fault end still describes a valid prefix.
func (s *File) scanFrames(end *End, maxPayload int, limit int64, visit Visit) bool {
	data := s.data
	off, prev, durable, batch := end.Offset, end.LastSeq, end.Durable, int64(0)
	var buf [16]batchRecord
	pending := buf[:0] // the records of the batch read so far
	recycled := s.Recycled()
	for {
		if batch == 0 && off >= limit {
			return false
		}
		if recycled && batch == 0 && (end.Sealed || s.hdr.Size-off < crcframe.HeaderSize) {
			// A recycled segment's frames end at a seal, or where no frame
			// header fits: the bytes after are stale, never read.
			end.Reason = crcframe.CleanEnd
			break
		}
		h, payload, n, err := crcframe.Decode(data[off:], s.seed, maxPayload)
		if err != nil {
			end.Reason = err.(crcframe.Reason)
			if end.Reason == crcframe.IncompletePayload {
				end.Reason = crcframe.LengthOutOfBounds // the file is full size: the frame claims past its end
			}
			break
		}
		if !follows(h, prev, batch != 0) || end.Sealed {
			end.Reason = crcframe.SequenceViolation // nothing follows a seal
			break
		}
		if h.Type == crcframe.Seal && len(payload) != 0 {
			end.Reason = crcframe.UnknownType // not a seal this format writes
			break
		}
		prev, durable = h.Seq, max(durable, h.Durable)
		if h.Type == crcframe.Full { // the common frame, never in a batch: visited at once
			visit(off, h, payload)
			off += int64(n)
			end.Records++
			end.Offset, end.LastSeq, end.Durable, end.Marked = off, prev, durable, false
			continue
		}
		switch h.Type {
		case crcframe.First:
			batch = off
		case crcframe.Last:
			batch = 0
		}
		if h.Type.IsRecord() {
			pending = append(pending, batchRecord{off, h, payload})
		}
		off += int64(n)
		if batch == 0 {
			for _, r := range pending {
				visit(r.off, r.h, r.payload)
			}
			end.Records += len(pending)
			pending = pending[:0]
			end.Offset, end.LastSeq, end.Durable, end.Marked = off, prev, durable, h.Type == crcframe.Mark
			end.Sealed = h.Type == crcframe.Seal
		}
	}
	end.Bad = off
	if batch != 0 {
		end.OpenBatch, end.Marked = batch, false
	}
	return true
}

// follows reports whether a frame may follow a frame of sequence prev.
func follows(h crcframe.Header, prev uint64, inBatch bool) bool {
	switch h.Type {
	case crcframe.Full, crcframe.First:
		return !inBatch && h.Seq > prev
	case crcframe.Middle, crcframe.Last:
		return inBatch && h.Seq == prev+1
	case crcframe.Pad: // no sequence of its own
		return !inBatch && h.Seq == prev
	default: // Mark, Seal: the log's last sequence, which truncations may have raised
		return !inBatch && h.Seq >= prev
	}
}

// readAhead looks past the stopping point for the evidence: whether any
// non-zero byte follows (Dirty) and whether a valid frame there proves the
// bytes durable.
func (s *File) readAhead(end *End, maxPayload int) {
	if s.Recycled() {
		s.readAheadRecycled(end, maxPayload)
		return
	}
	data, size := s.data, s.hdr.Size
	end.Dirty = end.Bad // an unfinished batch before Bad is non-zero
	if end.Reason == crcframe.CleanEnd && crcframe.IsZero(data[end.Bad:]) {
		return
	}
	if end.Reason == crcframe.CleanEnd {
		end.Reason = crcframe.GarbageAfterEnd
	}
	q := s.newSeedSearch(end.Bad, maxPayload)
	for off := end.Bad; off < size; off += 8 {
		w := data[off:min(off+8, size)]
		if crcframe.IsZero(w) {
			continue
		}
		end.Dirty = min(off+8, size)
		if off == end.Bad || off+crcframe.HeaderSize > size {
			continue
		}
		if h, _, _, ok := q.frame(off); ok {
			end.ValidAfter = true
			end.DurableAfter = max(end.DurableAfter, h.Durable)
		}
	}
}

// readAheadRecycled is readAhead in a recycled segment (FORMAT.md §9.7),
// where the bytes after the end of the frames are stale frames of the
// numbers the file held before, which never validate under this segment's
// seed: what matters after the stopping point is only whether a frame
// valid under the seed starts at an aligned offset there. A zero header
// with none after it is the clean end; a seal, or fewer bytes left than a
// frame header, ends the frames with nothing read after them (scanFrames).
// Dirty is not the last non-zero byte but the end of what a repair must
// zero: the invalid frame at Bad (through the length it claims when that
// fits, else its header) and every valid frame after it, so that a repair
// leaves a zero header at the end and no frame of this seed after it,
// and never rewrites the stale bytes.
func (s *File) readAheadRecycled(end *End, maxPayload int) {
	data, size := s.data, s.hdr.Size
	end.Dirty = end.Bad
	if end.Bad+crcframe.HeaderSize > size || end.Reason == crcframe.CleanEnd && end.Sealed {
		return // nothing after a seal, or no room for a header: not read
	}
	if end.Reason != crcframe.CleanEnd {
		end.Dirty = min(end.Bad+int64(claimedSize(data[end.Bad:], maxPayload)), size)
	}
	q := s.newSeedSearch(end.Bad+crcframe.Alignment, maxPayload)
	for off := end.Bad + crcframe.Alignment; off+crcframe.HeaderSize <= size; off += crcframe.Alignment {
		h, _, n, ok := q.frame(off)
		if !ok {
			continue
		}
		end.ValidAfter = true
		end.DurableAfter = max(end.DurableAfter, h.Durable)
		end.Dirty = max(end.Dirty, off+int64(n))
	}
	if end.Reason == crcframe.CleanEnd && end.ValidAfter {
		end.Reason = crcframe.GarbageAfterEnd
	}
}

// claimedSize is how many bytes the invalid frame header at the start of b
// covers: the frame its length claims, when that length is within
// maxPayload and the frame within b, else the header alone.
func claimedSize(b []byte, maxPayload int) int {
	if len(b) < crcframe.HeaderSize {
		return len(b)
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if uint64(n) > uint64(maxPayload) || uint64(crcframe.Size(int(min(n, crcframe.MaxPayload)))) > uint64(len(b)) {
		return crcframe.HeaderSize
	}
	return crcframe.Size(int(n))
}

// plausible reports whether b starts like a frame header: a known
// type and zero reserved bytes (bytes 20–23). Decode checks the same after
// the checksum; checking first keeps the read-ahead from computing a
// checksum over up to maxPayload bytes at nearly every offset of random
// data, which made a damaged 16 MiB segment of random payloads take seconds
// to scan, and a 64 MiB one minutes.
func plausible(b []byte) bool {
	t := crcframe.Type(b[20])
	return (t.IsRecord() || t == crcframe.Pad || t == crcframe.Mark || t == crcframe.Seal) && b[21]|b[22]|b[23] == 0
}

// guard turns a memory fault while touching the mapping (SIGBUS on a file
// truncated under the mapping, or an I/O error paging it in) into a call of
// onFault instead of a crash. Use it as: defer guard(onFault)().
//
// debug.SetPanicOnFault is per goroutine, so the guard is set and restored
// around each access.
func guard(onFault func()) func() {
	old := debug.SetPanicOnFault(true)
	return func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			onFault()
		}
	}
}
