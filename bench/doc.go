// Package bench compares mmapwal with the write-ahead logs that Go programs
// use today, through one small interface, WAL, and one adapter per library
// configuration. It is a separate module (bench/go.mod), so that the
// libraries it measures never become requirements of mmapwal, and it runs on
// Linux only (fdatasync, posix_fadvise and mincore through x/sys/unix).
//
// # Adapters
//
// Every adapter uses its library the way that library's own documentation
// and its main user do:
//
//	tidwall          github.com/tidwall/wal v1.2.1, default options: every Write fsyncs
//	tidwall-nosync   tidwall/wal's fastest safe setup: NoSync and NoCopy, then Sync
//	raftwal          github.com/hashicorp/raft-wal v0.4.0 as a raft.LogStore: one fsync per StoreLogs
//	rosedb           github.com/rosedblabs/wal v1.3.8: Write, then Sync for durability
//	etcd             go.etcd.io/etcd/server/v3 v3.7.3 storage/wal: Save(HardState, entries), one fdatasync per Save
//	pebble           github.com/cockroachdb/pebble/v2 v2.1.7 record.LogWriter on a fresh file, SyncRecord for durability
//	pebble-recycled  the same on a recycled (pre-written) log file, as pebble's LogRecycler hands it out
//	raw              floor: write(2) of length+CRC32C frames per call, fdatasync for durability
//	raw-chunked      floor: raw's frames built in a 1 MiB buffer, write(2) per MiB, fdatasync per Sync or durable call
//	copy             floor: copies into heap chunks; nothing is ever durable
//	mmapwal          this module's engine, SyncManual: Append, then Sync
//	mmapwal-always   the engine under SyncAlways: every append returns durable
//
// An adapter named X+b puts Batched in front of X: a caller-side batching
// goroutine like the one hashicorp/raft and etcd/raft run in front of their
// log stores, so that concurrent durable writers share one batch call and one
// sync. tidwall/wal, raft-wal, rosedblabs/wal and etcd's WAL have no group
// commit of their own; pebble's LogWriter (its flush loop) and mmapwal's Sync
// have one. raft-wal and etcd cannot append without syncing, so their bulk
// loads run through the batcher too (raftwal+b, etcd+b), as they do behind
// a raft library.
//
// Adapter.Runs says which workloads an adapter takes part in: a
// configuration that would only repeat another's numbers is left out (the
// durable calls of tidwall-nosync cost what tidwall's cost; a log's replay
// does not depend on the batcher in front of it).
//
// # Workloads
//
// RunBulk, RunSerial and RunConcurrent are the workloads of cmd/compare. Each
// is timed from the first append to the end of the final sync; Open and Close
// are not timed, except in a replay, where opening a log is part of replaying
// it. Every workload can read back what it wrote and check the count and the
// payload bytes (see Payload). A cold replay first drops the log's files from
// the page cache (DropCache); on a virtual machine the host may still cache
// them.
//
// DiskUsage separates the bytes a format needs (Used: up to the end of the
// last record in each file) from the space its files take (Apparent: file
// sizes; Allocated: blocks, with preallocation).
package bench
