#include "server/server.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <filesystem>
#include <future>
#include <thread>

#include "common/clock.h"
#include "raftstore/runner.h"
#include "raftstore/store.h"
#include "server/kv_service.h"
#include "server/queue_loop.h"
#include "server/kv_storage.h"
#include "server/process.h"
#include "server/raw_kv.h"
#include "server/txn_kv.h"
#include "server/scheduler_link.h"
#include "server/transport.h"
#include "storage/rocks/rocks_engine.h"
#include "storage/standalone_storage.h"

namespace tinykv::server {

Server::Server(const Config& config) : config_(config) {}

Server::~Server() { Shutdown(); }

Result<std::unique_ptr<Server>> Server::Start(const Config& config) {
  TKV_CHECK(ValidateConfig(config).ok());
  std::unique_ptr<Server> server(new Server(config));

  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return Status::IOError(
        fmt::format("cannot create data dir {}: {}", config.data_dir, ec.message()));
  }
  storage::RocksOptions rocks;
  rocks.path = config.data_dir + "/kv";
  rocks.block_cache_bytes = config.block_cache_size;
  TKV_ASSIGN_OR_RETURN(server->engine_, storage::OpenRocksEngine(rocks));

  KvService::RaftSink sink;
  if (config.standalone) {
    server->storage_ = std::make_unique<storage::StandaloneStorage>(
        *server->engine_,
        storage::StandaloneOptions{.sync_writes = config.sync_write,
                                   .max_pending_bytes = config.max_pending_write_size});
    server->kv_ = std::make_unique<StandaloneKvStorage>(*server->storage_);
  } else {
    TKV_RETURN_IF_ERROR(server->StartStore());
    raftstore::Store* store = server->store_.get();
    sink = [store](raft_serverpb::RaftMessage m) { store->OnRaftMessage(std::move(m)); };
    server->kv_ = std::make_unique<RaftKvStorage>(*store);
  }
  server->raw_ = std::make_unique<RawKv>(
      *server->kv_, RawKvLimits{.max_key_size = config.max_key_size,
                                .max_value_size = config.max_value_size,
                                .max_scan_limit = config.max_scan_limit,
                                .max_response_bytes = config.max_message_size,
                                .max_batch_keys = config.max_batch_keys});
  server->txn_ = std::make_unique<TxnKv>(
      *server->kv_, TxnKvLimits{.max_key_size = config.max_key_size,
                                .max_value_size = config.max_value_size,
                                .max_scan_limit = config.max_scan_limit,
                                .max_response_bytes = config.max_message_size,
                                .max_batch_keys = config.max_batch_keys});
  server->service_ =
      std::make_unique<KvService>(*server->raw_, *server->txn_, std::move(sink),
                                  config.max_snapshot_size, static_cast<int>(config.grpc_concurrency));

  KvService* service = server->service_.get();
  TKV_ASSIGN_OR_RETURN(
      auto grpc_server,
      StartGrpcServer({.addr = config.addr,
                       .max_message_size = config.max_message_size,
                       .services = {},
                       .default_services = false,
                       .configure = [service](grpc::ServerBuilder& b) { service->Register(b); }}));
  server->grpc_ = std::move(grpc_server.first);
  server->address_ = std::move(grpc_server.second);
  // Serving before the first call is taken: a health watch never sees a
  // NOT_SERVING of the start.
  service->SetServing(true);
  service->Start();
  // On the service's queue: its thread stays the only one that polls.
  if (server->transport_ != nullptr) server->transport_->SetQueue(service->queue());
  if (server->store_ != nullptr) server->StartRunner(service->loop());
  if (server->link_ != nullptr) {
    server->link_->OpenStream(service->queue());
    // Other stores and clients find this store through the scheduler.
    std::string advertise =
        config.advertise_addr.empty() ? server->address_ : config.advertise_addr;
    if (Status s = server->link_->Register(advertise); !s.ok()) return s;
    server->link_->Start(server->store_.get(),
                         SchedulerLink::Stats{config.data_dir, static_cast<uint64_t>(std::time(nullptr))},
                         config.store_heartbeat_interval);
  }
  if (config.standalone) {
    spdlog::info("server started mode=standalone addr={} data_dir={} sync_write={}",
                 server->address_, config.data_dir, config.sync_write);
  } else {
    spdlog::info("server started mode=cluster store={} addr={} data_dir={} {}", server->store_id_,
                 server->address_, config.data_dir,
                 config.scheduler.empty() ? "members=" + config.initial_cluster
                                          : "scheduler=" + config.scheduler);
  }
  return server;
}

Status Server::StartStore() {
  std::shared_ptr<StoreResolver> resolver;
  uint64_t store_id = 0;
  if (!config_.scheduler.empty()) {
    link_ = std::make_unique<SchedulerLink>(config_.scheduler);
    std::string addr = config_.advertise_addr.empty() ? config_.addr : config_.advertise_addr;
    TKV_ASSIGN_OR_RETURN(auto joined, link_->Join(*engine_, addr, std::chrono::seconds(60)));
    store_id = joined.store_id;
    resolver = link_->Resolver();
  } else {
    TKV_ASSIGN_OR_RETURN(auto members, ParseInitialCluster(config_.initial_cluster));
    TKV_RETURN_IF_ERROR(BootstrapFixed(members));
    store_id = config_.store_id;
    resolver = std::make_shared<StaticResolver>(members);
  }
  store_id_ = store_id;
  clock_ = std::make_unique<SystemClock>();
  transport_ = std::make_unique<GrpcTransport>(
      store_id, resolver,
      TransportConfig{.max_queued_messages = config_.raft_queue_limit,
                      .snapshot_chunk_size = config_.snapshot_chunk_size,
                      .snapshot_max_bytes_per_sec = config_.snapshot_max_bytes_per_sec,
                      .max_message_size = config_.max_message_size});
  raftstore::StoreDeps deps;
  deps.store_id = store_id;
  deps.config = config_.raftstore;
  deps.engine = engine_.get();
  deps.transport = transport_.get();
  deps.scheduler = link_.get();  // null in fixed-membership mode: no splits, no reports
  deps.clock = clock_.get();
  store_ = std::make_unique<raftstore::Store>(deps);
  transport_->SetStore(store_.get());
  TKV_RETURN_IF_ERROR(store_->Start());
  return Status::OK();
}

void Server::StartRunner(QueueLoop& loop) {
  bool apply_on_poller = config_.raftstore.apply_pool_size == 0;
  if (config_.raftstore.store_pool_size > 0) {
    runner_ = std::make_unique<raftstore::StoreRunner>(*store_, *clock_, apply_on_poller);
    runner_->Start();
    return;
  }
  // The poll rounds run on the loop's thread, between network events.
  runner_ = std::make_unique<raftstore::StoreRunner>(*store_, *clock_, apply_on_poller,
                                                     [&loop] { loop.Wake(); });
  raftstore::StoreRunner* runner = runner_.get();
  loop.SetWork({.run_once = [runner] { return runner->PollOnce(); },
                .next_due_ms = [runner] { return runner->NextPollDueMs(); },
                .clock = clock_.get()});
  runner_->Start();
  loop.Wake();  // input that came before
}

Status Server::BootstrapFixed(const std::map<uint64_t, std::string>& members) {
  auto ident = raftstore::Store::ReadIdent(*engine_);
  if (ident.ok()) {
    if (ident->cluster_id() != config_.cluster_id || ident->store_id() != config_.store_id) {
      return Status::InvalidArgument(fmt::format(
          "{} holds store {} of cluster {}, but this is configured as store {} of cluster {}",
          config_.data_dir, ident->store_id(), ident->cluster_id(), config_.store_id,
          config_.cluster_id));
    }
    return Status::OK();
  }
  if (!ident.status().IsNotFound()) return ident.status();
  // First start: region 1 covers every key, one replica per member (peer
  // id = store id; later peers get ids that never collide with these).
  metapb::Region first;
  first.set_id(1);
  first.mutable_region_epoch()->set_conf_ver(1);
  first.mutable_region_epoch()->set_version(1);
  for (const auto& [id, addr] : members) {
    auto* p = first.add_peers();
    p->set_id(id);
    p->set_store_id(id);
  }
  TKV_RETURN_IF_ERROR(
      raftstore::Store::Bootstrap(*engine_, config_.cluster_id, config_.store_id, first));
  spdlog::info("bootstrapped store {} of cluster {} with region 1 on stores {}", config_.store_id,
               config_.cluster_id, config_.initial_cluster);
  return Status::OK();
}

void Server::StopStore() {
  if (link_ != nullptr) link_->Stop();
  if (store_ == nullptr || stopped_store_) return;
  stopped_store_ = true;
  if (runner_ != nullptr) {
    // No poll round runs on grpc-kv-0 any more (its queue ends later).
    if (config_.raftstore.store_pool_size == 0) service_->loop().ClearWork();
    runner_->Stop();
  }
  transport_->Stop();
  store_->Stop();
  runner_.reset();
  // Nothing reports any more; the service's queue, which the stream uses,
  // ends later.
  if (link_ != nullptr) link_->CloseStream();
}

void Server::Shutdown() {
  if (grpc_ != nullptr) {
    spdlog::info("server stopping addr={} grace_ms={}", address_, config_.shutdown_timeout.count());
    service_->SetServing(false);
    service_->CloseStreams();
    auto deadline = std::chrono::system_clock::now() + config_.shutdown_timeout;
    // Calls in flight finish while the store still runs; a write that
    // cannot finish by the deadline (no leader, say) is answered as
    // undetermined when the store stops, so that gRPC can finish.
    std::packaged_task<void()> shutdown([this, deadline] {
      grpc_->Shutdown(deadline);
      grpc_->Wait();
    });
    auto finished = shutdown.get_future();
    std::thread t(std::move(shutdown));
    if (runner_ != nullptr &&
        finished.wait_until(deadline + std::chrono::seconds(1)) != std::future_status::ready) {
      StopStore();
    }
    t.join();
  }
  StopStore();
  if (storage_ != nullptr) storage_->Stop();
  // Nothing finishes a call any more: the service's queues can end, then
  // the server they belong to.
  if (service_ != nullptr) service_->Stop();
  grpc_.reset();
  service_.reset();
  raw_.reset();
  kv_.reset();
  store_.reset();
  transport_.reset();
  link_.reset();
  storage_.reset();
  if (engine_ != nullptr) {
    engine_.reset();
    spdlog::info("server stopped data_dir={}", config_.data_dir);
  }
}

}  // namespace tinykv::server
