#include "raft/raft_test_util.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/check.h"

namespace tinykv::raft::testutil {

Config MakeConfig(uint64_t id, std::vector<uint64_t> voters, int election, int heartbeat) {
  Config c;
  c.id = id;
  c.voters = std::move(voters);
  c.election_tick = election;
  c.heartbeat_tick = heartbeat;
  c.max_size_per_msg = kNoLimit;
  c.max_inflight_msgs = 256;
  c.random_seed = id;
  return c;
}

TestRaft::TestRaft(const Config& config, std::unique_ptr<MemoryStorage> storage)
    : storage_(storage ? std::move(storage) : std::make_unique<MemoryStorage>()) {
  Config c = config;
  // A storage that already has a membership supplies it.
  RaftState st = storage_->InitialState();
  if (st.conf_state.nodes_size() > 0 || st.conf_state.learners_size() > 0) {
    c.voters.clear();
    c.learners.clear();
  }
  raft_ = std::make_unique<Raft>(c, storage_.get());
}

void TestRaft::Persist() {
  RaftLog& log = raft_->mutable_log();
  if (log.PendingSnapshot()) {
    eraftpb::Snapshot snap = *log.PendingSnapshot();
    TKV_CHECK(storage_->ApplySnapshot(snap) == Error::kOk);
    raft_->OnSnapshotPersisted(snap.metadata().index());
  }
  if (!log.UnstableEntries().empty()) {
    std::vector<Entry> entries = log.UnstableEntries();
    storage_->Append(entries);
    raft_->OnPersisted(entries.back().index(), entries.back().term());
  }
  storage_->SetHardState(raft_->HardState());
}

std::vector<Message> TestRaft::TakeMessages() {
  std::vector<Message> out = raft_->TakeMessages();
  for (auto& m : raft_->TakeMessagesAfterPersist()) out.push_back(std::move(m));
  return out;
}

std::vector<Message> TestRaft::PersistAndTakeMessages() {
  Persist();
  return TakeMessages();
}

std::vector<Entry> TestRaft::ApplyCommitted() {
  RaftLog& log = raft_->mutable_log();
  std::vector<Entry> entries = log.NextCommittedEntries();
  if (!entries.empty()) {
    raft_->OnApplying(entries.back().index(), 0);
    log.AppliedTo(entries.back().index());
  }
  return entries;
}

std::unique_ptr<MemoryStorage> StorageWithTerms(const std::vector<uint64_t>& terms) {
  auto s = std::make_unique<MemoryStorage>();
  std::vector<Entry> entries;
  for (size_t i = 0; i < terms.size(); ++i) entries.push_back(MakeEntry(i + 1, terms[i]));
  s->Append(entries);
  return s;
}

std::unique_ptr<TestRaft> NodeWithLog(uint64_t id, std::vector<uint64_t> voters,
                                      const std::vector<uint64_t>& terms,
                                      const std::function<void(Config&)>& tweak) {
  auto storage = StorageWithTerms(terms);
  eraftpb::HardState hs;
  hs.set_term(terms.empty() ? 0 : terms.back());
  storage->SetHardState(hs);
  Config c = MakeConfig(id, std::move(voters));
  if (tweak) tweak(c);
  return std::make_unique<TestRaft>(c, std::move(storage));
}

std::unique_ptr<TestRaft> NodeWithVote(uint64_t id, std::vector<uint64_t> voters, uint64_t vote,
                                       uint64_t term, const std::function<void(Config&)>& tweak) {
  auto storage = std::make_unique<MemoryStorage>();
  eraftpb::HardState hs;
  hs.set_term(term);
  hs.set_vote(vote);
  storage->SetHardState(hs);
  Config c = MakeConfig(id, std::move(voters));
  if (tweak) tweak(c);
  return std::make_unique<TestRaft>(c, std::move(storage));
}

Message Msg(uint64_t from, uint64_t to, MessageType type, uint64_t term) {
  Message m;
  m.set_from(from);
  m.set_to(to);
  m.set_msg_type(type);
  m.set_term(term);
  return m;
}

Message Propose(uint64_t id, const std::string& data) {
  Message m = Msg(id, id, eraftpb::MsgPropose);
  m.add_entries()->set_data(data);
  return m;
}

Message Hup(uint64_t id) { return Msg(id, id, eraftpb::MsgHup); }

Entry MakeEntry(uint64_t index, uint64_t term, const std::string& data) {
  Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(data);
  return e;
}

Network Network::Fresh(size_t n, const Tweak& tweak) {
  std::vector<Slot> slots;
  for (size_t i = 0; i < n; ++i) slots.emplace_back(nullptr);
  return FromSlots(std::move(slots), tweak);
}

Network Network::FromSlots(std::vector<Slot> slots, const Tweak& tweak) {
  Network net;
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < slots.size(); ++i) ids.push_back(i + 1);
  for (size_t i = 0; i < slots.size(); ++i) {
    uint64_t id = i + 1;
    if (slots[i].hole) {
      net.peers_[id] = nullptr;
    } else if (slots[i].node) {
      TKV_CHECK(slots[i].node->id() == id, "peer in slot {} has id {}", id, slots[i].node->id());
      net.peers_[id] = std::move(slots[i].node);
    } else {
      Config c = MakeConfig(id, ids);
      if (tweak) tweak(c);
      net.peers_[id] = std::make_unique<TestRaft>(c);
    }
  }
  return net;
}

bool Network::Filtered(const Message& m) {
  if (ignore_.count(m.msg_type())) return true;
  if (hook_ && !hook_(m)) return true;
  TKV_CHECK(m.msg_type() != eraftpb::MsgHup, "unexpected MsgHup on the wire");
  auto it = drop_.find({m.from(), m.to()});
  return it != drop_.end() && rng_.Chance(it->second);
}

void Network::Send(std::vector<Message> msgs) {
  std::deque<Message> queue(std::make_move_iterator(msgs.begin()),
                            std::make_move_iterator(msgs.end()));
  while (!queue.empty()) {
    Message m = std::move(queue.front());
    queue.pop_front();
    auto it = peers_.find(m.to());
    if (it == peers_.end() || it->second == nullptr) continue;  // unknown or black hole
    TestRaft& p = *it->second;
    (void)p.r().Step(m);
    for (auto& out : p.PersistAndTakeMessages()) {
      if (!Filtered(out)) queue.push_back(std::move(out));
    }
  }
}

void Network::Drop(uint64_t from, uint64_t to, double p) { drop_[{from, to}] = p; }

void Network::Cut(uint64_t a, uint64_t b) {
  Drop(a, b, 2.0);
  Drop(b, a, 2.0);
}

void Network::Isolate(uint64_t id) {
  for (const auto& [other, p] : peers_) {
    if (other != id) Cut(id, other);
  }
}

void Network::Ignore(MessageType t) { ignore_.insert(t); }

void Network::Recover() {
  drop_.clear();
  ignore_.clear();
}

std::vector<uint64_t> Network::Ids() const {
  std::vector<uint64_t> out;
  for (const auto& [id, p] : peers_) out.push_back(id);
  return out;
}

Message AcceptAndReply(const Message& append) {
  TKV_CHECK(append.msg_type() == eraftpb::MsgAppend, "not an append: {}", MsgString(append));
  Message r = Msg(append.to(), append.from(), eraftpb::MsgAppendResponse, append.term());
  r.set_index(append.index() + append.entries_size());
  return r;
}

void CommitNoopEntry(TestRaft& leader) {
  TKV_CHECK(leader->state() == StateRole::kLeader, "it should only be used when it is the leader");
  leader->BcastAppend();
  std::vector<Message> msgs = leader.TakeMessages();
  leader.Persist();
  for (const Message& m : msgs) {
    TKV_CHECK(
        m.msg_type() == eraftpb::MsgAppend && m.entries_size() == 1 && m.entries(0).data().empty(),
        "not a message to append the empty entry: {}", MsgString(m));
    (void)leader->Step(AcceptAndReply(m));
  }
  (void)leader.TakeMessages();  // commit-index refreshes
  leader.ApplyCommitted();
}

std::vector<Message> Sorted(std::vector<Message> msgs) {
  std::stable_sort(msgs.begin(), msgs.end(), [](const Message& a, const Message& b) {
    return std::make_pair(a.to(), static_cast<int>(a.msg_type())) <
           std::make_pair(b.to(), static_cast<int>(b.msg_type()));
  });
  return msgs;
}

std::vector<Entry> AllEntries(const TestRaft& node) {
  return const_cast<TestRaft&>(node).r().log().AllEntries();
}

std::string LogString(const std::vector<Entry>& entries) {
  std::string out;
  for (const auto& e : entries) {
    if (!out.empty()) out += ' ';
    out += fmt::format("t{}i{}", e.term(), e.index());
    if (!e.data().empty()) out += ":" + e.data();
  }
  return out;
}

std::string MsgString(const Message& m) {
  return fmt::format("{}->{} {} term={} logterm={} index={} commit={} entries={} reject={}",
                     m.from(), m.to(), eraftpb::MessageType_Name(m.msg_type()), m.term(),
                     m.log_term(), m.index(), m.commit(), m.entries_size(), m.reject());
}

}  // namespace tinykv::raft::testutil
