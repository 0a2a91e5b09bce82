package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/mmapwal/mmapwal/mmapwal"
)

var dumpCmd = &command{
	name:     "dump",
	synopsis: "dump DIR [--from SEQ] [--to SEQ] [--limit N] [--payload P] [--format F]",
	summary:  "the records, with where and how each is stored",
	help: `flags:
  --from SEQ     the first record (default: FirstSeq)
  --to SEQ       the last record (default: LastSeq)
  --limit N      at most N records (default 0: no limit)
  --payload P    none, len (default), hex, base64, or text (printable UTF-8 as it
                 is, every other byte escaped: \n, \t, \\, \xHH)
  --format F     table (default: aligned columns; long payloads are clipped) or
                 jsonl (one JSON object a line, for scripts):
                 {"v":1,"seq":N,"segment":"NAME","offset":N,"length":N,
                  "type":"full|first|middle|last","durable":N,"crc":N}
                 plus "payload" (a string) with --payload hex, base64 or text.
                 offset is the frame's in its segment, durable the frame's
                 durable watermark (its segment was durable up to there when
                 it was written), crc its stored CRC-32C.
Records after a torn tail or damage are not part of the log: the dump ends
there (a note on stderr says why; exit 3 for damage to durable data).
`,
	run: runDump,
}

var tailCmd = &command{
	name:     "tail",
	synopsis: "tail DIR [-n N] [--from SEQ] [--durable] [--payload P] [--format F] [-f [--for D]]",
	summary:  "the last records, and with -f the new ones as they are appended",
	help: `flags:
  -n N         the last N records (default 10); with --from, at most N from there
  --from SEQ   start at SEQ instead and print to the end
  --durable    only records the files prove durable (up to DurableSeq)
  --payload P  as dump's, default text
  --format F   as dump's: table (default) or jsonl
  -f           then keep printing records as a writer (in any process)
               appends them, across rotation and restarts, until SIGINT (exit
               0). It reads through a follower: it takes no lock and the writer
               never waits for it. Each line then holds only SEQ, LENGTH and
               PAYLOAD (jsonl: {"v":1,"seq":N,"length":N} plus "payload"): a
               follower does not report where a frame lies. With --durable it
               prints a record only once it is durable. If the writer truncates
               records it printed, tail -f stops with exit 4.
  --for D      with -f: stop following after D (e.g. 30s), exit 0
`,
	run: runTail,
}

// recordFlags are the output flags dump and tail share.
type recordFlags struct {
	payload *choice
	format  *choice
}

func addRecordFlags(f *flags, payload string) recordFlags {
	r := recordFlags{
		payload: newChoice(payload, "none", "len", "hex", "base64", "text"),
		format:  newChoice("table", "table", "jsonl"),
	}
	f.Var(r.payload, "payload", "none, len, hex, base64 or text")
	f.Var(r.format, "format", "table or jsonl")
	return r
}

func runDump(c *cli, args []string) int {
	f := newFlags("dump")
	from := f.Uint64("from", 0, "the first record (default FirstSeq)")
	to := f.Uint64("to", 0, "the last record (default LastSeq)")
	limit := f.Int("limit", 0, "at most N records (0: no limit)")
	out := addRecordFlags(f, "len")
	pos, st, ok := c.parseArgs(f, args, "DIR")
	if !ok {
		return st
	}
	switch {
	case *limit < 0:
		return c.usageErr("invalid value %d for flag -limit: must not be negative", *limit)
	case f.set["from"] && f.set["to"] && *from > *to:
		return c.usageErr("--from %d is above --to %d", *from, *to)
	}
	dir := pos[0]
	l, st := c.openLog(dir)
	if l == nil {
		return st
	}
	defer l.Close()
	lo, hi := l.FirstSeq(), l.LastSeq()
	if f.set["from"] {
		lo = *from
	}
	if f.set["to"] {
		hi = min(hi, *to)
	}
	return c.records(dir, l, lo, hi, *limit, out)
}

func runTail(c *cli, args []string) int {
	f := newFlags("tail")
	n := f.Int("n", 10, "the last N records")
	from := f.Uint64("from", 0, "start at SEQ and print to the end")
	durable := f.Bool("durable", false, "only records proven durable")
	follow := f.Bool("f", false, "follow the writer")
	forD := f.Duration("for", 0, "with -f: stop after D")
	out := addRecordFlags(f, "text")
	pos, st, ok := c.parseArgs(f, args, "DIR")
	if !ok {
		return st
	}
	switch {
	case f.set["for"] && !*follow:
		return c.usageErr("--for needs -f")
	case *forD < 0:
		return c.usageErr("invalid value %v for flag -for: must not be negative", *forD)
	case *n < 0:
		return c.usageErr("invalid value %d for flag -n: must not be negative", *n)
	}
	dir := pos[0]
	l, st := c.openLog(dir)
	if l == nil {
		return st
	}
	defer l.Close()
	hi := l.LastSeq()
	if *durable {
		hi = min(hi, l.DurableSeq())
	}
	if *follow {
		lo := *from
		if !f.set["from"] {
			var err error
			if lo, err = lastN(l, hi, *n); err != nil {
				return c.logErr(dir, err)
			}
		}
		l.Close()
		return c.follow(dir, lo, *durable, *forD, out)
	}
	if f.set["from"] {
		limit := 0
		if f.set["n"] {
			limit = *n
		}
		return c.records(dir, l, *from, hi, limit, out)
	}
	lo, err := lastN(l, hi, *n)
	if err != nil {
		return c.logErr(dir, err)
	}
	return c.records(dir, l, lo, hi, 0, out)
}

// lastN returns the sequence of the first of the last n records up to hi
// (hi+1 when n is 0). Sequences may have gaps (AppendSeq), so the window
// grows until it holds n records or reaches FirstSeq.
func lastN(l *mmapwal.Log, hi uint64, n int) (uint64, error) {
	first := l.FirstSeq()
	if n == 0 || hi < first {
		return hi + 1, nil
	}
	for span := uint64(n); ; span *= 2 {
		lo := first
		if hi-first >= span {
			lo = hi - span + 1
		}
		seqs, err := seqsIn(l, lo, hi)
		switch {
		case err != nil:
			return 0, err
		case len(seqs) >= n:
			return seqs[len(seqs)-n], nil
		case lo == first:
			return first, nil // the log holds fewer than n
		}
	}
}

// seqsIn returns the sequences of the records in [lo, hi].
func seqsIn(l *mmapwal.Log, lo, hi uint64) ([]uint64, error) {
	it, err := l.NewIterator(lo)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var seqs []uint64
	for it.Next() && it.Seq() <= hi {
		seqs = append(seqs, it.Seq())
	}
	return seqs, it.Err()
}

// records prints the records lo..hi (at most limit of them, 0: all) and a
// note on stderr when the log's valid records end before its files do.
func (c *cli) records(dir string, l *mmapwal.Log, lo, hi uint64, limit int, out recordFlags) int {
	bw := bufio.NewWriter(c.stdout)
	p := newPrinter(bw, out)
	err := eachRecord(l, lo, hi, limit, p.print)
	p.flush()
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return c.logErr(dir, err)
	}
	return c.endNote(dir, l)
}

// endNote writes, for a log whose valid records end at a torn tail or
// damage, one line on stderr, and returns the status: 3 for damage.
func (c *cli) endNote(dir string, l *mmapwal.Log) int {
	rec := l.Recovery()
	switch {
	case rec.Corruption != nil:
		ce := rec.Corruption
		c.fail(exitCorrupt, "%s: the log's valid records end at %d: damage to durable data in %s at offset %d: %s (see 'mmapwal verify %s')",
			dir, l.LastSeq(), ce.Segment, ce.Offset, ce.Reason.String(), dir)
		return exitCorrupt
	case rec.TornTail != nil:
		tt := rec.TornTail
		if _, live := writer(dir); !live {
			c.fail(exitOK, "note: %s: a torn tail follows record %d in %s at offset %d (%s, never acknowledged; 'mmapwal repair %s --apply' cuts it)",
				dir, l.LastSeq(), tt.Segment, tt.Offset, size(tt.BytesDropped), dir)
		}
	}
	return exitOK
}

// eachRecord calls fn for the records lo..hi, at most limit of them.
func eachRecord(l *mmapwal.Log, lo, hi uint64, limit int, fn func(mmapwal.RecordFrame, []byte) error) error {
	if lo > hi {
		return nil
	}
	it, err := l.NewIterator(lo)
	if err != nil {
		return err
	}
	defer it.Close()
	for n := 0; (limit == 0 || n < limit) && it.Next() && it.Seq() <= hi; n++ {
		fr, err := l.Frame(it.Seq())
		if err != nil {
			return err
		}
		if err := fn(fr, it.Value()); err != nil {
			return err
		}
	}
	return it.Err()
}

// printer prints records as a table or as JSON lines.
type printer struct {
	w       io.Writer
	out     recordFlags
	t       *table
	rows    int
	encoder *json.Encoder
}

func newPrinter(w io.Writer, out recordFlags) *printer {
	p := &printer{w: w, out: out}
	if out.format.val == "jsonl" {
		p.encoder = json.NewEncoder(w)
		p.encoder.SetEscapeHTML(false)
	} else {
		p.t = newTable(w, "")
	}
	return p
}

// tableRows bounds the rows aligned together, so that a long dump streams.
const tableRows = 1000

// payloadWidth is where a table clips a payload.
const payloadWidth = 40

// jsonRecord is a line of --format jsonl: schema version 1.
type jsonRecord struct {
	V       int     `json:"v"`
	Seq     uint64  `json:"seq"`
	Segment string  `json:"segment"`
	Offset  int64   `json:"offset"`
	Length  int     `json:"length"`
	Type    string  `json:"type"`
	Durable uint32  `json:"durable"`
	CRC     uint32  `json:"crc"`
	Payload *string `json:"payload,omitempty"`
}

func (p *printer) print(fr mmapwal.RecordFrame, payload []byte) error {
	shown, has := renderPayload(p.out.payload.val, payload)
	if p.encoder != nil {
		r := jsonRecord{V: 1, Seq: fr.Seq, Segment: fr.Segment, Offset: fr.Offset, Length: fr.Length,
			Type: fr.Type.String(), Durable: fr.Durable, CRC: fr.CRC}
		if has {
			r.Payload = &shown
		}
		return p.encoder.Encode(r)
	}
	if p.rows%tableRows == 0 {
		p.t.flush()
		p.t.row(p.header()...)
	}
	p.rows++
	cells := []any{fr.Seq, fr.Segment, fr.Offset}
	if p.out.payload.val != "none" {
		cells = append(cells, fr.Length)
	}
	cells = append(cells, fr.Type, fr.Durable, fmt.Sprintf("0x%08x", fr.CRC))
	if has {
		cells = append(cells, clip(shown, payloadWidth))
	}
	p.t.row(cells...)
	return nil
}

func (p *printer) header() []any {
	h := []any{"SEQ", "SEGMENT", "OFFSET"}
	if p.out.payload.val != "none" {
		h = append(h, "LENGTH")
	}
	h = append(h, "TYPE", "DURABLE", "CRC")
	if _, has := renderPayload(p.out.payload.val, nil); has {
		h = append(h, "PAYLOAD")
	}
	return h
}

func (p *printer) flush() {
	if p.t != nil {
		p.t.flush()
	}
}

// renderPayload returns the payload as --payload says, and whether it is
// shown at all.
func renderPayload(how string, b []byte) (string, bool) {
	switch how {
	case "hex":
		return hex.EncodeToString(b), true
	case "base64":
		return base64.StdEncoding.EncodeToString(b), true
	case "text":
		return escapeText(b), true
	}
	return "", false
}
