#include "txn_fixture.h"

#include <chrono>

#include "common/check.h"
#include "txn/keys.h"

namespace tinykv::txntest {
namespace {

std::map<std::string, std::string> DumpSnapshot(const storage::Snapshot& snap, storage::Cf cf,
                                                const std::string& lower = "",
                                                const std::string& upper = "") {
  storage::IterOptions opts;
  if (!upper.empty()) opts.upper_bound = upper;
  std::map<std::string, std::string> out;
  auto it = snap.NewIterator(cf, opts);
  for (it->Seek(lower); it->Valid(); it->Next()) out.emplace(it->key(), it->value());
  return out;
}

class StandaloneBackend final : public TxnBackend {
 public:
  StandaloneBackend()
      : storage_(engine_, storage::StandaloneOptions{}), kv_(storage_), txn_(kv_, {}) {}
  ~StandaloneBackend() override { storage_.Stop(); }

  server::TxnKv& Route(const std::string&, kvrpcpb::Context*) override { return txn_; }
  void Wait(std::future<void>& f) override {
    TKV_CHECK(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready,
              "a standalone command did not finish");
  }
  void Seed(const storage::WriteBatch& batch) override {
    TKV_CHECK(engine_.Write(batch, {}).ok());
  }
  std::map<std::string, std::string> Dump(storage::Cf cf) override {
    auto snap = engine_.NewSnapshot();
    return DumpSnapshot(*snap, cf);
  }

 private:
  storage::MemEngine engine_;
  storage::StandaloneStorage storage_;
  server::StandaloneKvStorage kv_;
  server::TxnKv txn_;
};

class ClusterBackend final : public TxnBackend {
 public:
  explicit ClusterBackend(uint64_t seed) : cluster_(Options(seed)), client_(cluster_, 1) {
    cluster_.Start();
    for (uint64_t s = 1; s <= 3; ++s) {
      kv_[s] = std::make_unique<server::RaftKvStorage>(*cluster_.store(s));
      txn_[s] = std::make_unique<server::TxnKv>(*kv_[s], server::TxnKvLimits{});
    }
    TKV_CHECK(cluster_.RunUntil([&] { return cluster::LeaderStoreOf(cluster_, 1) != 0; }, 30'000),
              "no leader");
  }
  ~ClusterBackend() override {
    // Commands still running hold callbacks into the TxnKv objects: stop
    // the stores first.
    for (uint64_t s = 1; s <= 3; ++s) {
      if (cluster_.IsRunning(s)) cluster_.StopStore(s);
    }
  }

  server::TxnKv& Route(const std::string& route_key, kvrpcpb::Context* ctx) override {
    std::string enc = txn::EncodeUserKey(route_key);
    for (int i = 0; i < 200; ++i) {
      auto hb = cluster_.scheduler().RegionByKey(enc);
      uint64_t store = hb ? cluster::LeaderStoreOf(cluster_, hb->region.id()) : 0;
      if (store != 0 && txn_.count(store) > 0) {
        for (const auto& p : hb->region.peers()) {
          if (p.store_id() != store) continue;
          ctx->set_region_id(hb->region.id());
          *ctx->mutable_region_epoch() = hb->region.region_epoch();
          *ctx->mutable_peer() = p;
          return *txn_[store];
        }
      }
      cluster_.RunFor(50);
    }
    TKV_CHECK(false, "no route to a key");
    __builtin_unreachable();
  }
  void Wait(std::future<void>& f) override {
    bool done = cluster_.RunUntil(
        [&] { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 60'000);
    TKV_CHECK(done, "a command did not finish in 60 s of virtual time");
  }
  void Seed(const storage::WriteBatch& batch) override {
    for (const auto& op : batch.ops()) {
      std::string cf(storage::CfName(op.cf));
      Status s = op.type == storage::WriteBatch::OpType::kPut
                     ? client_.MustPutCf(cf, op.key, op.value)
                     : client_.MustDeleteCf(cf, op.key);
      TKV_CHECK(s.ok(), "seeding the cluster failed");
    }
  }
  std::map<std::string, std::string> Dump(storage::Cf cf) override {
    std::map<std::string, std::string> out;
    for (const auto& region : cluster_.scheduler().AllRegions()) {
      uint64_t store = cluster::LeaderStoreOf(cluster_, region.id());
      TKV_CHECK(store != 0, "a region without a leader");
      auto snap = cluster_.engine(store).NewSnapshot();
      auto part = DumpSnapshot(*snap, cf, region.start_key(), region.end_key());
      out.insert(part.begin(), part.end());
    }
    return out;
  }
  void Backoff() override { cluster_.RunFor(100); }
  cluster::Cluster* cluster() override { return &cluster_; }

 private:
  static cluster::ClusterOptions Options(uint64_t seed) {
    cluster::ClusterOptions o;
    o.stores = 3;
    o.seed = seed;
    o.raftstore = cluster::TestRaftstoreConfig();
    return o;
  }

  cluster::Cluster cluster_;
  cluster::SimClient client_;
  std::map<uint64_t, std::unique_ptr<server::RaftKvStorage>> kv_;
  std::map<uint64_t, std::unique_ptr<server::TxnKv>> txn_;
};

}  // namespace

std::unique_ptr<TxnBackend> MakeStandaloneBackend() { return std::make_unique<StandaloneBackend>(); }
std::unique_ptr<TxnBackend> MakeClusterBackend(uint64_t seed) {
  return std::make_unique<ClusterBackend>(seed);
}

}  // namespace tinykv::txntest
