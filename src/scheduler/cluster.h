// Cluster: the scheduler's core (what PD's RaftCluster and its coordinator
// are). Pure and single-threaded: every RPC of schedulerpb.Scheduler maps to
// a method here, time comes from injected clocks, randomness from a seeded
// Rng, persistence goes through MetaStore. The gRPC service (server/)
// serializes calls with one mutex and runs Tick() on a timer.
//
// Region commands (operator steps) are not returned by the call that made
// them: they are queued for the store that leads the region and taken with
// TakeCommands(), so that commands made by a tick or an admin request reach
// the leader at once, not at its next heartbeat.
//
// Errors are schedulerpb::Error values (the type goes in the response
// header): NOT_BOOTSTRAPPED, ALREADY_BOOTSTRAPPED, STORE_TOMBSTONE,
// REGION_NOT_FOUND, and UNKNOWN with a message for invalid requests and
// storage failures.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/expected.h"
#include "common/rng.h"
#include "metapb.pb.h"
#include "scheduler/allocators.h"
#include "scheduler/checkers.h"
#include "scheduler/config.h"
#include "scheduler/meta_store.h"
#include "scheduler/operator.h"
#include "scheduler/region_tree.h"
#include "schedulerpb.pb.h"

namespace tinykv::scheduler {

struct Error {
  schedulerpb::ErrorType type = schedulerpb::UNKNOWN;
  std::string message;
};
template <typename T>
using SResult = Expected<T, Error>;
// For calls without a value: nullopt on success.
using SStatus = std::optional<Error>;

struct RegionHeartbeatInfo {
  metapb::Region region;
  metapb::Peer leader;
  std::vector<metapb::Peer> pending_peers;
  uint64_t approximate_size = 0;
};

// A command for a region, to be sent to the store that leads it.
struct RegionCommand {
  uint64_t store_id = 0;
  schedulerpb::RegionHeartbeatResponse response;
};

// What an operator can ask for (AddOperator).
struct AdminOp {
  enum Kind { kAddPeer, kRemovePeer, kTransferLeader, kSplit } kind = kAddPeer;
  uint64_t store_id = 0;              // add / remove / transfer
  std::vector<std::string> split_keys;  // split (none: the middle)
};

struct ClusterDeps {
  SchedulerConfig config;
  storage::Engine* engine = nullptr;  // metadata; must outlive the Cluster
  const Clock* clock = nullptr;       // monotonic: heartbeats, timeouts
  const Clock* wall = nullptr;        // wall-clock: TSO, cluster id
  uint64_t seed = 1;                  // for the balancers' random choices
};

class Cluster {
 public:
  // Loads the metadata (and, on first start, makes the cluster id).
  static Result<std::unique_ptr<Cluster>> Open(ClusterDeps deps);

  uint64_t cluster_id() const { return cluster_id_; }
  bool bootstrapped() const { return cluster_meta_.has_value(); }

  // ---- Bootstrap and ids ----
  // `region` may be null (learned from the first heartbeat).
  SStatus Bootstrap(const metapb::Store& store, const metapb::Region* region);
  SResult<uint64_t> AllocId();
  SResult<Timestamp> Tso(uint32_t count);

  // ---- Stores ----
  // Registers or updates a store. A tombstone store is refused; a store
  // whose address another live store uses is refused; an offline store
  // stays offline.
  SStatus PutStore(const metapb::Store& store);
  SResult<StoreInfo> GetStore(uint64_t id) const;
  std::vector<metapb::Store> AllStores(bool exclude_tombstone) const;
  SStatus StoreHeartbeat(const schedulerpb::StoreStats& stats);
  // Up -> Offline: its replicas move to other stores; it becomes a
  // tombstone once it holds none. Refused if fewer than max-replicas other
  // stores would be up.
  SResult<metapb::Store> RemoveStore(uint64_t id);

  // ---- Regions ----
  // Applies a leader's report (stale reports are refused with an error) and
  // queues the running operator's command for the leader.
  SStatus RegionHeartbeat(const RegionHeartbeatInfo& hb);
  const RegionInfo* GetRegionByKey(const std::string& key) const;
  const RegionInfo* GetPrevRegion(const std::string& key) const;
  const RegionInfo* GetRegionById(uint64_t id) const;
  std::vector<const RegionInfo*> ScanRegions(const std::string& start, const std::string& end,
                                             size_t limit) const;
  // Ids for splitting `region`: a region id and one peer id per peer.
  SResult<schedulerpb::AskSplitResponse> AskSplit(const metapb::Region& region);
  // Checks a split report (both halves adjacent, the left's end the right's
  // start); the halves' own heartbeats update the tree.
  SStatus ReportSplit(const metapb::Region& left, const metapb::Region& right);
  const RegionTree& regions() const { return regions_; }

  // ---- Configuration and GC ----
  metapb::Cluster ClusterConfig() const;
  SStatus PutClusterConfig(const metapb::Cluster& cluster);
  uint64_t GcSafePoint() const { return gc_safe_point_; }
  // The safe point only moves forward; returns the one in force.
  SResult<uint64_t> UpdateGcSafePoint(uint64_t safe_point);

  // ---- Operators ----
  SResult<std::string> AddOperator(uint64_t region_id, const AdminOp& op);
  // The running operator of a region, or the last one's end.
  struct OperatorState {
    std::string desc;
    std::string kind;
    schedulerpb::OperatorStatus status = schedulerpb::SUCCESS;
  };
  std::optional<OperatorState> GetOperator(uint64_t region_id) const;
  const std::map<uint64_t, Operator>& operators() const { return operators_; }

  // ---- The coordinator ----
  // One round: store states (offline -> tombstone), operator timeouts, the
  // replica checker over part of the regions, balance-leader and
  // balance-region. Run every schedule-interval.
  void Tick();
  // Commands queued since the last call.
  std::vector<RegionCommand> TakeCommands();

  // ---- Status ----
  ClusterView View() const;
  bool IsDown(const StoreInfo& s) const { return View().IsDown(s); }
  bool IsDisconnected(const StoreInfo& s) const { return View().IsDisconnected(s); }
  const std::map<uint64_t, StoreInfo>& stores() const { return stores_; }
  const SchedulerConfig& config() const { return deps_.config; }
  uint64_t NowMs() const { return deps_.clock->NowMs(); }
  // Whether enough regions have reported since start for balancing.
  bool Prepared() const;

 private:
  explicit Cluster(ClusterDeps deps);
  Status Load();
  SStatus CheckBootstrapped() const;
  SStatus FromStatus(const Status& s) const;
  // Adds an operator (replacing none: the region must have none), and
  // queues its first command.
  void StartOperator(Operator op);
  void FinishOperator(uint64_t region_id, schedulerpb::OperatorStatus status);
  // Advances the region's operator against its report and queues the
  // command of the step in progress.
  void DispatchOperator(const RegionInfo& region);
  uint32_t RunningOfKind(OpKind kind) const;
  void UpdateStoreStates();
  IdSource IdSourceFn();

  ClusterDeps deps_;
  MetaStore meta_;
  Rng rng_;
  uint64_t cluster_id_ = 0;
  std::optional<metapb::Cluster> cluster_meta_;
  std::unique_ptr<IdAllocator> ids_;
  std::unique_ptr<scheduler::Tso> tso_;
  uint64_t gc_safe_point_ = 0;
  std::map<uint64_t, StoreInfo> stores_;
  RegionTree regions_;
  uint64_t started_ms_ = 0;
  size_t regions_heard_ = 0;  // regions that reported since start
  std::map<uint64_t, Operator> operators_;
  std::map<uint64_t, OperatorRecord> finished_;
  uint64_t patrol_cursor_ = 0;
  std::vector<RegionCommand> commands_;
};

}  // namespace tinykv::scheduler
