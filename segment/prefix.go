package segment

import "github.com/mmapwal/mmapwal/crcframe"

// ScanPrefix scans the segment as if it ended at limit, a frame boundary:
// what a truncation that zeroes everything from limit on leaves. It is how
// a reader that must not write sees a truncation that is pending (decided,
// not yet carried out). The bytes from limit on are never read.
//
// A batch that limit cuts through ends at limit: when the valid frames end
// exactly there inside a batch, its records are visited and belong to the
// prefix, as the truncation's retype of the frame before limit (a First or
// Middle frame becoming a Full or Last one) would make them.
func (s *File) ScanPrefix(prevSeq uint64, maxPayload int, limit int64, visit Visit) (end End) {
	limit = min(max(limit, HeaderSize), s.hdr.Size)
	v := *s
	v.data, v.hdr.Size = s.data[:limit], limit
	end = v.Scan(prevSeq, maxPayload, visit)
	if end.OpenBatch == 0 || end.Bad != limit || end.Reason != crcframe.CleanEnd {
		return end
	}
	// The frames of the open batch were all checked by the scan; decode them
	// again to visit them. A fault leaves end as the scan described it.
	var recs []batchRecord
	closed := end
	func() {
		defer guard(func() { recs = nil })()
		for off := end.OpenBatch; off < limit; {
			h, payload, n, err := crcframe.Decode(v.data[off:], s.seed, maxPayload)
			if err != nil {
				recs = nil
				return
			}
			if h.Type.IsRecord() {
				recs = append(recs, batchRecord{off, h, payload})
				closed.LastSeq = h.Seq
			}
			closed.Durable = max(closed.Durable, h.Durable)
			off += int64(n)
		}
	}()
	if len(recs) == 0 {
		return end
	}
	for _, r := range recs {
		visit(r.off, r.h, r.payload)
	}
	closed.Records += len(recs)
	closed.Offset, closed.OpenBatch, closed.Marked = limit, 0, false
	return closed
}
