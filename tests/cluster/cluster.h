// A deterministic in-process cluster for tests: N stores running the
// production raftstore code (Store, Applier and its workers) on one thread,
// in an order a seeded RNG chooses, on a virtual clock.
//
// Injected: the clock (ManualClock), the engines (MemEngine, which forgets
// unsynced writes when a store is stopped), the transport (SimNetwork:
// delays, drops, duplicates, reordering, partitions), the scheduler client
// (FakeScheduler: ids, region reports used for routing) and the executor
// (Cluster::Step). Clients (SimClient) issue requests asynchronously and
// retry on region errors, as a real client would.
//
// Nothing here sleeps: time advances only when nothing is runnable, straight
// to the next event, so a 5-second scenario costs far less than 5 seconds.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/rng.h"
#include "raftstore/store.h"
#include "storage/mem/mem_engine.h"

namespace tinykv::cluster {

using raftstore::RaftstoreConfig;

class Cluster;

// Routing information from leaders' reports, and ids. Never crashes on odd
// input: reports with an older epoch are ignored.
class FakeScheduler final : public raftstore::SchedulerClient {
 public:
  explicit FakeScheduler(uint64_t first_id) : next_id_(first_id) {}
  void AskSplit(const metapb::Region& region,
                std::function<void(Result<raftstore::SplitIds>)> done) override;
  void ReportRegion(const raftstore::RegionHeartbeat& hb) override;

  uint64_t AllocId() { return next_id_++; }
  // The next n AskSplit calls fail (as when the scheduler is unreachable).
  void FailAskSplit(int n) { fail_ask_split_ = n; }
  int ask_split_calls() const { return ask_split_calls_; }
  // The region holding key, and its leader, as last reported.
  std::optional<raftstore::RegionHeartbeat> RegionByKey(const std::string& key) const;
  std::optional<raftstore::RegionHeartbeat> RegionById(uint64_t id) const;
  // Forgets a leader hint (the client saw NotLeader without a new leader).
  void ForgetLeader(uint64_t region_id);
  std::vector<metapb::Region> AllRegions() const;

 private:
  uint64_t next_id_;
  int fail_ask_split_ = 0;
  int ask_split_calls_ = 0;
  std::map<uint64_t, raftstore::RegionHeartbeat> regions_;
};

struct NetworkOptions {
  uint64_t min_delay_ms = 0;
  uint64_t max_delay_ms = 2;
  double drop = 0;       // probability a message is lost
  double duplicate = 0;  // probability a message is delivered twice
};

class SimNetwork {
 public:
  SimNetwork(Cluster& cluster, Rng& rng) : cluster_(cluster), rng_(rng) {}
  void Send(uint64_t from_store, raft_serverpb::RaftMessage msg);
  // Delivers every message due at the clock's time. Returns whether any was.
  bool DeliverDue(uint64_t now);
  std::optional<uint64_t> NextDeliveryMs() const;

  void SetOptions(NetworkOptions o) { options_ = o; }
  const NetworkOptions& options() const { return options_; }
  // Stores in different groups cannot talk; stores in no group talk to all.
  void Partition(const std::vector<std::set<uint64_t>>& groups);
  void Heal() { group_of_.clear(); }
  bool Connected(uint64_t a, uint64_t b) const;

 private:
  struct InFlight {
    uint64_t at;
    uint64_t seq;
    uint64_t from_store;
    raft_serverpb::RaftMessage msg;
    bool operator>(const InFlight& o) const { return std::tie(at, seq) > std::tie(o.at, o.seq); }
  };
  void Failed(uint64_t from_store, const raft_serverpb::RaftMessage& msg);

  Cluster& cluster_;
  Rng& rng_;
  NetworkOptions options_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> queue_;
  std::map<uint64_t, int> group_of_;
  uint64_t seq_ = 0;
};

struct ClusterOptions {
  int stores = 3;
  uint64_t seed = 1;
  RaftstoreConfig raftstore;
  NetworkOptions network;
};

// The defaults of the scenario tests (the course's, in virtual time): 50 ms
// ticks, heartbeat every 2, election after 10.
RaftstoreConfig TestRaftstoreConfig();

// A store's transport: hands its messages to the network, tagged with the
// sending store.
class SimTransport final : public raftstore::Transport {
 public:
  SimTransport(SimNetwork& network, uint64_t store_id) : network_(network), store_id_(store_id) {}
  void Send(raft_serverpb::RaftMessage msg) override { network_.Send(store_id_, std::move(msg)); }
  void Flush() override {}

 private:
  SimNetwork& network_;
  uint64_t store_id_;
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options);
  ~Cluster();

  // Bootstraps every store (region 1 = all keys, one peer per store, peer id
  // = store id) and starts them.
  void Start();

  // ---- Running ----
  // One step: a runnable worker, a due message or timer, or (if nothing is
  // runnable) the clock jumps to the next event.
  void Step();
  // Steps until pred() holds or the virtual deadline passes; returns pred().
  bool RunUntil(const std::function<bool()>& pred, uint64_t timeout_ms);
  // Steps for `ms` of virtual time.
  void RunFor(uint64_t ms);
  uint64_t NowMs() const { return clock_.NowMs(); }
  // Runs fn at virtual time now + delay_ms.
  void After(uint64_t delay_ms, std::function<void()> fn);

  // ---- Faults ----
  void StopStore(uint64_t store_id);   // crash: unsynced writes are lost
  void StartStore(uint64_t store_id);  // restart from what the engine kept
  bool IsRunning(uint64_t store_id) const;
  SimNetwork& network() { return network_; }
  Rng& rng() { return rng_; }

  // ---- Access ----
  int NumStores() const { return options_.stores; }
  raftstore::Store* store(uint64_t store_id);
  storage::MemEngine& engine(uint64_t store_id) { return *nodes_.at(store_id).engine; }
  FakeScheduler& scheduler() { return scheduler_; }
  const ClusterOptions& options() const { return options_; }
  // Regions every running store has, by store.
  std::map<uint64_t, std::vector<raftstore::RegionStatus>> AllRegions() const;

  // ---- Requests (async, single attempt) ----
  void Propose(uint64_t store_id, raft_cmdpb::RaftCmdRequest req, raftstore::WriteCallback cb);
  void Read(uint64_t store_id, raft_cmdpb::RaftRequestHeader header, raftstore::ReadCallback cb);

  // ---- Checks run after every step ----
  // Throws nothing; records the first violation.
  const std::optional<std::string>& violation() const { return violation_; }

 private:
  friend class SimNetwork;
  struct Node {
    std::unique_ptr<storage::MemEngine> engine;
    std::unique_ptr<SimTransport> transport;
    std::unique_ptr<raftstore::Store> store;
    uint64_t checked_status_version = 0;  // of the running store, by CheckInvariants
  };
  void CheckInvariants();

  ClusterOptions options_;
  ManualClock clock_{1'000'000};
  Rng rng_;
  SimNetwork network_;
  FakeScheduler scheduler_;
  std::map<uint64_t, Node> nodes_;
  struct Timer {
    uint64_t at;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Timer& o) const { return std::tie(at, seq) > std::tie(o.at, o.seq); }
  };
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  uint64_t timer_seq_ = 0;
  // Invariant bookkeeping.
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> leader_of_;  // (region, term) -> store
  std::map<std::pair<uint64_t, uint64_t>, metapb::RegionEpoch>
      epoch_seen_;  // (store, region) -> epoch
  std::optional<std::string> violation_;
  int steps_since_check_ = 0;
};

// A client that routes by key through the FakeScheduler's reports and
// retries on region errors and timeouts (with backoff), like the client
// library will. One operation at a time per client; callbacks run inside
// Cluster::Step.
class SimClient {
 public:
  SimClient(Cluster& cluster, uint64_t id) : cluster_(cluster), id_(id) {}

  void Put(const std::string& key, const std::string& value, std::function<void(Status)> done,
           const std::string& cf = "");
  void Delete(const std::string& key, std::function<void(Status)> done, const std::string& cf = "");
  void Get(const std::string& key, std::function<void(Result<std::optional<std::string>>)> done);
  // Pairs with start <= key < end (end "" = +infinity), across regions.
  void Scan(const std::string& start, const std::string& end,
            std::function<void(Result<std::vector<std::pair<std::string, std::string>>>)> done);
  // An admin command routed to the region's leader (retried until applied).
  void Admin(uint64_t region_id, raft_cmdpb::AdminRequest admin,
             std::function<void(raftstore::WriteResponse)> done);

  // Synchronous forms: run the cluster until done (or fail after timeout).
  // Put/Delete in a column family ("" = default).
  Status MustPutCf(const std::string& cf, const std::string& key, const std::string& value,
                   uint64_t timeout_ms = 60'000);
  Status MustDeleteCf(const std::string& cf, const std::string& key, uint64_t timeout_ms = 60'000);
  Status MustPut(const std::string& key, const std::string& value, uint64_t timeout_ms = 60'000);
  Status MustDelete(const std::string& key, uint64_t timeout_ms = 60'000);
  Result<std::optional<std::string>> MustGet(const std::string& key, uint64_t timeout_ms = 60'000);
  Result<std::vector<std::pair<std::string, std::string>>> MustScan(const std::string& start,
                                                                    const std::string& end,
                                                                    uint64_t timeout_ms = 60'000);

  // What the last failed attempt ran into (for failure messages).
  const std::string& last_error() const { return last_error_; }

 private:
  struct Route {
    metapb::Region region;
    metapb::Peer leader;
  };
  std::optional<Route> RouteFor(const std::string& key,
                                std::optional<uint64_t> region_id = std::nullopt);
  void Write(raft_cmdpb::Request req, std::function<void(Status)> done, int attempt);
  void ScanFrom(std::string start, std::string end,
                std::vector<std::pair<std::string, std::string>> acc,
                std::function<void(Result<std::vector<std::pair<std::string, std::string>>>)> done,
                int attempt);
  void AdminAttempt(uint64_t region_id, raft_cmdpb::AdminRequest admin,
                    std::function<void(raftstore::WriteResponse)> done, int attempt);
  // Learns from a region error; returns the backoff before retrying.
  uint64_t OnRegionError(const errorpb::Error& e, const Route& route);

  Cluster& cluster_;
  uint64_t id_;
  std::string last_error_;
  // Leaders learned from NotLeader errors, by region.
  std::map<uint64_t, metapb::Peer> leader_hint_;
};

// ---- Helpers of the scenario suites (run the cluster until a condition) ----

// The store of the region's leader (0 if none is known to the stores).
uint64_t LeaderStoreOf(Cluster& c, uint64_t region_id);
// Every running store's regions (peer, role, term, epoch, indexes), for failure messages.
std::string DescribeCluster(Cluster& c);
// Waits until the engine holds value for key (in cf); false on timeout.
bool WaitEngineEquals(Cluster& c, uint64_t store, const std::string& key, const std::string& value,
                      storage::Cf cf = storage::Cf::kDefault, uint64_t timeout_ms = 10'000);
// Waits until the engine holds no value for key.
bool WaitEngineNone(Cluster& c, uint64_t store, const std::string& key,
                    storage::Cf cf = storage::Cf::kDefault, uint64_t timeout_ms = 10'000);
// Transfers the region's leadership to `peer`, retrying until it holds.
bool MustTransferLeader(Cluster& c, SimClient& client, uint64_t region_id, const metapb::Peer& peer,
                        uint64_t timeout_ms = 30'000);
// Adds `peer` (a new id on its store) to the region and waits until its
// store holds the region with the peer (its data came by snapshot).
bool MustAddPeer(Cluster& c, SimClient& client, uint64_t region_id, const metapb::Peer& peer,
                 uint64_t timeout_ms = 60'000);
// Removes `peer` and waits until its store no longer holds the region.
bool MustRemovePeer(Cluster& c, SimClient& client, uint64_t region_id, const metapb::Peer& peer,
                    uint64_t timeout_ms = 60'000);
// The RegionLocalState of a region on a store's engine.
std::optional<raft_serverpb::RegionLocalState> RegionStateOn(Cluster& c, uint64_t store,
                                                             uint64_t region_id);
std::optional<raft_serverpb::RaftApplyState> ApplyStateOn(Cluster& c, uint64_t store,
                                                          uint64_t region_id);
metapb::Peer MakePeer(uint64_t id, uint64_t store_id);

}  // namespace tinykv::cluster
