// Store: the raft side of one tinykv-server in cluster mode. It hosts many
// regions (one Peer each) on one engine, and owns the workers that serve
// them:
//   raft poller (Store::RunOnce)  routes input to peers, ticks, and handles
//                                 every peer's Ready in one round: one engine
//                                 write and one fsync for all of them
//   Applier                       executes committed entries (apply.h)
//   snapshot worker               builds snapshots from engine snapshots
//   gc worker                     deletes compacted log, checks region sizes
// Each worker is a RunOnce() step; an Executor decides where they run
// (threads in production, one thread in a seeded order in the harness).
// See docs/architecture.md for the life of a write and of a read.
//
// Inputs (Propose, Read, OnRaftMessage, Report*) are thread-safe; they queue.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <set>
#include <variant>

#include "common/clock.h"
#include "raftstore/apply.h"
#include "raftstore/config.h"
#include "raftstore/mailbox.h"
#include "raftstore/peer.h"
#include "raftstore/scheduler_client.h"
#include "raftstore/transport.h"

namespace tinykv::raftstore {

struct StoreDeps {
  uint64_t store_id = 0;
  RaftstoreConfig config;
  storage::Engine* engine = nullptr;
  Transport* transport = nullptr;
  SchedulerClient* scheduler = nullptr;  // null: no splits, no reports
  const Clock* clock = nullptr;
  std::shared_ptr<spdlog::logger> logger;  // null: the default logger
};

// One region as this store sees it, for status and tests.
struct RegionStatus {
  metapb::Region region;
  uint64_t peer_id = 0;
  bool leader = false;
  uint64_t term = 0;
  uint64_t leader_id = 0;
  uint64_t commit = 0;
  uint64_t applied = 0;
  uint64_t truncated_index = 0;
  uint64_t approximate_size = 0;
};

class Store final : private SnapshotRequester, private ApplySink {
 public:
  explicit Store(StoreDeps deps);
  ~Store() override;

  // Writes the store's identity and, on the store that creates the cluster,
  // the first region (all keys, the given peers) into an empty engine.
  static Status Bootstrap(storage::Engine& engine, uint64_t cluster_id, uint64_t store_id,
                          const std::optional<metapb::Region>& first_region);
  // Reads the store identity. NotFound if the engine was never bootstrapped.
  static Result<raft_serverpb::StoreIdent> ReadIdent(storage::Engine& engine);

  // Creating a cluster through the scheduler (as TiKV does): the first
  // region is written, with a marker, before the scheduler is asked to
  // bootstrap; FinishBootstrap then clears the marker and, if the scheduler
  // refused (another store bootstrapped first), the region. A crash in
  // between leaves the marker, so the next start finishes the job.
  // REQUIRES: the engine holds the store identity and no region.
  static Status PrepareBootstrap(storage::Engine& engine, const metapb::Region& first_region);
  static Result<std::optional<metapb::Region>> PreparedBootstrap(storage::Engine& engine);
  static Status FinishBootstrap(storage::Engine& engine, const metapb::Region& region, bool keep);

  // Loads every region from the engine. Call once, before the workers run.
  Status Start();
  // Answers everything still waiting (writes: undetermined; reads: not
  // leader) and stops accepting input. Call with the workers stopped.
  void Stop();

  // ---- Input (thread-safe) ----
  void Propose(raft_cmdpb::RaftCmdRequest req, WriteCallback cb);
  // A read within a leader's lease is answered on the calling thread, at
  // once (cb runs before Read returns); any other goes through the poller.
  void Read(raft_cmdpb::RaftRequestHeader header, ReadCallback cb);
  void OnRaftMessage(raft_serverpb::RaftMessage msg);
  void ReportUnreachable(uint64_t region_id, uint64_t to_peer_id);
  void ReportSnapshot(uint64_t region_id, uint64_t to_peer_id, bool ok);
  // The scheduler asks the region's leader to split it at `split_key`
  // (empty: about the middle of its data). Ignored if this store does not
  // lead the region at that epoch or it is splitting already.
  void RequestSplit(uint64_t region_id, metapb::RegionEpoch epoch, std::string split_key);
  // Every region this store leads reports to the scheduler soon.
  void ReportAllRegions();

  // ---- Workers ----
  // The raft poller: one round. Returns whether there was work.
  bool RunOnce();
  // The clock time of the next tick (the poller must run by then).
  uint64_t NextTickMs() const { return next_tick_ms_; }
  Applier& applier() { return applier_; }
  bool RunSnapshotWorkerOnce();
  bool RunGcWorkerOnce();
  // The workers, each with its own input queue.
  enum class Worker { kPoller = 0, kApplier = 1, kSnapshot = 2, kGc = 3 };
  // Wakes whoever runs `worker` when input for it arrives (a null `fn`
  // stops the wake-ups).
  void SetNotify(Worker worker, std::function<void()> fn);
  // Whether each worker has something to do now (for executors that poll).
  bool PollerHasWork() const {
    return !stopped_ &&
           (!inbox_.Empty() || !dirty_.empty() || deps_.clock->NowMs() >= next_tick_ms_);
  }
  bool ApplierHasWork() const { return !applier_.mailbox().Empty(); }
  bool SnapshotWorkerHasWork() const { return !snap_inbox_.Empty(); }
  bool GcWorkerHasWork() const { return !gc_inbox_.Empty(); }

  // ---- Status (thread-safe) ----
  uint64_t store_id() const { return deps_.store_id; }
  std::vector<RegionStatus> Regions() const;
  // Changes whenever Regions() would return something new.
  uint64_t StatusVersion() const { return status_version_.load(std::memory_order_acquire); }

 private:
  struct CommandIn {
    raft_cmdpb::RaftCmdRequest req;
    WriteCallback cb;
  };
  struct ReadIn {
    raft_cmdpb::RaftRequestHeader header;
    ReadCallback cb;
  };
  struct UnreachableIn {
    uint64_t region_id, to_peer_id;
  };
  struct SnapStatusIn {
    uint64_t region_id, to_peer_id;
    bool ok;
  };
  struct SnapshotGeneratedIn {
    uint64_t region_id;
    eraftpb::Snapshot snapshot;
  };
  struct SplitCheckIn {
    uint64_t region_id;
    metapb::RegionEpoch epoch;
    std::string split_key;  // empty: no split needed
    uint64_t size;
  };
  struct ReportAllIn {};
  struct SplitRequestIn {
    uint64_t region_id;
    metapb::RegionEpoch epoch;
    std::string split_key;
  };
  struct SplitIdsIn {
    uint64_t region_id;
    metapb::RegionEpoch epoch;
    std::string split_key;
    Result<SplitIds> ids;
  };
  using StoreMsg =
      std::variant<raft_serverpb::RaftMessage, CommandIn, ReadIn, UnreachableIn, SnapStatusIn,
                   ApplyResult, SnapshotGeneratedIn, SplitCheckIn, SplitIdsIn, SplitRequestIn, ReportAllIn>;

  struct GcTask {
    uint64_t region_id, first, last;  // delete log entries [first, last]
  };
  struct SplitCheckTask {
    metapb::Region region;
    std::shared_ptr<storage::Snapshot> snapshot;
    bool force = false;  // split at the middle, whatever the size
  };
  using GcWork = std::variant<GcTask, SplitCheckTask>;

  // SnapshotRequester / ApplySink
  void RequestSnapshot(uint64_t region_id) override;
  void OnApplyResult(ApplyResult result) override;
  void OnSnapshotSource(SnapshotSource source) override;

  void Handle(StoreMsg& msg);
  void HandleRaftMessage(raft_serverpb::RaftMessage& msg);
  // Whether a snapshot message may be stepped (checksum, epoch, overlap).
  bool AcceptSnapshot(Peer& peer, const raft_serverpb::RaftMessage& msg);
  bool OverlapsPendingSnapshot(const metapb::Region& region);
  void HandleCommand(CommandIn& in);
  // Whether it was appended to the log (if not, cb heard why).
  bool ProposeNormal(Peer& peer, raft_cmdpb::RaftCmdRequest req, WriteCallback cb);
  void ProposeChangePeer(Peer& peer, CommandIn& in);
  void HandleRead(ReadIn& in);
  void HandleApplyResult(ApplyResult& res);
  void CreateSplitPeer(Peer& left, const metapb::Region& right);
  void HandleSplitCheck(const SplitCheckIn& in);
  void HandleSplitIds(SplitIdsIn& in);
  void AbandonSplit(Peer& peer, const char* why);
  void HandleSplitRequest(SplitRequestIn in);
  // Reports again when a leader's pending peers changed since its report.
  void CheckPendingPeers(Peer& peer);
  SplitCheckIn CheckSplit(const SplitCheckTask& task);
  void Tick();
  void MaybeCompactLog(Peer& peer);
  void HandleReadies();
  void ServeReads(Peer& peer);
  void AnswerRead(Peer& peer, ReadCallback& cb, std::shared_ptr<storage::Snapshot>& snap);
  bool Transferring(const Peer& peer) const;
  // What is sent now carries (no renewal while a transfer is under way).
  LeaseStamp StampNow(const Peer& peer, uint64_t now) const;
  uint64_t ElectionTimeoutMs() const;
  bool CanReadLocally(const Peer& peer, uint64_t now) const;
  void MaybeRenewLease(Peer& peer, uint64_t now);
  void RenewLease(Peer& peer, const LeaseStamp& stamp);
  // What a caller's thread may serve from the lease (Read), for one region.
  struct LocalRead {
    uint64_t peer_id = 0;
    uint64_t term = 0;
    uint64_t version = 0;
    uint64_t lease_until_ms = 0;
    metapb::Region region;
    // When a caller last read from it: the poller renews the lease of
    // regions read from lately (Tick), as it does for reads it serves.
    std::shared_ptr<std::atomic<uint64_t>> last_read_ms;
  };
  // Brings the region's entry in local_reads_ in line with the peer (none
  // unless CanReadLocally could hold). Called whenever one of its inputs
  // changes, and before anything that ends the lease leaves this thread.
  void PublishLocalRead(Peer& peer);
  void UnpublishLocalRead(uint64_t region_id);
  bool TryLocalRead(const raft_cmdpb::RaftRequestHeader& header, ReadCallback& cb);
  // Whether callers read the region from the lease within the last lease.
  bool ReadLocallyLately(uint64_t region_id, uint64_t now) const;
  void RetryReads(Peer& peer);
  uint64_t ReadRetryAt() const;
  void FailReads(Peer& peer);
  void SendRaftMessages(Peer& peer, std::vector<eraftpb::Message>& msgs);
  void SendTombstone(const raft_serverpb::RaftMessage& to_stale);
  void ReportRegion(Peer& peer);
  void RefreshStatus();

  Peer* FindPeer(uint64_t region_id);
  // Creates an uninitialized peer for a message to a region not here yet.
  Peer* MaybeCreatePeer(const raft_serverpb::RaftMessage& msg);
  // register_apply: tell the apply side about it (not for split-created
  // regions, which the apply side created itself).
  // `restarted`: loaded from the engine at start (Peer::Create).
  Result<Peer*> AddPeer(const metapb::Region& region, const metapb::Peer& self,
                        bool register_apply = true, bool restarted = false);
  Status FinishDestroys(storage::Snapshot& snap);
  // Sent before the replica this store destroyed for the region was removed.
  bool IsForDestroyedReplica(const raft_serverpb::RaftMessage& msg) const;
  // A message for a region tombstoned here from a replica that provably was
  // removed: answers it with a tombstone message. Returns whether it did.
  bool MaybeGcStaleSender(const raft_serverpb::RaftMessage& msg);
  void FinishDestroy(std::unique_ptr<Peer> peer, const metapb::Region& tomb);
  // The region of a hosted or being-destroyed replica.
  const metapb::Region& RegionOf(uint64_t region_id) const;
  // removed_at: the epoch of a member that reported this replica removed.
  void DestroyPeer(Peer& peer, const std::string& why,
                   const metapb::RegionEpoch* removed_at = nullptr);
  // Whether an initialized region other than region_id overlaps the range.
  bool Overlaps(const metapb::Region& region) const;
  void UpdateRange(const metapb::Region& old_region, const metapb::Region& region);
  std::optional<errorpb::Error> PreCheck(const raft_cmdpb::RaftRequestHeader& header, Peer** peer);
  void MarkDirty(uint64_t region_id) { dirty_.insert(region_id); }

  StoreDeps deps_;
  std::shared_ptr<spdlog::logger> logger_;
  storage::Engine& engine_;
  Applier applier_;
  Mailbox<StoreMsg> inbox_;
  Mailbox<SnapshotSource> snap_inbox_;
  Mailbox<GcWork> gc_inbox_;

  // Raft-thread state.
  std::map<uint64_t, std::unique_ptr<Peer>> peers_;
  // Replicas being destroyed: out of peers_, waiting for the applier to drop
  // them (see DestroyPeer).
  struct Destroying {
    std::unique_ptr<Peer> peer;
    metapb::Region tombstone;
  };
  std::map<uint64_t, Destroying> destroying_;
  // Initialized regions by end key ("" = +infinity sorts last via the flag).
  std::map<std::pair<bool, std::string>, uint64_t> ranges_;
  // Regions whose peers here were destroyed: region id -> their last region.
  struct Tombstone {
    metapb::Region region;  // as last known, or as written at its own removal
    uint64_t peer_id = 0;   // the replica destroyed (0: not recorded)
  };
  std::map<uint64_t, Tombstone> tombstones_;
  // Regions of snapshots stepped into Raft and not applied yet.
  std::map<uint64_t, metapb::Region> snapshot_ranges_;
  metapb::Region snapshot_region_;  // of the snapshot AcceptSnapshot last accepted
  std::set<uint64_t> dirty_;
  uint64_t next_tick_ms_ = 0;
  uint64_t next_gc_tick_ms_ = 0;
  uint64_t next_split_tick_ms_ = 0;
  uint64_t next_report_tick_ms_ = 0;
  uint64_t next_proposal_id_ = 1;
  uint64_t next_read_id_ = 1;
  uint64_t apply_backlog_bytes_ = 0;
  bool stopped_ = false;
  bool status_dirty_ = true;

  // A copy of the region statuses for Regions(), refreshed by the poller.
  // Written by the poller, read by callers' threads (Read).
  mutable std::shared_mutex local_mu_;
  std::unordered_map<uint64_t, LocalRead> local_reads_;
  mutable std::mutex status_mu_;
  std::vector<RegionStatus> status_;
  std::atomic<uint64_t> status_version_{0};
};

}  // namespace tinykv::raftstore
