// The apply side of the store: executes committed Raft entries against the
// engine, off the raft thread.
//
// One Applier serves every region of the store. Each round it takes the
// queued tasks (committed entries with the proposals waiting for them) of
// any regions, executes them into one WriteBatch together with each region's
// new RaftApplyState (so the applied index is always written with the data
// it covers), writes it once, then answers the proposals and reports the
// results (applied index, membership changes, splits, log compaction) to the
// raft thread. The write need not be synced: the entries are durable in the
// Raft log and are applied again after a crash.
#pragma once

#include <spdlog/logger.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "eraftpb.pb.h"
#include "raftstore/lease.h"
#include "raftstore/mailbox.h"
#include "raftstore/msg.h"

namespace tinykv::raftstore {

// A command proposed to the log and waiting for its entry to be applied.
struct Proposal {
  uint64_t index = 0;
  uint64_t term = 0;
  uint64_t id = 0;  // RaftRequestHeader.proposal_id
  WriteCallback cb;
  // When it was proposed: its commit renews the leader lease.
  LeaseStamp lease;
};

struct ChangePeerResult {
  eraftpb::ConfChange cc;
  metapb::Region region;
};
struct CompactLogResult {
  raft_serverpb::RaftTruncatedState truncated;
};
struct SplitResult {
  metapb::Region left;
  metapb::Region right;
  bool right_created;  // false when the right region already existed here
};
using ExecResult = std::variant<ChangePeerResult, CompactLogResult, SplitResult>;

struct ApplyResult {
  uint64_t region_id = 0;
  uint64_t applied_index = 0;
  uint64_t applied_term = 0;
  std::vector<ExecResult> results;
  uint64_t written_bytes = 0;
  // The answer to DestroyRegion: nothing of the region is written any more.
  bool destroyed = false;
};

// Input of the applier.
struct ApplyTask {
  uint64_t region_id;
  std::vector<eraftpb::Entry> entries;
  std::vector<Proposal> proposals;  // ascending by index, all within entries' range
};
struct RegisterRegion {
  metapb::Region region;
  metapb::Peer self;
  raft_serverpb::RaftApplyState apply_state;
  uint64_t applied_term;
};
struct GenerateSnapshot {
  uint64_t region_id;
};
struct DestroyRegion {
  uint64_t region_id;
};
using ApplyMsg = std::variant<ApplyTask, RegisterRegion, GenerateSnapshot, DestroyRegion>;

// A consistent view of a region at its applied index, to build a snapshot from.
struct SnapshotSource {
  metapb::Region region;
  uint64_t index;
  uint64_t term;
  std::shared_ptr<storage::Snapshot> engine_snapshot;
};

// Where the applier's output goes (the store).
class ApplySink {
 public:
  virtual ~ApplySink() = default;
  virtual void OnApplyResult(ApplyResult result) = 0;
  virtual void OnSnapshotSource(SnapshotSource source) = 0;
};

class Applier {
 public:
  Applier(uint64_t store_id, storage::Engine& engine, ApplySink& sink,
          std::shared_ptr<spdlog::logger> logger);
  ~Applier();

  Mailbox<ApplyMsg>& mailbox() { return mailbox_; }
  const Mailbox<ApplyMsg>& mailbox() const { return mailbox_; }
  // Processes up to a batch of queued messages. Returns whether there was work.
  bool RunOnce();
  // Answers every waiting proposal as undetermined (at shutdown).
  void AbortAll(const std::string& why);

 private:
  struct Delegate;
  struct Context;

  void HandleTask(ApplyTask& task, Context& ctx);
  void ApplyEntry(Delegate& d, const eraftpb::Entry& e, Context& ctx, ApplyResult& result);
  WriteResponse ExecCommand(Delegate& d, const raft_cmdpb::RaftCmdRequest& req, Context& ctx,
                            ApplyResult& result);
  WriteResponse ExecChangePeer(Delegate& d, const eraftpb::ConfChange& cc,
                               const raft_cmdpb::RaftCmdRequest& req, Context& ctx,
                               ApplyResult& result);
  WriteResponse ExecSplit(Delegate& d, const raft_cmdpb::SplitRequest& split, Context& ctx,
                          ApplyResult& result);
  WriteCallback TakeProposal(Delegate& d, const eraftpb::Entry& e, uint64_t proposal_id,
                             Context& ctx);
  void Flush(Context& ctx);

  const uint64_t store_id_;
  storage::Engine& engine_;
  ApplySink& sink_;
  std::shared_ptr<spdlog::logger> logger_;
  Mailbox<ApplyMsg> mailbox_;
  std::map<uint64_t, std::unique_ptr<Delegate>> delegates_;
};

}  // namespace tinykv::raftstore
