package bench

import (
	"errors"
	"sort"
	"sync"

	"github.com/mmapwal/mmapwal/internal/measure"
)

// WAL is the surface every adapter implements: just enough for the
// workloads, no more. All methods are safe for concurrent use.
//
// Records handed to Append and AppendDurable may be reused by the caller as
// soon as the call returns. A slice passed to a Replay callback is valid only
// during that call.
type WAL interface {
	// Append appends recs in order. They need not be durable before Sync.
	Append(recs [][]byte) error
	// AppendDurable appends recs in order and returns once they, and every
	// record appended before them, are durable.
	AppendDurable(recs [][]byte) error
	// Sync makes every record appended so far durable.
	Sync() error
	// Replay calls fn for every record in the log, in order, and returns how
	// many it visited. seq is the library's own index where it has one (1 for
	// the first record), otherwise the record's ordinal, from 1. Replay is
	// meant to be called once, right after Open of an existing log (or, for
	// adapters that cannot reopen, on the instance that wrote the log).
	Replay(fn func(seq uint64, b []byte) error) (int, error)
	// DiskBytes reports the space the log takes; call it after Sync.
	DiskBytes() (DiskUsage, error)
	// Close releases the log. Records appended before Close survive it.
	Close() error
}

// DiskUsage is the space a log takes on disk: Used counts the bytes up to
// the end of the last record in every file (what the format costs, without
// preallocated or recycled space), Apparent the file sizes, Allocated the
// blocks (with fallocate'd space). internal/measure owns the scan, which
// cmd/walbench shares.
type DiskUsage = measure.Usage

// Options are hints an adapter may use when it opens a log.
type Options struct {
	// SizeHint is how many bytes the caller expects to append; the
	// pebble-recycled adapter pre-writes a log file of about this size.
	SizeHint int64
}

// Workload names one of the workloads of cmd/compare, as a bit set.
type Workload uint

// The workloads. See the Run functions in workload.go.
const (
	Bulk       Workload = 1 << iota // (i), (ii): N appends then one Sync
	Serial                          // (iii): one writer, durable appends
	Concurrent                      // (iv): K writers, durable appends
	Replay                          // (v), (vi): replay the Bulk log; its disk bytes
	// All is every workload.
	All = Bulk | Serial | Concurrent | Replay
)

// Adapter describes one library configuration under test.
type Adapter struct {
	// Name is short and unique, e.g. "pebble-recycled".
	Name string
	// Desc says which library, version and configuration.
	Desc string
	// Open opens the log kept in dir, creating it if dir is empty. dir
	// exists and belongs to the adapter.
	Open func(dir string, o Options) (WAL, error)
	// Reopen reports whether Open of a dir written before sees its records.
	Reopen bool
	// Durable is false for adapters that never reach the disk (copy).
	Durable bool
	// Runs is the set of workloads cmd/compare runs on this adapter; a
	// configuration that would only repeat another one's numbers is left out.
	Runs Workload
}

var (
	registryMu sync.Mutex
	registry   = map[string]Adapter{}
)

// register adds a to the set returned by Adapters. It is called from the
// init functions of the adapter files.
func register(a Adapter) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[a.Name]; dup {
		panic("bench: adapter registered twice: " + a.Name)
	}
	registry[a.Name] = a
}

// Adapters returns every registered adapter, sorted by name.
func Adapters() []Adapter {
	registryMu.Lock()
	defer registryMu.Unlock()
	out := make([]Adapter, 0, len(registry))
	for _, a := range registry {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the adapter called name.
func Lookup(name string) (Adapter, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	a, ok := registry[name]
	return a, ok
}

// batchedAdapter returns the X+b variant of base: Batched in front of every
// log base opens.
func batchedAdapter(base Adapter, runs Workload) Adapter {
	return Adapter{
		Name:    base.Name + "+b",
		Desc:    base.Desc + ", behind the caller-side batcher",
		Reopen:  base.Reopen,
		Durable: base.Durable,
		Runs:    runs,
		Open: func(dir string, o Options) (WAL, error) {
			w, err := base.Open(dir, o)
			if err != nil {
				return nil, err
			}
			return Batched(w, DefaultBatchLimits), nil
		},
	}
}

// errClosed is returned by adapters used after Close.
var errClosed = errors.New("bench: log closed")
