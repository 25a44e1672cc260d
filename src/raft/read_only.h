// Linearizable reads without a log write (Raft thesis §6.4, ReadIndex).
//
// A read request is identified by a context chosen by the caller (unique per
// request). The leader records its commit index as the read index, then
// confirms it is still the leader with one round of heartbeats carrying the
// context; once a quorum of voters acknowledged, every request up to and
// including that one is answered with its read index. The caller serves the
// read once it has applied up to the read index.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "eraftpb.pb.h"

namespace tinykv::raft {

enum class ReadOnlyOption : unsigned char {
  // Confirm leadership with a heartbeat quorum for every batch of reads.
  kSafe,
  // Trust the leader lease (requires check_quorum). Linearizable only if
  // clocks on different nodes do not drift apart by more than the lease
  // margin: a deposed leader keeps answering until its own election timeout
  // passes, while the others wait a full (randomized) election timeout before
  // electing a new leader. Ticks must advance at the same rate everywhere.
  kLeaseBased,
};

// What a read request resolved to: serve it after applying up to `index`.
struct ReadState {
  uint64_t index = 0;
  std::string request_ctx;
  friend bool operator==(const ReadState&, const ReadState&) = default;
};

class ReadOnly {
 public:
  struct Request {
    eraftpb::Message message;  // the MsgReadIndex, from this node or a follower
    uint64_t index;            // commit index when it arrived
    std::set<uint64_t> acks;
  };

  // Queues a request. A context already queued is ignored.
  void AddRequest(uint64_t index, const eraftpb::Message& m);
  // Records that `id` acknowledged the heartbeat for `ctx`; returns the acks
  // so far, or nullptr for an unknown context.
  const std::set<uint64_t>* RecvAck(uint64_t id, const std::string& ctx);
  // Removes and returns every request up to and including `ctx`.
  std::vector<Request> Advance(const std::string& ctx);
  // The newest queued request whose acks satisfy `has_quorum` ("" if none):
  // after a membership change, acks already received may be a quorum.
  template <typename HasQuorum>
  std::string NewestWithQuorum(HasQuorum has_quorum) const {
    for (auto it = queue_.rbegin(); it != queue_.rend(); ++it) {
      if (has_quorum(pending_.at(*it).acks)) return *it;
    }
    return {};
  }
  // Context of the newest queued request ("" if none).
  std::string LastPendingContext() const { return queue_.empty() ? std::string() : queue_.back(); }
  size_t PendingCount() const { return queue_.size(); }
  void Reset() {
    pending_.clear();
    queue_.clear();
  }

 private:
  std::map<std::string, Request> pending_;
  std::deque<std::string> queue_;
};

}  // namespace tinykv::raft
