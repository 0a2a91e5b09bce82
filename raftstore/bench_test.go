package raftstore

import (
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	raftbench "github.com/hashicorp/raft/bench"
)

// Benchmarks (issue 10): hashicorp/raft's raftbench cases on raftstore,
// raft-wal and raft-boltdb/v2, each store in its default (safe) setup, and
// the Apply throughput of a 3-node in-process cluster with 16 concurrent
// clients on each store. raftbench's StoreLog and DeleteRange cases are
// left out: they store index 0 and leave gaps, which a MonotonicLogStore
// refuses (raft never does either).
//
//	cd raftstore && go test -run '^$' -bench . -count 5 -benchtime 2s

// benchStore is one store under test.
type benchStore struct {
	name string
	open func(dir string) (raftStore, error)
}

type raftStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

var benchStores = []benchStore{
	{"raftstore", func(dir string) (raftStore, error) { return Open(dir, nil) }},
	{"raft-wal", func(dir string) (raftStore, error) {
		return raftwal.Open(dir, raftwal.WithLogger(hclog.NewNullLogger()))
	}},
	{"raft-boltdb", func(dir string) (raftStore, error) {
		return raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	}},
}

func BenchmarkStore(b *testing.B) {
	logCases := []struct {
		name string
		fn   func(*testing.B, raft.LogStore)
	}{
		{"FirstIndex", raftbench.FirstIndex},
		{"LastIndex", raftbench.LastIndex},
		{"GetLog", raftbench.GetLog},
		{"StoreLogs", raftbench.StoreLogs},
	}
	stableCases := []struct {
		name string
		fn   func(*testing.B, raft.StableStore)
	}{
		{"Set", raftbench.Set},
		{"Get", raftbench.Get},
		{"SetUint64", raftbench.SetUint64},
		{"GetUint64", raftbench.GetUint64},
	}
	for _, st := range benchStores {
		open := func(b *testing.B) raftStore {
			s, err := st.open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}
		for _, c := range logCases {
			b.Run(st.name+"/"+c.name, func(b *testing.B) { c.fn(b, open(b)) })
		}
		for _, c := range stableCases {
			b.Run(st.name+"/"+c.name, func(b *testing.B) { c.fn(b, open(b)) })
		}
	}
}

// nopFSM applies nothing: the cluster benchmark measures the log stores.
type nopFSM struct{ n atomic.Uint64 }

func (f *nopFSM) Apply(*raft.Log) any                 { f.n.Add(1); return nil }
func (f *nopFSM) Snapshot() (raft.FSMSnapshot, error) { return kvSnapshot(nil), nil }
func (f *nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

// BenchmarkClusterApply: 16 clients Apply 128-byte commands concurrently
// on the leader of a 3-node cluster (InmemTransport) whose nodes all use
// the store; ops/s is committed (and applied) commands per second.
func BenchmarkClusterApply(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			leader := benchCluster(b, st)
			// Let each store's background start-up work settle (mmapwal
			// preallocates and prefaults its next segment, raft-wal its
			// first ones): the benchmark measures the steady state.
			time.Sleep(settle)
			const clients = 16
			cmd := make([]byte, 128)
			var next atomic.Int64
			var wg sync.WaitGroup
			errc := make(chan error, clients)
			b.ResetTimer()
			start := time.Now()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if err := leader.Apply(cmd, 10*time.Second).Error(); err != nil {
							errc <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			select {
			case err := <-errc:
				b.Fatal(err)
			default:
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}

// settle is how long BenchmarkClusterApply waits before it starts timing.
var settle = 500 * time.Millisecond

// benchCluster starts 3 nodes on the store and returns the leader.
func benchCluster(b *testing.B, st benchStore) *raft.Raft {
	var servers []raft.Server
	for i := range 3 {
		id := fmt.Sprintf("n%d", i)
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id)})
	}
	var nodes []*raft.Raft
	var trans []*raft.InmemTransport
	for _, srv := range servers {
		s, err := st.open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		conf := raft.DefaultConfig()
		conf.LocalID = srv.ID
		conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
		conf.Logger = hclog.NewNullLogger()
		snaps := raft.NewInmemSnapshotStore()
		_, t := raft.NewInmemTransport(srv.Address)
		if err := raft.BootstrapCluster(conf, s, s, snaps, t, raft.Configuration{Servers: servers}); err != nil {
			b.Fatal(err)
		}
		r, err := raft.NewRaft(conf, &nopFSM{}, s, s, snaps, t)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			r.Shutdown().Error()
			s.Close()
		})
		nodes, trans = append(nodes, r), append(trans, t)
	}
	for i := range trans {
		for j := range trans {
			if i != j {
				trans[i].Connect(trans[j].LocalAddr(), trans[j])
			}
		}
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, r := range nodes {
			if r.State() == raft.Leader {
				if err := r.Barrier(5 * time.Second).Error(); err != nil {
					b.Fatal(err)
				}
				return r
			}
		}
	}
	b.Fatal("no leader")
	return nil
}
