// SchedulerLink: a store's connection to tinykv-scheduler.
//
//   Join()   at start: learns the cluster id, gets this store's id from the
//            scheduler (first start) or checks the one on disk, bootstraps
//            the cluster and its first region if no store has yet (the first
//            store to ask wins), and registers the store's address.
//   Start()  then: region heartbeats (the leaders' reports, on one stream;
//            operator steps from the responses are carried out through the
//            store), store heartbeats with statistics every interval, and
//            split ids on demand (raftstore::SchedulerClient).
//
// Resolver() maps store ids to addresses through the scheduler, for the
// transport. Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "client/scheduler_client.h"
#include "raftstore/scheduler_client.h"
#include "server/transport.h"
#include "storage/engine.h"

namespace grpc {
class CompletionQueue;
}

namespace tinykv::raftstore {
class Store;
}

namespace tinykv::server {

class SchedulerLink final : public raftstore::SchedulerClient {
 public:
  explicit SchedulerLink(const std::string& scheduler_address);
  ~SchedulerLink() override;

  struct Joined {
    uint64_t cluster_id = 0;
    uint64_t store_id = 0;
    bool bootstrapped_cluster = false;  // this store created the cluster
  };
  // Waits up to `timeout` for the scheduler. Errors: kInvalidArgument when
  // the data belongs to another cluster; kAborted when the scheduler removed
  // this store (tombstone); kUnavailable when the scheduler never answered.
  // `address`: where the store will serve (registered again by Register).
  Result<Joined> Join(storage::Engine& engine, const std::string& address,
                      std::chrono::milliseconds timeout);
  // Registers (or updates) the store's address. Call once serving.
  Status Register(const std::string& advertise_address);

  // Opens the region heartbeat stream; its operations complete on `cq`
  // (whose thread runs their QueueTags) or, without, on a queue and thread
  // of the stream's own. Region reports before it are dropped (Start and
  // every new stream have the store report all its regions again);
  // responses wait for Start.
  void OpenStream(grpc::CompletionQueue* cq = nullptr);
  // Ends the stream. Call once nothing reports any more (the store's
  // threads stopped), and before `cq` ends. Idempotent.
  void CloseStream();
  struct Stats {
    std::string data_dir;          // for capacity and available space
    uint64_t start_time_s = 0;     // unix seconds
  };
  // Carries out operator steps on `store` and starts the store heartbeats.
  void Start(raftstore::Store* store, Stats stats, std::chrono::milliseconds heartbeat_interval);
  // Stops the store heartbeats and the worker; operator steps are no longer
  // carried out. The stream stays until CloseStream (the store may still
  // report while it stops). Idempotent.
  void Stop();

  std::shared_ptr<StoreResolver> Resolver();

  // raftstore::SchedulerClient
  void AskSplit(const metapb::Region& region,
                std::function<void(Result<raftstore::SplitIds>)> done) override;
  void ReportRegion(const raftstore::RegionHeartbeat& hb) override;

 private:
  void OnResponse(const schedulerpb::RegionHeartbeatResponse& resp);
  void RunWorker();
  void RunStoreHeartbeats(Stats stats, std::chrono::milliseconds interval);
  void Post(std::function<void()> task);

  client::SchedulerClient client_;
  client::SchedulerClient resolver_client_;  // short timeouts: the transport waits on it
  uint64_t store_id_ = 0;
  std::atomic<raftstore::Store*> store_{nullptr};
  std::unique_ptr<client::RegionHeartbeatStream> stream_owner_;
  std::atomic<client::RegionHeartbeatStream*> stream_{nullptr};  // read by the store's threads

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread worker_;
  std::thread heartbeats_;
};

}  // namespace tinykv::server
