package main

import (
	"fmt"

	"github.com/mmapwal/mmapwal/mmapwal"
)

var quarantineCmd = &command{
	name:     "quarantine",
	synopsis: "quarantine DIR [list|rm]",
	summary:  "list or remove the files holding bytes that repairs cut",
	help: `  list  (the default) each file, the segment its bytes came from, the offset
        they were cut at (FORMAT.md §1: 0000000000000007.wal.torn-0000000000001a40
        holds the bytes cut from segment 7 at offset 0x1a40) and its size
  rm    delete them all, holding the writer's lock (exit 4 while a writer has
        the log open: its Open may be writing one)
`,
	run: runQuarantine,
}

func runQuarantine(c *cli, args []string) int {
	f := newFlags("quarantine")
	pos, st, ok := c.parseArgs(f, args, "DIR", "[list|rm]")
	if !ok {
		return st
	}
	dir, action := pos[0], "list"
	if len(pos) > 1 {
		action = pos[1]
	}
	if action != "list" && action != "rm" {
		return c.usageErr("unknown action %q: want list or rm", action)
	}
	if st := c.checkDir(dir); st != exitOK {
		return st
	}
	if action == "rm" {
		qs, err := mmapwal.RemoveQuarantine(dir)
		var n int64
		for _, q := range qs {
			n += q.Size
		}
		if len(qs) > 0 {
			fmt.Fprintf(c.stdout, "%s: removed %d quarantine %s (%s)\n", dir, len(qs), plural(len(qs), "file", "files"), size(n))
		}
		if err != nil {
			return c.logErr(dir, err)
		}
		if len(qs) == 0 {
			fmt.Fprintf(c.stdout, "%s: no quarantine file\n", dir)
		}
		return exitOK
	}
	l, st := c.openLog(dir) // a log, of a version this reads
	if l == nil {
		return st
	}
	l.Close()
	qs, err := mmapwal.QuarantineFiles(dir)
	if err != nil {
		return c.logErr(dir, err)
	}
	writeQuarantine(c.stdout, qs, dir+": ", fmt.Sprintf("'mmapwal quarantine %s rm' deletes them", dir))
	return exitOK
}
