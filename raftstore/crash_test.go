package raftstore

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// The crash variant of the cluster test (issue 10): three nodes, each a
// child process (this test binary, TestRaftCrashChild) with a raftstore
// Store, over raft.NewTCPTransport on 127.0.0.1. The parent drives 16
// clients that Apply through the leader (over the leader's stdin and
// stdout), SIGKILLs the leader under that load several times and restarts
// it from its directory, then checks that every command whose Apply
// returned nil is in every FSM, that the FSMs are identical, and that both
// hold after every node is killed and restarted.
//
// Sizes: 3 kills (about 10 s) by default; 30 with MMAPWAL_TORTURE=1
// (make torture); RAFTSTORE_CRASH_KILLS overrides both.

const (
	rcNodeEnv  = "RAFTSTORE_CRASH_NODE"  // id of the node this child runs
	rcDirEnv   = "RAFTSTORE_CRASH_DIR"   // its directory
	rcPeersEnv = "RAFTSTORE_CRASH_PEERS" // id=addr,… of every node
)

// ---------------------------------------------------------------- the child

// TestRaftCrashChild is a node when run by TestRaftCrash; otherwise it
// does nothing.
func TestRaftCrashChild(t *testing.T) {
	id := os.Getenv(rcNodeEnv)
	if id == "" {
		t.Skip("a child of TestRaftCrash only")
	}
	if err := runCrashNode(id, os.Getenv(rcDirEnv), os.Getenv(rcPeersEnv)); err != nil {
		fmt.Printf("RC fatal %v\n", err)
		os.Exit(3)
	}
}

// setFSM holds the applied command ids.
type setFSM struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (f *setFSM) Apply(l *raft.Log) any {
	if l.Type == raft.LogCommand {
		f.mu.Lock()
		f.ids[string(l.Data)] = true
		f.mu.Unlock()
	}
	return nil
}

func (f *setFSM) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.ids))
	for id := range f.ids {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (f *setFSM) Snapshot() (raft.FSMSnapshot, error) {
	b, err := json.Marshal(f.list())
	return kvSnapshot(b), err
}

func (f *setFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var ids []string
	if err := json.NewDecoder(rc).Decode(&ids); err != nil {
		return err
	}
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	f.mu.Lock()
	f.ids = m
	f.mu.Unlock()
	return nil
}

func runCrashNode(id, dir, peers string) error {
	var servers []raft.Server
	var addr string
	for _, p := range strings.Split(peers, ",") {
		pid, a, _ := strings.Cut(p, "=")
		servers = append(servers, raft.Server{ID: raft.ServerID(pid), Address: raft.ServerAddress(a)})
		if pid == id {
			addr = a
		}
	}
	store, err := Open(filepath.Join(dir, "store"), &Options{Log: smallOpts().Log})
	if err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, "snaps"), 2, hclog.NewNullLogger())
	if err != nil {
		return err
	}
	trans, err := raft.NewTCPTransport(addr, nil, 3, time.Second, io.Discard)
	if err != nil {
		return err
	}
	conf := clusterConfig(id)
	conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	conf.SnapshotThreshold, conf.TrailingLogs, conf.SnapshotInterval = 256, 128, 200*time.Millisecond
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return err
	}
	if !existing {
		if err := raft.BootstrapCluster(conf, store, store, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
			return err
		}
	}
	fsm := &setFSM{ids: map[string]bool{}}
	r, err := raft.NewRaft(conf, fsm, store, store, snaps, trans)
	if err != nil {
		return err
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Printf("RC "+format+"\n", args...)
		out.Unlock()
	}
	say("up %s", id)
	sem := make(chan struct{}, 32)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<16), 1<<16)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 2 && f[0] == "apply":
			sem <- struct{}{}
			go func(cmd string) {
				defer func() { <-sem }()
				if err := r.Apply([]byte(cmd), 3*time.Second).Error(); err != nil {
					say("err %s %v", cmd, strings.ReplaceAll(err.Error(), " ", "_"))
					return
				}
				say("ok %s", cmd)
			}(f[1])
		case len(f) == 1 && f[0] == "state":
			say("state %s %d", r.State(), r.AppliedIndex())
		case len(f) == 1 && f[0] == "dump":
			say("dump %s", strings.Join(fsm.list(), ","))
		}
	}
	// stdin closed: the parent is done with this node.
	r.Shutdown().Error()
	return store.Close()
}

// --------------------------------------------------------------- the parent

type rcNode struct {
	id, addr, dir, peers string

	mu      sync.Mutex
	cmd     *exec.Cmd
	in      io.WriteCloser
	waiting map[string]chan bool // apply id → result (true: ok)
	replies chan string          // state and dump lines
	gone    chan struct{}        // closed when the process's stdout ends
}

func (n *rcNode) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestRaftCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), rcNodeEnv+"="+n.id, rcDirEnv+"="+n.dir, rcPeersEnv+"="+n.peers)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.cmd, n.in = cmd, in
	n.waiting = map[string]chan bool{}
	n.replies = make(chan string, 16)
	n.gone = make(chan struct{})
	gone, replies := n.gone, n.replies
	n.mu.Unlock()
	go func() {
		defer close(gone)
		rd := bufio.NewReaderSize(out, 1<<20)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				break
			}
			f := strings.Fields(strings.TrimSuffix(line, "\n"))
			if len(f) < 2 || f[0] != "RC" {
				continue
			}
			switch f[1] {
			case "ok", "err":
				n.mu.Lock()
				ch := n.waiting[f[2]]
				delete(n.waiting, f[2])
				n.mu.Unlock()
				if ch != nil {
					ch <- f[1] == "ok"
				}
			case "fatal":
				fmt.Fprintf(os.Stderr, "node %s: %s", n.id, line)
			case "state", "dump":
				select {
				case replies <- strings.Join(f[1:], " "):
				default:
				}
			}
		}
		n.mu.Lock()
		for id, ch := range n.waiting {
			close(ch) // killed before it answered: not acknowledged
			delete(n.waiting, id)
		}
		n.mu.Unlock()
	}()
}

func (n *rcNode) send(line string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.in == nil {
		return false
	}
	_, err := io.WriteString(n.in, line+"\n")
	return err == nil
}

// apply sends one command and reports whether its Apply returned nil.
func (n *rcNode) apply(id string) bool {
	ch := make(chan bool, 1)
	n.mu.Lock()
	n.waiting[id] = ch
	n.mu.Unlock()
	if !n.send("apply " + id) {
		return false
	}
	select {
	case ok := <-ch:
		return ok
	case <-time.After(10 * time.Second):
		return false
	}
}

// ask sends state or dump and returns the reply ("" on a timeout).
func (n *rcNode) ask(what string) string {
	n.mu.Lock()
	replies, gone := n.replies, n.gone
	n.mu.Unlock()
	for len(replies) > 0 {
		<-replies // stale
	}
	if !n.send(what) {
		return ""
	}
	select {
	case r := <-replies:
		return r
	case <-gone:
	case <-time.After(5 * time.Second):
	}
	return ""
}

func (n *rcNode) kill() {
	n.mu.Lock()
	cmd, gone := n.cmd, n.gone
	n.in = nil
	n.mu.Unlock()
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	<-gone
}

func rcKills() int {
	if s := os.Getenv("RAFTSTORE_CRASH_KILLS"); s != "" {
		n, _ := strconv.Atoi(s)
		return n
	}
	if os.Getenv("MMAPWAL_TORTURE") != "" {
		return 30
	}
	return 3
}

func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var ls []net.Listener
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs
}

func TestRaftCrash(t *testing.T) {
	if os.Getenv(rcNodeEnv) != "" {
		t.Skip("in a child")
	}
	kills := rcKills()
	addrs := freeAddrs(t, 3)
	var peers []string
	for i, a := range addrs {
		peers = append(peers, fmt.Sprintf("n%d=%s", i, a))
	}
	root := t.TempDir()
	var nodes []*rcNode
	for i, a := range addrs {
		n := &rcNode{id: fmt.Sprintf("n%d", i), addr: a, dir: filepath.Join(root, fmt.Sprint(i)), peers: strings.Join(peers, ",")}
		n.start(t)
		nodes = append(nodes, n)
	}
	defer func() {
		for _, n := range nodes {
			n.kill()
		}
	}()

	var acked sync.Map // command id → true: its Apply returned nil
	var nAcked, nFailed atomic.Int64
	var leader atomic.Pointer[rcNode]
	findLeader := func() *rcNode {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, n := range nodes {
				if strings.HasPrefix(n.ask("state"), "state Leader") {
					return n
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no leader within 20s")
		return nil
	}
	leader.Store(findLeader())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("c%d-%d", c, seq)
				if leader.Load().apply(id) {
					acked.Store(id, true)
					nAcked.Add(1)
				} else {
					nFailed.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	start := time.Now()
	for k := range kills {
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		ld := leader.Load()
		before := nAcked.Load()
		ld.kill()
		t.Logf("kill %d: leader %s SIGKILLed after %d acknowledged commands", k+1, ld.id, before)
		ld.start(t)
		leader.Store(findLeader())
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d kills in %v: %d commands acknowledged, %d failed or unanswered", kills, time.Since(start).Round(time.Millisecond), nAcked.Load(), nFailed.Load())

	check := func(when string) {
		t.Helper()
		var want []string
		acked.Range(func(k, _ any) bool { want = append(want, k.(string)); return true })
		deadline := time.Now().Add(30 * time.Second)
		for {
			var dumps []map[string]bool
			for _, n := range nodes {
				d := n.ask("dump")
				m := map[string]bool{}
				if rest, ok := strings.CutPrefix(d, "dump "); ok {
					for _, id := range strings.Split(rest, ",") {
						m[id] = true
					}
				}
				dumps = append(dumps, m)
			}
			var missing []string
			for i, m := range dumps {
				for _, id := range want {
					if !m[id] {
						missing = append(missing, fmt.Sprintf("%s lacks %s", nodes[i].id, id))
					}
				}
			}
			same := true
			for _, m := range dumps[1:] {
				for id := range dumps[0] {
					same = same && m[id]
				}
				same = same && len(m) == len(dumps[0])
			}
			if len(missing) == 0 && same {
				t.Logf("%s: every FSM holds the %d acknowledged commands (%d applied in all)", when, len(want), len(dumps[0]))
				return
			}
			if time.Now().After(deadline) {
				if len(missing) > 5 {
					missing = append(missing[:5], fmt.Sprintf("… %d in all", len(missing)))
				}
				t.Fatalf("%s: FSM sizes %d/%d/%d; %v", when, len(dumps[0]), len(dumps[1]), len(dumps[2]), missing)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	check("after the kills")
	// Every node killed and restarted: the acknowledged commands survive.
	for _, n := range nodes {
		n.kill()
	}
	for _, n := range nodes {
		n.start(t)
	}
	findLeader()
	check("after killing and restarting every node")
	if nAcked.Load() == 0 {
		t.Fatal("no command was acknowledged")
	}
}
