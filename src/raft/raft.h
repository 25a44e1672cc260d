// Raft: the protocol state machine of one node (Raft paper and thesis,
// following etcd raft's design). Pure: no threads, no clock, no I/O. Time is
// Tick(); input is Step(message); output is queued messages and the log
// state, which RawNode packs into Ready objects.
//
// Drivers use RawNode (raw_node.h). This class is public so that tests can
// drive the protocol message by message and inspect it through the const
// accessors below (the documented test view); the Become* methods and
// TakeMessages() exist for the same reason.
//
// Thread safety: none. One thread at a time.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/rng.h"
#include "raft/config.h"
#include "raft/progress.h"
#include "raft/raft_log.h"
#include "raft/read_only.h"

namespace tinykv::raft {

inline constexpr uint64_t kNone = 0;

enum class StateRole : unsigned char { kFollower, kCandidate, kLeader, kPreCandidate };
const char* StateRoleName(StateRole r);

// Context of a vote request caused by a leader transfer: it bypasses leader
// stickiness (check_quorum), since the leader itself asked for it.
inline constexpr const char* kCampaignTransfer = "transfer";

bool IsLocalMessage(eraftpb::MessageType t);
bool IsResponseMessage(eraftpb::MessageType t);

class Raft {
 public:
  // REQUIRES: config.Validate() is OK; `storage` outlives this object.
  Raft(const Config& config, Storage* storage);

  // ---- Input ----
  // One logical clock tick.
  void Tick();
  // Processes a message (local or from a peer).
  Error Step(const eraftpb::Message& m);
  // Applies a committed configuration change; returns the new membership.
  // Invalid changes (demoting a voter to learner) leave it unchanged.
  eraftpb::ConfState ApplyConfChange(const eraftpb::ConfChange& cc);
  // The driver persisted entries up to (index, term) / the snapshot at index.
  void OnPersisted(uint64_t index, uint64_t term);
  void OnSnapshotPersisted(uint64_t index);
  // The driver took committed entries up to `index`; `bytes` of payload.
  void OnApplying(uint64_t index, uint64_t bytes);

  // ---- Output ----
  // Messages to send now, and messages to send only after this node's
  // pending entries and hard state are durable.
  std::vector<eraftpb::Message> TakeMessages();
  std::vector<eraftpb::Message> TakeMessagesAfterPersist();
  std::vector<ReadState> TakeReadStates();
  bool HasMessages() const { return !msgs_.empty() || !msgs_after_persist_.empty(); }
  bool HasReadStates() const { return !read_states_.empty(); }

  // ---- Test view (and what RawNode reads) ----
  uint64_t id() const { return id_; }
  uint64_t term() const { return term_; }
  uint64_t vote() const { return vote_; }
  uint64_t lead() const { return lead_; }
  StateRole state() const { return state_; }
  bool is_learner() const { return is_learner_; }
  uint64_t lead_transferee() const { return lead_transferee_; }
  uint64_t pending_conf_index() const { return pending_conf_index_; }
  uint64_t uncommitted_size() const { return uncommitted_size_; }
  int election_elapsed() const { return election_elapsed_; }
  int randomized_election_timeout() const { return randomized_election_timeout_; }
  const RaftLog& log() const { return log_; }
  RaftLog& mutable_log() { return log_; }
  const ProgressTracker& tracker() const { return tracker_; }
  ProgressTracker& mutable_tracker() { return tracker_; }
  const ReadOnly& read_only() const { return read_only_; }
  eraftpb::HardState HardState() const;
  bool Promotable() const;

  // ---- Transitions (RawNode and tests) ----
  void BecomeFollower(uint64_t term, uint64_t lead);
  void BecomeCandidate();
  void BecomePreCandidate();
  void BecomeLeader();
  // Overrides the randomized election timeout (tests).
  void SetRandomizedElectionTimeout(int ticks) { randomized_election_timeout_ = ticks; }
  // Leader: sends appends (or snapshots) to every follower that is not paused.
  void BcastAppend();

 private:
  enum class CampaignType { kPreElection, kElection, kTransfer };

  void Send(eraftpb::Message m);
  bool MaybeSendAppend(uint64_t to, bool send_if_empty);
  void SendAppend(uint64_t to) { MaybeSendAppend(to, true); }
  void SendHeartbeat(uint64_t to, const std::string& ctx);
  void SendTimeoutNow(uint64_t to);
  void BcastHeartbeat();
  void BcastHeartbeatWithCtx(const std::string& ctx);

  void Reset(uint64_t term);
  void ResetRandomizedElectionTimeout();
  bool PastElectionTimeout() const { return election_elapsed_ >= randomized_election_timeout_; }
  void TickElection();
  void TickHeartbeat();

  void Hup(CampaignType t);
  void Campaign(CampaignType t);
  VoteResult Poll(uint64_t id, eraftpb::MessageType t, bool granted);
  bool HasUnappliedConfChanges() const;
  void HandleVoteRequest(const eraftpb::Message& m);

  Error StepLeader(const eraftpb::Message& m);
  Error StepCandidate(const eraftpb::Message& m);
  Error StepFollower(const eraftpb::Message& m);
  Error LeaderPropose(const eraftpb::Message& m);
  void LeaderReadIndex(const eraftpb::Message& m);
  void LeaderAppendResponse(const eraftpb::Message& m, Progress& pr);
  void LeaderHeartbeatResponse(const eraftpb::Message& m, Progress& pr);
  void LeaderTransferLeader(const eraftpb::Message& m);

  void HandleAppendEntries(const eraftpb::Message& m);
  void HandleHeartbeat(const eraftpb::Message& m);
  void HandleSnapshot(const eraftpb::Message& m);
  bool Restore(const eraftpb::Snapshot& s);

  bool AppendEntries(std::vector<eraftpb::Entry> entries);
  bool MaybeCommit();
  bool CommittedEntryInCurrentTerm() const;
  void SendReadIndexResponse(const eraftpb::Message& req);
  void RespondToReadIndex(const eraftpb::Message& req, uint64_t index);
  void ReleasePendingReadIndexMessages();
  void AbortLeaderTransfer() { lead_transferee_ = kNone; }
  void AfterCommitAdvance();

  const uint64_t id_;
  const std::string tag_;
  uint64_t term_ = 0;
  uint64_t vote_ = kNone;
  RaftLog log_;
  ProgressTracker tracker_;
  StateRole state_ = StateRole::kFollower;
  bool is_learner_ = false;
  uint64_t lead_ = kNone;
  // Leader: the target of a leader transfer in progress.
  uint64_t lead_transferee_ = kNone;
  // Leader: the index of the last configuration change appended (or the last
  // index when it was elected); no other may be proposed until it is applied.
  uint64_t pending_conf_index_ = 0;
  // Leader: payload bytes appended and not yet handed out as committed.
  uint64_t uncommitted_size_ = 0;

  ReadOnly read_only_;
  const ReadOnlyOption read_only_option_;
  std::vector<ReadState> read_states_;
  // Leader: read requests that arrived before an entry of this term committed.
  std::vector<eraftpb::Message> pending_read_index_messages_;

  std::vector<eraftpb::Message> msgs_;
  std::vector<eraftpb::Message> msgs_after_persist_;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  // Config::start_in_lease, until the first election timeout after start.
  bool start_lease_ = false;
  const bool check_quorum_;
  const bool broadcast_commit_;
  const bool pre_vote_;
  const int heartbeat_timeout_;
  const int election_timeout_;
  int randomized_election_timeout_ = 0;
  const uint64_t max_msg_size_;
  const uint64_t max_uncommitted_size_;
  Rng rng_;
  spdlog::logger* logger_;  // Config::logger, or the process's default logger
};

}  // namespace tinykv::raft
