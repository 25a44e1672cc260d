// Server: the composition root of tinykv-server (LogCabin's Globals). It
// builds every component from a Config, owns them, and tears them down in
// order. Nothing else creates engines, storages or services.
//
// Standalone mode: RocksEngine under <data-dir>/kv, StandaloneStorage,
// RawKv, and the gRPC server with KvService (which also answers health checks).
// Cluster mode: RocksEngine, a raftstore::Store run by a StoreRunner, a
// GrpcTransport to the other stores, RaftKvStorage under RawKv; KvService
// also takes the Raft and Snapshot streams. With a scheduler, a
// SchedulerLink joins the cluster, resolves store addresses and carries the
// heartbeats; with a fixed membership, the members come from the config.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/result.h"
#include "server/config.h"

namespace grpc {
class Server;
}

namespace tinykv {
class SystemClock;
}
namespace tinykv::storage {
class Engine;
class StandaloneStorage;
}  // namespace tinykv::storage
namespace tinykv::raftstore {
class Store;
class StoreRunner;
}  // namespace tinykv::raftstore

namespace tinykv::server {

class RawKv;
class TxnKv;
class KvService;
class QueueLoop;
class KvStorage;
class GrpcTransport;
class SchedulerLink;

class Server {
 public:
  // Opens the data and starts serving. REQUIRES: ValidateConfig(config) is OK.
  // Errors: kIOError when the data directory or the address cannot be used
  // (for instance another server holds them), kCorruption for damaged data.
  static Result<std::unique_ptr<Server>> Start(const Config& config);

  // Shuts down if Shutdown() was not called.
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // host:port actually listened on (the port is chosen when config.addr asks for 0).
  const std::string& address() const { return address_; }

  // Graceful stop: health turns NOT_SERVING, new calls are refused, calls in
  // flight finish (those still running after shutdown_timeout are cancelled),
  // queued writes complete, the engine is closed. Idempotent.
  void Shutdown();

 private:
  explicit Server(const Config& config);
  // Opens the store (cluster mode); its threads start with StartRunner.
  Status StartStore();
  // Once the service has started: the store's workers run (the poll rounds
  // on `loop`'s thread unless raftstore.store-pool-size is 1).
  void StartRunner(QueueLoop& loop);
  Status BootstrapFixed(const std::map<uint64_t, std::string>& members);
  // Stops the store's threads and transport, answering what still waits.
  void StopStore();

  Config config_;
  std::string address_;
  uint64_t store_id_ = 0;
  // Declared in construction order; destroyed in reverse.
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<storage::StandaloneStorage> storage_;  // standalone
  std::unique_ptr<SchedulerLink> link_;                  // cluster: the scheduler,
  std::unique_ptr<SystemClock> clock_;                   //   clock, transport,
  std::unique_ptr<GrpcTransport> transport_;             //   store and its threads
  std::unique_ptr<raftstore::Store> store_;
  std::unique_ptr<raftstore::StoreRunner> runner_;
  bool stopped_store_ = false;
  std::unique_ptr<KvStorage> kv_;
  std::unique_ptr<RawKv> raw_;
  std::unique_ptr<TxnKv> txn_;
  std::unique_ptr<KvService> service_;
  std::unique_ptr<grpc::Server> grpc_;
};

}  // namespace tinykv::server
