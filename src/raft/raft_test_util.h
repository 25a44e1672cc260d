// Helpers for the Raft library's tests: a node with its own MemoryStorage
// that persists like a driver would, and an in-process network (after etcd
// raft's test network) with drops, cuts, isolation and ignored message types.
// Test-only code: linked into test binaries, never into the library.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/rng.h"
#include "raft/raft.h"

namespace tinykv::raft::testutil {

using eraftpb::Entry;
using eraftpb::Message;
using eraftpb::MessageType;

// Config for node `id` of a group with the given voters.
Config MakeConfig(uint64_t id, std::vector<uint64_t> voters, int election = 10, int heartbeat = 1);

// One Raft node and its storage. The default storage is empty; tests that
// need a prepared log fill one and pass it in.
class TestRaft {
 public:
  TestRaft(const Config& config, std::unique_ptr<MemoryStorage> storage = nullptr);

  Raft& r() { return *raft_; }
  Raft* operator->() { return raft_.get(); }
  MemoryStorage& storage() { return *storage_; }
  uint64_t id() const { return raft_->id(); }

  // Does what a driver does with a Ready's persistent part: writes the pending
  // snapshot, unstable entries and hard state into the storage and reports
  // them persisted (a leader then counts itself toward commit).
  void Persist();
  // Both outgoing queues, without persisting.
  std::vector<Message> TakeMessages();
  // Persist(), then TakeMessages().
  std::vector<Message> PersistAndTakeMessages();
  // Hands out the committed entries not yet handed out and marks them applied.
  std::vector<Entry> ApplyCommitted();

 private:
  std::unique_ptr<MemoryStorage> storage_;
  std::unique_ptr<Raft> raft_;
};

// A storage whose log holds entries with the given terms at indexes 1, 2, ...
std::unique_ptr<MemoryStorage> StorageWithTerms(const std::vector<uint64_t>& terms);
// A node whose log has the given terms and whose term is the last of them.
std::unique_ptr<TestRaft> NodeWithLog(uint64_t id, std::vector<uint64_t> voters,
                                      const std::vector<uint64_t>& terms,
                                      const std::function<void(Config&)>& tweak = {});
// A node that voted for `vote` in `term`.
std::unique_ptr<TestRaft> NodeWithVote(uint64_t id, std::vector<uint64_t> voters, uint64_t vote,
                                       uint64_t term,
                                       const std::function<void(Config&)>& tweak = {});

// Message builders.
Message Msg(uint64_t from, uint64_t to, MessageType type, uint64_t term = 0);
Message Propose(uint64_t id, const std::string& data = "somedata");
Message Hup(uint64_t id);
Entry MakeEntry(uint64_t index, uint64_t term, const std::string& data = "");

class Network {
 public:
  using Tweak = std::function<void(Config&)>;
  // A slot of the network: an existing node, a fresh node (nullptr), or a
  // black hole that swallows every message (Hole()).
  struct Slot {
    Slot(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)
    Slot(std::unique_ptr<TestRaft> p)
        : node(std::move(p)) {}  // NOLINT(google-explicit-constructor)
    std::unique_ptr<TestRaft> node;
    bool hole = false;
  };
  static Slot Hole() {
    Slot s(nullptr);
    s.hole = true;
    return s;
  }

  // Peers get ids 1..n in slot order. Fresh nodes have election 10 and
  // heartbeat 1, then `tweak` (OfWith) is applied to their config.
  template <typename... S>
  static Network Of(S&&... slots) {
    return OfWith({}, std::forward<S>(slots)...);
  }
  template <typename... S>
  static Network OfWith(const Tweak& tweak, S&&... slots) {
    std::vector<Slot> v;
    (v.emplace_back(std::forward<S>(slots)), ...);
    return FromSlots(std::move(v), tweak);
  }
  // n fresh nodes.
  static Network Fresh(size_t n, const Tweak& tweak = {});

  // Delivers the messages and every message they cause, breadth first, until
  // none is left. Each receiver persists before its responses leave.
  void Send(std::vector<Message> msgs);
  void Send(Message m) { Send(std::vector<Message>{std::move(m)}); }

  // Drops messages from -> to with probability p (deterministic: seeded).
  void Drop(uint64_t from, uint64_t to, double p);
  void Cut(uint64_t a, uint64_t b);
  void Isolate(uint64_t id);
  void Ignore(MessageType t);
  void Recover();
  // Called for every message about to be delivered; false drops it.
  void SetHook(std::function<bool(const Message&)> hook) { hook_ = std::move(hook); }

  TestRaft& Peer(uint64_t id) { return *peers_.at(id); }
  bool IsHole(uint64_t id) const { return peers_.at(id) == nullptr; }
  std::vector<uint64_t> Ids() const;
  size_t Size() const { return peers_.size(); }

 private:
  Network() = default;
  static Network FromSlots(std::vector<Slot> slots, const Tweak& tweak);
  bool Filtered(const Message& m);

  std::map<uint64_t, std::unique_ptr<TestRaft>> peers_;
  std::map<std::pair<uint64_t, uint64_t>, double> drop_;
  std::set<MessageType> ignore_;
  std::function<bool(const Message&)> hook_;
  Rng rng_{20261122};
};

// The follower's acknowledgement of an append: everything in it was accepted.
Message AcceptAndReply(const Message& append);
// Brings a freshly elected leader (of a group whose peers are not on a
// network) to the point where its empty entry is committed and applied, and
// drops the messages that caused.
void CommitNoopEntry(TestRaft& leader);
// Messages sorted by (to, type), for order-independent comparisons.
std::vector<Message> Sorted(std::vector<Message> msgs);

// Every entry of the node's log from its first index on (storage and unstable).
std::vector<Entry> AllEntries(const TestRaft& node);
// A compact text form of a log, "t1i1 t1i2 t2i3:data", for comparisons in
// failure messages.
std::string LogString(const std::vector<Entry>& entries);
std::string MsgString(const Message& m);

}  // namespace tinykv::raft::testutil
