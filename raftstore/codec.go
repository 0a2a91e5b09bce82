package raftstore

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// One raft.Log is one mmapwal record whose sequence is the raft index (the
// index is not stored again). The record:
//
//	+---------+-------------+------+-------------+------+-------------+------------+-------------+------------------+
//	| version | Term        | Type | len(Data)   | Data | len(Ext)    | Extensions | AppendedAt  | commit index     |
//	| 1 byte  | uvarint     | u8   | uvarint     |      | uvarint     |            | varint ns   | uvarint, if flag |
//	+---------+-------------+------+-------------+------+-------------+------------+-------------+------------------+
//
// version is recordV1, with flagCommit set when the record carries the
// commit index raft staged before the batch it ends (StageCommitIndex).
// AppendedAt is Unix nanoseconds, 0 for the zero time. Nothing may follow
// the last field; a reader refuses other versions and flags.
const (
	recordV1   = 1
	flagCommit = 0x80
)

// appendRecord appends the encoding of lg to b; commit 0 means no commit
// index.
func appendRecord(b []byte, lg *raft.Log, commit uint64) []byte {
	v := byte(recordV1)
	if commit != 0 {
		v |= flagCommit
	}
	b = append(b, v)
	b = binary.AppendUvarint(b, lg.Term)
	b = append(b, byte(lg.Type))
	b = binary.AppendUvarint(b, uint64(len(lg.Data)))
	b = append(b, lg.Data...)
	b = binary.AppendUvarint(b, uint64(len(lg.Extensions)))
	b = append(b, lg.Extensions...)
	var ns int64
	if !lg.AppendedAt.IsZero() {
		ns = lg.AppendedAt.UnixNano()
	}
	b = binary.AppendVarint(b, ns)
	if commit != 0 {
		b = binary.AppendUvarint(b, commit)
	}
	return b
}

// recordView is a decoded record whose byte fields alias the record.
type recordView struct {
	term, commit uint64
	typ          raft.LogType
	data, ext    []byte
	appendedAt   int64
}

// parseRecord decodes b without copying.
func parseRecord(b []byte) (recordView, bool) {
	var r recordView
	if len(b) < 1 || b[0]&^flagCommit != recordV1 {
		return r, false
	}
	hasCommit := b[0]&flagCommit != 0
	p := 1
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b[p:])
		if n <= 0 {
			return 0, false
		}
		p += n
		return v, true
	}
	bytesField := func() ([]byte, bool) {
		n, ok := uv()
		if !ok || n > uint64(len(b)-p) {
			return nil, false
		}
		f := b[p : p+int(n)]
		p += int(n)
		return f, true
	}
	var ok bool
	if r.term, ok = uv(); !ok || p >= len(b) {
		return r, false
	}
	r.typ = raft.LogType(b[p])
	p++
	if r.data, ok = bytesField(); !ok {
		return r, false
	}
	if r.ext, ok = bytesField(); !ok {
		return r, false
	}
	ns, n := binary.Varint(b[p:])
	if n <= 0 {
		return r, false
	}
	p += n
	r.appendedAt = ns
	if hasCommit {
		if r.commit, ok = uv(); !ok || r.commit == 0 {
			return r, false
		}
	}
	return r, p == len(b)
}

// decodeInto fills out from the record of index idx, copying Data and
// Extensions (raft keeps them) into one allocation.
func decodeInto(b []byte, idx uint64, out *raft.Log) error {
	r, ok := parseRecord(b)
	if !ok {
		return fmt.Errorf("%w: index %d", ErrBadRecord, idx)
	}
	out.Index, out.Term, out.Type = idx, r.term, r.typ
	out.Data, out.Extensions = nil, nil
	if n := len(r.data) + len(r.ext); n > 0 {
		buf := make([]byte, n)
		copy(buf, r.data)
		copy(buf[len(r.data):], r.ext)
		if len(r.data) > 0 {
			out.Data = buf[:len(r.data):len(r.data)]
		}
		if len(r.ext) > 0 {
			out.Extensions = buf[len(r.data):]
		}
	}
	out.AppendedAt = time.Time{}
	if r.appendedAt != 0 {
		out.AppendedAt = time.Unix(0, r.appendedAt)
	}
	return nil
}
