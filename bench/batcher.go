package bench

import (
	"sync"
)

// BatchLimits bound one batch of the batcher.
type BatchLimits struct {
	// Records is the most records in one batch call.
	Records int
	// Bytes stops adding requests once a batch holds this many payload bytes.
	Bytes int
}

// DefaultBatchLimits are the limits of the X+b adapters. hashicorp/raft
// takes at most MaxAppendEntries (64) proposals per batch by default and etcd's
// raft a size budget per Ready; 4096 records or 4 MiB lets bulk workloads
// reach large batches while concurrent writers (16 at most here) never hit
// the limit.
var DefaultBatchLimits = BatchLimits{Records: 4096, Bytes: 4 << 20}

// batchReq is one queued call: records to append and, for durable calls and
// Sync, where to report the result of the batch's sync.
type batchReq struct {
	recs [][]byte
	done chan error // nil for Append
}

// batcher is the caller-side group commit that raft libraries put in front
// of a log store (hashicorp/raft's leader loop draining applyCh, etcd/raft's
// Ready): callers enqueue, one goroutine drains whatever is queued into one
// AppendDurable call on the inner log (one write and one sync), then releases
// every waiter of that batch.
type batcher struct {
	inner  WAL
	limits BatchLimits
	reqs   chan batchReq
	exited chan struct{}

	// sendMu is held for reading while a request is sent and for writing
	// while Close closes reqs, so that no send can hit a closed channel.
	sendMu sync.RWMutex
	closed bool // guarded by sendMu

	mu        sync.Mutex
	err       error // first failure of a batch no caller waited for; sticky
	closeOnce sync.Once
}

// Batched returns w behind a batcher. w.AppendDurable must make one batch
// call with one sync, and w must not be used directly afterwards.
//
// Append copies the records and returns at once; an error of the batch that
// writes them is reported by a later call. AppendDurable waits for its
// batch's sync. Sync waits for everything queued before it.
func Batched(w WAL, limits BatchLimits) WAL {
	b := &batcher{
		inner:  w,
		limits: limits,
		reqs:   make(chan batchReq, limits.Records),
		exited: make(chan struct{}),
	}
	go b.loop()
	return b
}

// loop is the batching goroutine.
func (b *batcher) loop() {
	defer close(b.exited)
	var (
		recs  [][]byte
		waits []chan error
	)
	for first := range b.reqs {
		recs, waits = append(recs[:0], first.recs...), append(waits[:0], first.done)
		size := recsBytes(first.recs)
	drain:
		for len(recs) < b.limits.Records && size < b.limits.Bytes {
			select {
			case r, ok := <-b.reqs:
				if !ok {
					break drain
				}
				recs, waits = append(recs, r.recs...), append(waits, r.done)
				size += recsBytes(r.recs)
			default:
				break drain
			}
		}
		b.commit(recs, waits)
		clear(recs) // let the copies of Append go
	}
}

// commit writes one batch and releases its waiters.
func (b *batcher) commit(recs [][]byte, waits []chan error) {
	var err error
	if len(recs) > 0 {
		err = b.inner.AppendDurable(recs)
	} else {
		err = b.inner.Sync()
	}
	unreported := err != nil
	for _, w := range waits {
		if w != nil {
			w <- err
			unreported = false
		}
	}
	if unreported {
		b.mu.Lock()
		b.err = firstErr(b.err, err)
		b.mu.Unlock()
	}
}

// enqueue queues one request, or fails if the log is closed or an earlier
// batch failed.
func (b *batcher) enqueue(r batchReq) error {
	b.mu.Lock()
	err := b.err
	b.mu.Unlock()
	if err != nil {
		return err
	}
	b.sendMu.RLock()
	defer b.sendMu.RUnlock()
	if b.closed {
		return errClosed
	}
	b.reqs <- r
	return nil
}

// Append queues copies of recs (in one allocation).
func (b *batcher) Append(recs [][]byte) error {
	buf := make([]byte, 0, recsBytes(recs))
	cp := make([][]byte, len(recs))
	for i, r := range recs {
		buf = append(buf, r...)
		cp[i] = buf[len(buf)-len(r) : len(buf) : len(buf)]
	}
	return b.enqueue(batchReq{recs: cp})
}

// AppendDurable queues recs and waits for their batch's sync.
func (b *batcher) AppendDurable(recs [][]byte) error {
	return b.wait(recs)
}

// Sync waits for everything queued so far to be written and synced.
func (b *batcher) Sync() error {
	return b.wait(nil)
}

// wait queues recs with a waiter and blocks until its batch is synced.
func (b *batcher) wait(recs [][]byte) error {
	done := make(chan error, 1)
	if err := b.enqueue(batchReq{recs: recs, done: done}); err != nil {
		return err
	}
	return <-done
}

// Replay replays the inner log.
func (b *batcher) Replay(fn func(uint64, []byte) error) (int, error) {
	return b.inner.Replay(fn)
}

// DiskBytes reports the inner log's usage.
func (b *batcher) DiskBytes() (DiskUsage, error) { return b.inner.DiskBytes() }

// Close drains the queue, stops the goroutine and closes the inner log. No
// call may be in flight.
func (b *batcher) Close() error {
	err := errClosed
	b.closeOnce.Do(func() {
		b.sendMu.Lock()
		b.closed = true
		close(b.reqs)
		b.sendMu.Unlock()
		<-b.exited
		b.mu.Lock()
		err = b.err
		b.mu.Unlock()
		err = firstErr(err, b.inner.Close())
	})
	return err
}

// recsBytes is the payload size of recs.
func recsBytes(recs [][]byte) int {
	n := 0
	for _, r := range recs {
		n += len(r)
	}
	return n
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
