#include "raft/raft_sim.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "common/check.h"

namespace tinykv::raft::sim {
namespace {

using eraftpb::Entry;
using eraftpb::Message;

// Index and term of the bootstrap snapshot every initial member starts from
// (as TinyKV's raftstore bootstraps at 5): the log never starts at 1, so a
// node added later always gets its configuration from a snapshot.
constexpr uint64_t kInitIndex = 5;
constexpr uint64_t kInitTerm = 5;

struct SmEntry {
  uint64_t index;
  uint64_t term;
  std::string data;  // "conf" for a configuration change, "" for an empty entry
  bool operator==(const SmEntry&) const = default;
};

std::string EncodeSm(const std::vector<SmEntry>& sm) {
  std::string out;
  for (const auto& e : sm) out += fmt::format("{} {} {}\n", e.index, e.term, e.data);
  return out;
}

std::vector<SmEntry> DecodeSm(const std::string& s) {
  std::vector<SmEntry> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    std::string line = s.substr(pos, nl - pos);
    pos = nl + 1;
    size_t a = line.find(' '), b = line.find(' ', a + 1);
    out.push_back(SmEntry{std::stoull(line.substr(0, a)),
                          std::stoull(line.substr(a + 1, b - a - 1)), line.substr(b + 1)});
  }
  return out;
}

struct Node {
  uint64_t id = 0;
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<RawNode> raw;  // null while down
  std::vector<SmEntry> sm;       // the applied entries (durable with the apply)
  uint64_t applied = 0;
  bool up() const { return raw != nullptr; }
};

struct InFlight {
  uint64_t deliver_at;
  uint64_t seq;
  Message msg;
  bool operator>(const InFlight& o) const {
    return std::tie(deliver_at, seq) > std::tie(o.deliver_at, o.seq);
  }
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& o) : o_(o), rng_(o.seed) {}

  std::optional<Violation> Run() {
    for (uint64_t id = 1; id <= static_cast<uint64_t>(o_.nodes); ++id) {
      voters_.insert(id);
      known_.insert(id);
    }
    next_id_ = o_.nodes + 1;
    for (uint64_t id : voters_) {
      Node& n = nodes_[id];
      n.id = id;
      n.storage = std::make_unique<MemoryStorage>();
      eraftpb::Snapshot snap;
      snap.mutable_metadata()->set_index(kInitIndex);
      snap.mutable_metadata()->set_term(kInitTerm);
      for (uint64_t v : voters_) snap.mutable_metadata()->mutable_conf_state()->add_nodes(v);
      TKV_CHECK(n.storage->ApplySnapshot(snap) == Error::kOk);
      eraftpb::HardState hs;
      hs.set_term(kInitTerm);
      hs.set_commit(kInitIndex);
      n.storage->SetHardState(hs);
      n.applied = kInitIndex;
      Start(n);
    }
    for (step_ = 0; step_ < o_.steps && !violation_; ++step_) {
      Step();
      CheckCheap();
      if (step_ % 10 == 0) CheckExpensive();
    }
    if (!violation_) CheckExpensive();
    return violation_;
  }

  SimStats stats;

 private:
  // ---- Nodes ----

  void Start(Node& n) {
    Config c;
    c.id = n.id;
    c.election_tick = 10;
    c.heartbeat_tick = 2;
    c.applied = n.applied;
    c.pre_vote = o_.pre_vote;
    c.check_quorum = o_.check_quorum;
    c.max_inflight_msgs = 4;
    c.max_size_per_msg = 64;
    c.random_seed = o_.seed * 1000003 + n.id * 7919 + static_cast<uint64_t>(stats.crashes);
    c.tag = fmt::format("[sim {} node {}]", o_.seed, n.id);
    if (!o_.verbose) c.logger = quiet_;
    auto raw = RawNode::Create(c, n.storage.get());
    TKV_CHECK(raw.ok(), "{}", raw.status().ToString());
    n.raw = std::move(raw).value();
  }

  void Crash(Node& n) {
    Log("crash {}", n.id);
    n.raw.reset();
    ++stats.crashes;
    leader_tail_.erase(n.id);
  }

  // A node is created when the first message for it arrives after it was
  // added (as a store creates a peer on demand): empty, with no configuration.
  Node* NodeFor(uint64_t id) {
    auto it = nodes_.find(id);
    if (it != nodes_.end()) return &it->second;
    if (!known_.count(id)) return nullptr;
    Node& n = nodes_[id];
    n.id = id;
    n.storage = std::make_unique<MemoryStorage>();
    Start(n);
    return &n;
  }

  // ---- The driver ----

  void HandleReadies(Node& n) {
    for (int guard = 0; n.up() && n.raw->HasReady(); ++guard) {
      TKV_CHECK(guard < 1000, "ready loop does not settle");
      Ready rd = n.raw->GetReady();
      for (auto& m : rd.messages) Enqueue(std::move(m));
      if (o_.bug_ack_before_persist) {
        for (auto& m : rd.persisted_messages) Enqueue(std::move(m));
      }
      if (rng_.Chance(o_.crash_mid_ready)) {
        Crash(n);  // what this Ready asked to persist is lost
        return;
      }
      if (rd.snapshot) InstallSnapshot(n, *rd.snapshot);
      // Entries that start at or before the stored tail replace a divergent suffix.
      if (!rd.entries.empty() && rd.entries.front().index() <= n.storage->LastIndex())
        ++stats.log_repairs;
      n.storage->Append(rd.entries);
      if (rd.hard_state) {
        eraftpb::HardState hs = *rd.hard_state;
        if (o_.bug_forget_vote) hs.set_vote(0);
        n.storage->SetHardState(hs);
      }
      if (!o_.bug_ack_before_persist) {
        for (auto& m : rd.persisted_messages) Enqueue(std::move(m));
      }
      for (const Entry& e : rd.committed_entries) Apply(n, e);
      n.raw->Advance(rd);
      if (n.applied > 0) n.raw->AdvanceApply(n.applied);
      ObserveCommit(n);
    }
  }

  void InstallSnapshot(Node& n, const eraftpb::Snapshot& snap) {
    TKV_CHECK(n.storage->ApplySnapshot(snap) == Error::kOk);
    n.sm = DecodeSm(snap.data());
    n.applied = snap.metadata().index();
    ++stats.snapshots_installed;
    for (const auto& e : n.sm) Record(n, e);
  }

  void Apply(Node& n, const Entry& e) {
    if (e.index() <= n.applied) return;  // covered by a snapshot
    TKV_CHECK(e.index() == n.applied + 1, "node {} applies {} after {}", n.id, e.index(),
              n.applied);
    SmEntry se{e.index(), e.term(), e.data()};
    if (e.entry_type() == eraftpb::EntryConfChange) {
      eraftpb::ConfChange cc;
      TKV_CHECK(cc.ParseFromString(e.data()));
      eraftpb::ConfState cs = n.raw->ApplyConfChange(cc);
      n.storage->SetConfState(cs);
      se.data =
          fmt::format("conf {} {}", eraftpb::ConfChangeType_Name(cc.change_type()), cc.node_id());
      ++stats.conf_changes_applied;
      if (n.raw->raft().state() == StateRole::kLeader) TrackMembership(cs);
    }
    n.sm.push_back(se);
    n.applied = e.index();
    Record(n, se);
  }

  void TrackMembership(const eraftpb::ConfState& cs) {
    voters_ = std::set<uint64_t>(cs.nodes().begin(), cs.nodes().end());
    learners_ = std::set<uint64_t>(cs.learners().begin(), cs.learners().end());
  }

  // ---- The network ----

  void Enqueue(Message m) {
    if (cut_.count({m.from(), m.to()})) return Dropped(m);
    if (rng_.Chance(o_.drop)) return Dropped(m);
    uint64_t at = now_ + rng_.Uniform(o_.max_delay + 1);
    if (rng_.Chance(o_.duplicate)) {
      inflight_.push(InFlight{now_ + rng_.Uniform(o_.max_delay + 1), seq_++, m});
    }
    inflight_.push(InFlight{at, seq_++, std::move(m)});
  }

  void Dropped(const Message& m) {
    auto it = nodes_.find(m.from());
    if (it == nodes_.end() || !it->second.up()) return;
    if (m.msg_type() == eraftpb::MsgSnapshot) {
      it->second.raw->ReportSnapshot(m.to(), SnapshotStatus::kFailure);
    } else if (rng_.Chance(0.2)) {
      it->second.raw->ReportUnreachable(m.to());
    }
  }

  void Deliver() {
    while (!inflight_.empty() && inflight_.top().deliver_at <= now_) {
      // top() is const only to protect the heap order; the message is not part of it.
      Message m = std::move(const_cast<InFlight&>(inflight_.top()).msg);
      inflight_.pop();
      if (cut_.count({m.from(), m.to()})) {
        Dropped(m);
        continue;
      }
      Node* n = NodeFor(m.to());
      if (n == nullptr || !n->up()) {
        Dropped(m);
        continue;
      }
      (void)n->raw->Step(m);
      if (m.msg_type() == eraftpb::MsgSnapshot) {
        auto from = nodes_.find(m.from());
        if (from != nodes_.end() && from->second.up()) {
          from->second.raw->ReportSnapshot(m.to(), SnapshotStatus::kFinish);
          HandleReadies(from->second);
        }
      }
      HandleReadies(*n);
    }
  }

  // ---- One step ----

  Node* RandomUpNode() {
    std::vector<Node*> up;
    for (auto& [id, n] : nodes_) {
      if (n.up()) up.push_back(&n);
    }
    return up.empty() ? nullptr : up[rng_.Uniform(up.size())];
  }

  Node* Leader() {
    Node* best = nullptr;
    for (auto& [id, n] : nodes_) {
      if (n.up() && n.raw->raft().state() == StateRole::kLeader &&
          (best == nullptr || n.raw->raft().term() > best->raw->raft().term())) {
        best = &n;
      }
    }
    return best;
  }

  void Step() {
    double r = static_cast<double>(rng_.Next() >> 11) * 0x1.0p-53;
    if ((r -= o_.propose) < 0) {
      if (Node* n = RandomUpNode()) {
        if (n->raw->Propose(fmt::format("p{}", proposals_++)) == Error::kOk)
          Log("propose on {}", n->id);
        HandleReadies(*n);
      }
    } else if ((r -= o_.crash) < 0) {
      if (Node* n = RandomUpNode()) Crash(*n);
    } else if ((r -= o_.restart) < 0) {
      std::vector<Node*> down;
      for (auto& [id, n] : nodes_) {
        if (!n.up()) down.push_back(&n);
      }
      if (!down.empty()) {
        Node* n = down[rng_.Uniform(down.size())];
        Log("restart {}", n->id);
        Start(*n);
        HandleReadies(*n);
      }
    } else if ((r -= o_.partition) < 0) {
      cut_.clear();
      std::vector<uint64_t> ids(known_.begin(), known_.end());
      std::set<uint64_t> side;
      for (uint64_t id : ids) {
        if (rng_.Chance(0.5)) side.insert(id);
      }
      for (uint64_t a : ids) {
        for (uint64_t b : ids) {
          if (side.count(a) != side.count(b)) cut_.insert({a, b});
        }
      }
      Log("partition, {} links cut", cut_.size());
    } else if ((r -= o_.heal) < 0) {
      cut_.clear();
    } else if ((r -= o_.conf_change) < 0) {
      ChangeMembership();
    } else if ((r -= o_.transfer) < 0) {
      if (Node* lead = Leader()) {
        std::vector<uint64_t> vs(voters_.begin(), voters_.end());
        uint64_t target = vs[rng_.Uniform(vs.size())];
        Log("transfer {} -> {}", lead->id, target);
        lead->raw->TransferLeader(target);
        ++stats.transfers;
        HandleReadies(*lead);
      }
    } else if ((r -= o_.compact) < 0) {
      if (Node* n = RandomUpNode()) Compact(*n);
    } else {
      ++now_;
      for (auto& [id, n] : nodes_) {
        if (!n.up()) continue;
        n.raw->Tick();
        HandleReadies(n);
      }
      Deliver();
    }
  }

  void ChangeMembership() {
    Node* lead = Leader();
    if (lead == nullptr) return;
    eraftpb::ConfChange cc;
    std::vector<uint64_t> removable;
    for (uint64_t v : voters_) {
      if (v != lead->id) removable.push_back(v);
    }
    uint64_t choice = rng_.Uniform(4);
    if (choice == 0 && voters_.size() > 3 && !removable.empty()) {
      cc.set_change_type(eraftpb::RemoveNode);
      cc.set_node_id(removable[rng_.Uniform(removable.size())]);
    } else if (choice == 1 && !learners_.empty()) {
      cc.set_change_type(eraftpb::AddNode);  // promote a learner
      cc.set_node_id(*learners_.begin());
    } else if (choice == 2 && voters_.size() + learners_.size() < 7) {
      cc.set_change_type(eraftpb::AddLearnerNode);
      cc.set_node_id(next_id_);
    } else if (choice == 3 && voters_.size() < 5) {
      cc.set_change_type(eraftpb::AddNode);
      cc.set_node_id(next_id_);
    } else {
      return;
    }
    if (lead->raw->ProposeConfChange(cc) == Error::kOk) {
      Log("propose {} {} on {}", eraftpb::ConfChangeType_Name(cc.change_type()), cc.node_id(),
          lead->id);
      if (cc.node_id() == next_id_) ++next_id_;
      known_.insert(cc.node_id());
    }
    HandleReadies(*lead);
  }

  void Compact(Node& n) {
    uint64_t first = n.storage->FirstIndex();
    if (n.applied < first + 8 || n.applied > n.storage->LastIndex()) return;
    auto snap =
        n.storage->CreateSnapshot(n.applied, n.storage->InitialState().conf_state, EncodeSm(n.sm));
    if (!snap.has_value()) return;
    uint64_t compact_to = n.applied - rng_.Uniform(3);
    if (compact_to > first) (void)n.storage->Compact(compact_to);
    Log("compact {} to {}", n.id, compact_to);
  }

  // ---- The checker (Raft §5) ----

  void Fail(const std::string& property, const std::string& detail) {
    if (!violation_) violation_ = Violation{property, fmt::format("step {}: {}", step_, detail)};
  }

  // State Machine Safety: no two nodes apply different entries at an index.
  void Record(const Node& n, const SmEntry& e) {
    auto [it, inserted] = applied_.emplace(e.index, e);
    if (!inserted && !(it->second == e)) {
      Fail(
          "State Machine Safety",
          fmt::format("node {} applied [{} t{} '{}'] where another applied [{} t{} '{}']", n.id,
                      e.index, e.term, e.data, it->second.index, it->second.term, it->second.data));
    }
  }

  // Records entries a leader committed, with the term they were committed in.
  void ObserveCommit(const Node& n) {
    const Raft& r = n.raw->raft();
    if (r.state() != StateRole::kLeader) return;
    uint64_t commit = r.log().committed();
    stats.max_commit = std::max(stats.max_commit, commit);
    for (uint64_t i = std::max(kInitIndex + 1, r.log().FirstIndex()); i <= commit; ++i) {
      if (committed_in_.count(i)) continue;
      committed_in_[i] = {r.term(), r.log().TermOrZero(i)};
    }
  }

  void CheckCheap() {
    for (auto& [id, n] : nodes_) {
      if (!n.up()) continue;
      const Raft& r = n.raw->raft();
      stats.max_term = std::max(stats.max_term, r.term());
      if (r.state() != StateRole::kLeader) {
        leader_tail_.erase(id);
        continue;
      }
      // Election Safety: at most one leader per term.
      auto [it, inserted] = leader_of_term_.emplace(r.term(), id);
      if (inserted) {
        ++stats.elections;
        Log("node {} leads term {}", id, r.term());
      } else if (it->second != id) {
        Fail("Election Safety",
             fmt::format("nodes {} and {} both lead term {}", it->second, id, r.term()));
      }
      // Leader Append-Only: a leader never overwrites or deletes its entries.
      uint64_t last = r.log().LastIndex();
      auto tail = leader_tail_.find(id);
      if (tail != leader_tail_.end() && tail->second.term == r.term()) {
        const auto& t = tail->second;
        if (last < t.last ||
            (t.last >= r.log().FirstIndex() && r.log().TermOrZero(t.last) != t.last_term)) {
          Fail("Leader Append-Only",
               fmt::format("leader {} of term {} had [{} t{}], now last {} (term there {})", id,
                           r.term(), t.last, t.last_term, last, r.log().TermOrZero(t.last)));
        }
      }
      leader_tail_[id] = {r.term(), last, r.log().LastTerm()};
    }
  }

  void CheckExpensive() {
    std::vector<const Node*> up;
    for (auto& [id, n] : nodes_) {
      if (n.up()) up.push_back(&n);
    }
    // Log Matching: two logs with an entry of the same index and term are
    // identical up to it.
    for (size_t a = 0; a < up.size(); ++a) {
      for (size_t b = a + 1; b < up.size(); ++b) CheckLogMatching(*up[a], *up[b]);
    }
    // Leader Completeness: a leader holds every entry committed in an
    // earlier term.
    for (const Node* n : up) {
      const Raft& r = n->raw->raft();
      if (r.state() != StateRole::kLeader) continue;
      for (const auto& [index, c] : committed_in_) {
        if (c.commit_term >= r.term()) continue;
        if (index < r.log().FirstIndex()) continue;  // inside its snapshot
        if (index > r.log().LastIndex() || r.log().TermOrZero(index) != c.entry_term) {
          Fail("Leader Completeness",
               fmt::format("leader {} of term {} lacks [{} t{}] committed in term {}", n->id,
                           r.term(), index, c.entry_term, c.commit_term));
          return;
        }
      }
    }
  }

  void CheckLogMatching(const Node& x, const Node& y) {
    const RaftLog& a = x.raw->raft().log();
    const RaftLog& b = y.raw->raft().log();
    // Committed entries never change (State Machine Safety and Leader
    // Completeness watch them), so a prefix committed on both and found
    // matching once need not be compared again.
    uint64_t& verified = verified_[{x.id, y.id}];
    uint64_t lo = std::max({a.FirstIndex(), b.FirstIndex(), verified + 1});
    uint64_t hi = std::min(a.LastIndex(), b.LastIndex());
    if (lo > hi) return;
    uint64_t match = 0;
    for (uint64_t i = hi; i >= lo; --i) {
      if (a.TermOrZero(i) == b.TermOrZero(i)) {
        match = i;
        break;
      }
    }
    if (match == 0) return;
    auto ea = a.Slice(lo, match + 1, kNoLimit);
    auto eb = b.Slice(lo, match + 1, kNoLimit);
    TKV_CHECK(ea.has_value() && eb.has_value());
    for (size_t k = 0; k < ea->size(); ++k) {
      const Entry& p = (*ea)[k];
      const Entry& q = (*eb)[k];
      if (p.term() != q.term() || p.data() != q.data() || p.entry_type() != q.entry_type()) {
        Fail("Log Matching",
             fmt::format("nodes {} and {} agree on [{} t{}] but differ at {}: t{} vs t{}", x.id,
                         y.id, match, a.TermOrZero(match), p.index(), p.term(), q.term()));
        return;
      }
    }
    verified = std::max(verified, std::min({match, a.committed(), b.committed()}));
  }

  template <typename... Args>
  void Log(fmt::format_string<Args...> f, Args&&... args) {
    if (o_.verbose)
      fmt::print("[t{} s{}] {}\n", now_, step_, fmt::format(f, std::forward<Args>(args)...));
  }

  const SimOptions o_;
  Rng rng_;
  // A logger without sinks: the nodes' own logging is dropped unless verbose.
  std::shared_ptr<spdlog::logger> quiet_ = std::make_shared<spdlog::logger>("sim");
  std::map<uint64_t, Node> nodes_;
  std::set<uint64_t> known_;  // ids that are or were members
  std::set<uint64_t> voters_, learners_;
  uint64_t next_id_ = 0;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> inflight_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  int step_ = 0;
  uint64_t proposals_ = 0;

  struct Committed {
    uint64_t commit_term;
    uint64_t entry_term;
  };
  struct Tail {
    uint64_t term, last, last_term;
  };
  std::map<uint64_t, uint64_t> leader_of_term_;
  std::map<uint64_t, SmEntry> applied_;
  std::map<uint64_t, Committed> committed_in_;
  std::map<uint64_t, Tail> leader_tail_;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> verified_;
  std::optional<Violation> violation_;
};

}  // namespace

SimOptions Randomized(SimOptions o) {
  if (!o.randomize) return o;
  Rng r(o.seed ^ 0x5eedULL);
  o.nodes = r.Chance(0.5) ? 3 : 5;
  o.pre_vote = r.Chance(0.5);
  o.check_quorum = r.Chance(0.5);
  o.drop = r.Chance(0.3) ? 0.0 : 0.02 + 0.1 * (r.Next() % 100) / 100.0;
  o.duplicate = r.Chance(0.5) ? 0.0 : 0.05;
  o.max_delay = static_cast<int>(r.Uniform(6));
  o.crash = r.Chance(0.3) ? 0.0 : 0.002 + 0.01 * (r.Next() % 100) / 100.0;
  o.crash_mid_ready = r.Chance(0.5) ? 0.0 : 0.01;
  o.partition = r.Chance(0.3) ? 0.0 : 0.01;
  o.conf_change = r.Chance(0.3) ? 0.0 : 0.01;
  o.transfer = r.Chance(0.5) ? 0.0 : 0.005;
  o.compact = r.Chance(0.3) ? 0.0 : 0.03;
  return o;
}

std::optional<Violation> Simulate(const SimOptions& options, SimStats* stats) {
  Simulation sim(options);
  auto v = sim.Run();
  if (stats) *stats = sim.stats;
  return v;
}

}  // namespace tinykv::raft::sim
