// What tinykv-bench drives: a key-value service with put, get and scan.
// Three backends, each safe to call from every client thread at once:
//   tinykv      raw KV through the client library (RawClient)
//   tinykv-txn  transactions (TxnClient): a put is a transaction of
//               --txn-keys keys (the key and the next ones), a get a
//               read-only transaction (no commit), a scan one snapshot
//   etcd        etcd's v3 KV API over gRPC (Put, linearizable Range),
//               clients spread over the endpoints
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace tinykv::bench {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Status Put(int client, const std::string& key, const std::string& value) = 0;
  // OK with nullopt when the key does not exist.
  virtual Result<std::optional<std::string>> Get(int client, const std::string& key) = 0;
  // Up to `limit` pairs from `start` on; returns how many.
  virtual Result<size_t> Scan(int client, const std::string& start, int limit) = 0;
};

struct BackendOptions {
  std::string kind;                    // tinykv, tinykv-txn, etcd
  std::string scheduler;               // tinykv: the scheduler's address
  std::vector<std::string> endpoints;  // etcd: the members' client addresses
  int txn_keys = 1;                    // tinykv-txn: keys written per transaction
  int clients = 1;
  double timeout_s = 10;
};

Result<std::unique_ptr<Backend>> MakeBackend(const BackendOptions& options);

}  // namespace tinykv::bench
