package raftstore_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/mmapwal/mmapwal/raftstore"
)

// kv is the replicated state: commands are "key=value".
type kv struct {
	mu sync.Mutex
	m  map[string]string
}

func (f *kv) Apply(l *raft.Log) any {
	k, v, _ := strings.Cut(string(l.Data), "=")
	f.mu.Lock()
	f.m[k] = v
	f.mu.Unlock()
	return nil
}

func (f *kv) get(k string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[k]
}

func (f *kv) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for k, v := range f.m {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	return snapshot(b.String()), nil
}

func (f *kv) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	f.mu.Lock()
	f.m = m
	f.mu.Unlock()
	return nil
}

type snapshot string

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := io.WriteString(sink, string(s)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (snapshot) Release() {}

// A replicated key-value store on three raft nodes in one process, each
// with a raftstore.Store as its log and stable store.
func Example() {
	root, err := os.MkdirTemp("", "raftstore-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)

	ids := []string{"n0", "n1", "n2"}
	var servers []raft.Server
	for _, id := range ids {
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id)})
	}
	var (
		nodes  []*raft.Raft
		fsms   []*kv
		trans  []*raft.InmemTransport
		stores []*raftstore.Store
	)
	for _, id := range ids {
		dir := filepath.Join(root, id)
		store, err := raftstore.Open(filepath.Join(dir, "raft"), nil) // log and stable store
		if err != nil {
			panic(err)
		}
		snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, "snapshots"), 2, hclog.NewNullLogger())
		if err != nil {
			panic(err)
		}
		_, t := raft.NewInmemTransport(raft.ServerAddress(id))
		conf := raft.DefaultConfig()
		conf.LocalID = raft.ServerID(id)
		conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
		conf.Logger = hclog.NewNullLogger()
		if err := raft.BootstrapCluster(conf, store, store, snaps, t, raft.Configuration{Servers: servers}); err != nil {
			panic(err)
		}
		fsm := &kv{m: map[string]string{}}
		r, err := raft.NewRaft(conf, fsm, store, store, snaps, t)
		if err != nil {
			panic(err)
		}
		nodes, fsms, trans, stores = append(nodes, r), append(fsms, fsm), append(trans, t), append(stores, store)
	}
	for i := range trans {
		for j := range trans {
			if i != j {
				trans[i].Connect(trans[j].LocalAddr(), trans[j])
			}
		}
	}
	defer func() {
		for i, r := range nodes {
			r.Shutdown().Error()
			stores[i].Close()
		}
	}()

	// Write through the leader; every node applies it.
	var leader *raft.Raft
	for leader == nil {
		for _, r := range nodes {
			if r.State() == raft.Leader {
				leader = r
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := leader.Apply([]byte("color=blue"), time.Second).Error(); err != nil {
		panic(err)
	}
	for i, f := range fsms {
		for deadline := time.Now().Add(5 * time.Second); f.get("color") == "" && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Printf("%s: color=%s\n", ids[i], f.get("color"))
	}
	// Output:
	// n0: color=blue
	// n1: color=blue
	// n2: color=blue
}
