// Where the transactional command tests run: the same TxnKv commands on a
// standalone store (MemEngine, StandaloneStorage) or on the replicated
// store in the deterministic cluster harness (3 stores, RaftKvStorage on
// the leader of the region that holds the keys). Each TEST_P runs on both.
#pragma once

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <memory>
#include <string>

#include "cluster.h"
#include "server/kv_storage.h"
#include "server/txn_kv.h"
#include "storage/mem/mem_engine.h"
#include "storage/standalone_storage.h"

namespace tinykv::txntest {

class TxnBackend {
 public:
  virtual ~TxnBackend() = default;
  // The TxnKv to send a command on `route_key` (a user key) to, and the
  // request context for it.
  virtual server::TxnKv& Route(const std::string& route_key, kvrpcpb::Context* ctx) = 0;
  // Runs until `f` is ready (the cluster is single-threaded: it steps).
  virtual void Wait(std::future<void>& f) = 0;
  // Writes engine data directly (test set-up), through Raft in the cluster.
  virtual void Seed(const storage::WriteBatch& batch) = 0;
  // Every key and value of a data column family, as the serving replica has it.
  virtual std::map<std::string, std::string> Dump(storage::Cf cf) = 0;
  // After a region error: let the cluster settle before the retry.
  virtual void Backoff() {}
  // The harness, for tests that move leaders or split (null: standalone).
  virtual cluster::Cluster* cluster() { return nullptr; }
};

std::unique_ptr<TxnBackend> MakeStandaloneBackend();
std::unique_ptr<TxnBackend> MakeClusterBackend(uint64_t seed = 1);

class TxnCommandTest : public ::testing::TestWithParam<std::string> {
 protected:
  TxnCommandTest()
      : backend_(GetParam() == "standalone" ? MakeStandaloneBackend() : MakeClusterBackend()) {}

  // Sends a command to the store serving route_key and waits for it; retries
  // region errors (which promise the command took no effect). Returns the
  // response; `status` gets the command's Status.
  template <typename Request, typename Response>
  Response Call(void (server::TxnKv::*handler)(const Request&, Response*, server::TxnKv::Done),
                Request req, const std::string& route_key, Status* status = nullptr) {
    for (int attempt = 0;; ++attempt) {
      Response resp;
      Status st;
      server::TxnKv& kv = backend_->Route(route_key, req.mutable_context());
      std::promise<void> finished;
      std::future<void> f = finished.get_future();
      (kv.*handler)(req, &resp, [&](Status s) {
        st = std::move(s);
        finished.set_value();
      });
      backend_->Wait(f);
      if (resp.has_region_error() && attempt < 20) {
        backend_->Backoff();
        continue;
      }
      if (status != nullptr) *status = st;
      return resp;
    }
  }

  std::unique_ptr<TxnBackend> backend_;
};

// Both backends, named in test names as /standalone and /cluster.
#define TINYKV_TXN_BACKENDS(suite)                                                     \
  INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::Values("standalone", "cluster"), \
                           [](const auto& info) { return info.param; })

}  // namespace tinykv::txntest
