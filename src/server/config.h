// tinykv-server configuration: defaults, then a TOML file, then command-line
// flags (flags win). Every limit the server enforces is a named value here.
// docs/operations.md lists every key; config/tinykv.toml is a commented example.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "common/result.h"
#include "raftstore/config.h"
#include "server/toml_config.h"

namespace tinykv::server {

struct Config {
  // [server]
  std::string addr = "127.0.0.1:20160";  // host:port to serve gRPC on; port 0 picks a free one
  std::string data_dir = "./data";       // all on-disk state lives under this folder
  bool standalone = false;               // single node without Raft
  // Cluster mode with a scheduler: its address. The store gets its id from
  // the scheduler at first start; the first store bootstraps the cluster.
  std::string scheduler;
  // The address other stores and clients reach this store at (default:
  // addr, with the port actually listened on).
  std::string advertise_addr;
  std::chrono::milliseconds store_heartbeat_interval{10000};
  // Cluster mode with a fixed membership, without a scheduler: this store's
  // id, and every store as "ID=HOST:PORT,ID=HOST:PORT,...". A first start
  // bootstraps region 1 (all keys) with one replica per store. Regions do
  // not split and replicas do not move in this mode.
  uint64_t store_id = 0;
  uint64_t cluster_id = 1;
  std::string initial_cluster;
  size_t max_message_size = 16u << 20;  // largest gRPC request accepted, and largest scan response
  std::chrono::milliseconds shutdown_timeout{10000};  // grace period for in-flight requests
  // Threads (each with its completion queue) that take gRPC calls; 1 to 64.
  uint64_t grpc_concurrency = 1;

  // [storage]
  bool sync_write = true;                     // fsync before acknowledging a write
  size_t block_cache_size = 256u << 20;       // RocksDB block cache
  size_t max_pending_write_size = 64u << 20;  // queued write bytes before ServerIsBusy

  // [limits]
  size_t max_key_size = 4u << 10;
  size_t max_value_size = 8u << 20;
  uint32_t max_scan_limit = 10000;  // RawScan limits above this are rejected
  uint32_t max_batch_keys = 4096;   // keys per RawBatchGet / RawBatchPut

  // [raftstore] (see raftstore/config.h for each value's meaning)
  raftstore::RaftstoreConfig raftstore;
  size_t raft_queue_limit = 8192;           // Raft messages queued per destination store
  size_t snapshot_chunk_size = 1u << 20;    // snapshot stream chunk
  uint64_t snapshot_max_bytes_per_sec = 0;  // per snapshot sent; 0: unlimited
  size_t max_snapshot_size = 1u << 30;      // a larger incoming snapshot is refused

  // [log]
  std::string log_level = "info";
  std::string log_file;  // empty: stderr
};

// Reads a TOML file over `base`. Unknown sections or keys are errors (a typo
// must not silently fall back to a default).
// Errors: kIOError (cannot read), kInvalidArgument (syntax, unknown key, bad value).
Result<Config> LoadConfigFile(const std::string& path, Config base = {});

// Same, from TOML text; `origin` names it in error messages.
Result<Config> ParseConfig(std::string_view toml_text, const std::string& origin, Config base = {});

// Checks values and their relations (a maximal put must fit in a message).
Status ValidateConfig(const Config& config);

// "1=127.0.0.1:20161,2=127.0.0.1:20162" -> {1: ..., 2: ...}.
Result<std::map<uint64_t, std::string>> ParseInitialCluster(std::string_view text);


}  // namespace tinykv::server
