package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// stopContext returns the context that ends tail -f: cancelled on SIGINT (SIGTERM
// keeps its default action: the output is flushed before every wait). Tests replace it.
var stopContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

// jsonFollowed is a line of tail -f --format jsonl: schema version 1, the
// fields of dump's lines that a follower knows.
type jsonFollowed struct {
	V       int     `json:"v"`
	Seq     uint64  `json:"seq"`
	Length  int     `json:"length"`
	Payload *string `json:"payload,omitempty"`
}

// follow prints the records from lo on through a Follower, each as soon as
// NextWait returns it, until the stop context or --for (d > 0) ends it.
func (c *cli) follow(dir string, lo uint64, durable bool, d time.Duration, out recordFlags) int {
	fol, err := mmapwal.OpenFollower(dir, &mmapwal.FollowerOptions{DurableOnly: durable})
	if err != nil {
		return c.logErr(dir, err)
	}
	defer fol.Close()
	it, err := fol.NewIterator(lo)
	if err != nil {
		return c.logErr(dir, err)
	}
	defer it.Close()
	ctx, stop := stopContext()
	defer stop()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	bw := bufio.NewWriter(c.stdout)
	defer bw.Flush()
	var enc *json.Encoder
	if out.format.val == "jsonl" {
		enc = json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
	} else {
		fmt.Fprintln(bw, followHeader(out))
	}
	for {
		// Print what is there without waiting, and flush before blocking:
		// a reader of the output sees each record once it is appended.
		if !it.Next() {
			if err := bw.Flush(); err != nil {
				return c.fail(exitUnreadable, "%s: %v", dir, err)
			}
			if !it.NextWait(ctx) {
				break
			}
		}
		shown, has := renderPayload(out.payload.val, it.Value())
		if enc != nil {
			r := jsonFollowed{V: 1, Seq: it.Seq(), Length: len(it.Value())}
			if has {
				r.Payload = &shown
			}
			err = enc.Encode(r)
		} else {
			line := fmt.Sprintf("%-10d %8d", it.Seq(), len(it.Value()))
			if has {
				line += "  " + shown
			}
			_, err = fmt.Fprintln(bw, line)
		}
		if err != nil {
			return c.fail(exitUnreadable, "%s: %v", dir, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return c.fail(exitUnreadable, "%s: %v", dir, err)
	}
	switch err := it.Err(); {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return exitOK
	case errors.Is(err, mmapwal.ErrTruncated):
		return c.fail(exitUnreadable, "%s: records tail printed were truncated by the writer (%v); run tail again", dir, err)
	default:
		return c.logErr(dir, err)
	}
}

// followHeader is the header line of tail -f's table.
func followHeader(out recordFlags) string {
	h := fmt.Sprintf("%-10s %8s", "SEQ", "LENGTH")
	if _, has := renderPayload(out.payload.val, nil); has {
		h += "  PAYLOAD"
	}
	return h
}
