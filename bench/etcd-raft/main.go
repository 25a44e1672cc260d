// The propose-to-commit harness of bench/raft_bench.cc, on etcd's raft
// library (etcd 3.4, from Debian's golang-etcd-server-dev), so that both
// cores are measured the same way on the same machine.
//
// Three RawNodes over MemoryStorage on one goroutine; messages are delivered
// by stepping the target. Each Ready: append entries and hard state to the
// storage, send messages, apply, advance (etcd 3.4's contract).
//
// Prints one line per mode: name, entries/s, allocations per entry.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"go.etcd.io/etcd/raft"
	pb "go.etcd.io/etcd/raft/raftpb"
)

type group struct {
	storages []*raft.MemoryStorage
	nodes    []*raft.RawNode
	queue    []pb.Message
	applied  []uint64
}

func newGroup(n int) *group {
	g := &group{applied: make([]uint64, n)}
	var ids []uint64
	for i := 1; i <= n; i++ {
		ids = append(ids, uint64(i))
	}
	for _, id := range ids {
		s := raft.NewMemoryStorage()
		// Start from a snapshot that holds the membership, as a bootstrapped store does.
		if err := s.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: pb.ConfState{Voters: ids}}}); err != nil {
			panic(err)
		}
		rn, err := raft.NewRawNode(&raft.Config{
			ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, Logger: quietLogger(),
		})
		if err != nil {
			panic(err)
		}
		g.storages = append(g.storages, s)
		g.nodes = append(g.nodes, rn)
	}
	if err := g.nodes[0].Campaign(); err != nil {
		panic(err)
	}
	g.drive()
	if g.nodes[0].Status().RaftState != raft.StateLeader {
		panic("node 1 is not the leader")
	}
	return g
}

func (g *group) drive() {
	for busy := true; busy; {
		busy = false
		for i, n := range g.nodes {
			for n.HasReady() {
				busy = true
				rd := n.Ready()
				if err := g.storages[i].Append(rd.Entries); err != nil {
					panic(err)
				}
				if !raft.IsEmptyHardState(rd.HardState) {
					g.storages[i].SetHardState(rd.HardState)
				}
				g.queue = append(g.queue, rd.Messages...)
				if len(rd.CommittedEntries) > 0 {
					g.applied[i] = rd.CommittedEntries[len(rd.CommittedEntries)-1].Index
				}
				n.Advance(rd)
				if fi, _ := g.storages[i].FirstIndex(); g.applied[i] > fi+4096 {
					g.storages[i].Compact(g.applied[i] - 1024)
				}
			}
			for len(g.queue) > 0 {
				busy = true
				m := g.queue[0]
				g.queue = g.queue[1:]
				g.nodes[m.To-1].Step(m)
			}
		}
	}
}

func run(name string, batch int, d time.Duration) {
	g := newGroup(3)
	payload := make([]byte, 256)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	entries := 0
	for time.Since(start) < d {
		want := g.applied[0] + uint64(batch)
		for i := 0; i < batch; i++ {
			if err := g.nodes[0].Propose(payload); err != nil {
				panic(err)
			}
		}
		g.drive()
		if g.applied[0] < want {
			panic("not committed")
		}
		entries += batch
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	fmt.Printf("%s %.0f %.1f\n", name, float64(entries)/elapsed.Seconds(), float64(after.Mallocs-before.Mallocs)/float64(entries))
}

func main() {
	seconds := 2.0
	if len(os.Args) > 1 {
		seconds, _ = strconv.ParseFloat(os.Args[1], 64)
	}
	d := time.Duration(seconds * float64(time.Second))
	run("ProposeOneAtATime", 1, d)
	run("ProposePipelined/16", 16, d)
	run("ProposePipelined/256", 256, d)
}

type nopLogger struct{ raft.Logger }

func (nopLogger) Info(...interface{})           {}
func (nopLogger) Infof(string, ...interface{})  {}
func (nopLogger) Debug(...interface{})          {}
func (nopLogger) Debugf(string, ...interface{}) {}
func (nopLogger) Warning(...interface{})        {}
func (nopLogger) Warningf(string, ...interface{}) {}

func quietLogger() raft.Logger { return nopLogger{&raft.DefaultLogger{Logger: nil}} }
