// Three real tinykv-server processes in cluster mode on loopback: writes
// under load while a follower and then the leader are killed with SIGKILL
// and restarted; every write a server acknowledged must be readable at the
// end. The client here is deliberately simple (one region, fixed members):
// it follows NotLeader hints and otherwise tries the next store.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "tinykvpb.grpc.pb.h"

namespace tinykv {
namespace {

constexpr int kStores = 3;

enum class Outcome { kOk, kRetry, kUnknown };

class ClusterProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string members;
    for (int s = 1; s <= kStores; ++s) {
      addrs_[s] = "127.0.0.1:" + std::to_string(testing::FreePort());
      members += (s > 1 ? "," : "") + std::to_string(s) + "=" + addrs_[s];
    }
    std::ofstream(dir_.Join("tinykv.toml")) << "[raftstore]\n"
                                               "raft-base-tick-interval = \"50ms\"\n"
                                               "raft-log-gc-tick-interval = \"1s\"\n"
                                               "raft-log-gc-count-limit = 200\n";
    members_ = members;
    for (int s = 1; s <= kStores; ++s) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
      stubs_[s] = tinykvpb::TinyKv::NewStub(
          grpc::CreateCustomChannel(addrs_[s], grpc::InsecureChannelCredentials(), args));
    }
  }

  void TearDown() override {
    for (auto& [s, p] : servers_) {
      if (p && p->Running()) {
        p->Signal(SIGTERM);
        EXPECT_EQ(p->Wait(), 0) << "store " << s << " did not stop cleanly\n" << Log(s);
      }
    }
  }

  void Start(int s) {
    servers_[s] = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{TINYKV_SERVER_BIN, "--config", dir_.Join("tinykv.toml"),
                                 "--store-id", std::to_string(s), "--initial-cluster", members_,
                                 "--addr", addrs_[s], "--data-dir",
                                 dir_.Join("store" + std::to_string(s)), "--log-level", "info"},
        dir_.Join("store" + std::to_string(s) + ".log"));
  }

  void Kill(int s) {
    servers_[s]->Signal(SIGKILL);
    EXPECT_EQ(servers_[s]->Wait(), 128 + SIGKILL);
  }

  std::string Log(int s) const {
    return "store " + std::to_string(s) + " log:\n" +
           testing::ReadFileOrEmpty(dir_.Join("store" + std::to_string(s) + ".log"));
  }

  kvrpcpb::Context ContextFor(int s) {
    kvrpcpb::Context ctx;
    ctx.set_region_id(1);
    std::lock_guard lock(mu_);
    *ctx.mutable_region_epoch() = epoch_;
    ctx.mutable_peer()->set_id(s);  // fixed bootstrap: peer id = store id
    ctx.mutable_peer()->set_store_id(s);
    return ctx;
  }

  // Learns from a region error; returns the store to try next.
  int Next(int s, const errorpb::Error& e) {
    if (e.has_not_leader() && e.not_leader().leader().store_id() != 0)
      return static_cast<int>(e.not_leader().leader().store_id());
    if (e.has_epoch_not_match()) {
      std::lock_guard lock(mu_);
      for (const auto& r : e.epoch_not_match().current_regions())
        if (r.id() == 1) epoch_ = r.region_epoch();
    }
    return s % kStores + 1;
  }

  Outcome PutOnce(int& s, const std::string& key, const std::string& value) {
    kvrpcpb::RawPutRequest req;
    *req.mutable_context() = ContextFor(s);
    req.set_key(key);
    req.set_value(value);
    kvrpcpb::RawPutResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::Status st = stubs_[s]->RawPut(&ctx, req, &resp);
    if (!st.ok()) {
      // Sent but not answered: it may still be applied.
      bool sent = st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
      s = s % kStores + 1;
      return sent ? Outcome::kUnknown : Outcome::kRetry;
    }
    if (resp.has_region_error()) {
      s = Next(s, resp.region_error());
      return Outcome::kRetry;
    }
    if (!resp.error().empty()) {
      s = s % kStores + 1;
      return Outcome::kUnknown;
    }
    leader_hint_ = s;
    return Outcome::kOk;
  }

  // Puts until acknowledged or the deadline passes. Puts are idempotent, so
  // retrying a write of unknown outcome is safe.
  bool Put(const std::string& key, const std::string& value,
           std::chrono::seconds within = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + within;
    int s = leader_hint_.load();
    while (std::chrono::steady_clock::now() < deadline) {
      Outcome o = PutOnce(s, key, value);
      if (o == Outcome::kOk) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::optional<std::string> Get(const std::string& key) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int s = leader_hint_.load();
    while (std::chrono::steady_clock::now() < deadline) {
      kvrpcpb::RawGetRequest req;
      *req.mutable_context() = ContextFor(s);
      req.set_key(key);
      kvrpcpb::RawGetResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      grpc::Status st = stubs_[s]->RawGet(&ctx, req, &resp);
      if (st.ok() && !resp.has_region_error() && resp.error().empty()) {
        leader_hint_ = s;
        if (resp.not_found()) return std::string("<not found>");
        return resp.value();
      }
      s = st.ok() && resp.has_region_error() ? Next(s, resp.region_error()) : s % kStores + 1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

  testing::TempDir dir_;
  std::map<int, std::string> addrs_;
  std::string members_;
  std::map<int, std::unique_ptr<tinykvpb::TinyKv::Stub>> stubs_;
  std::map<int, std::unique_ptr<testing::Subprocess>> servers_;
  std::mutex mu_;
  metapb::RegionEpoch epoch_ = [] {
    metapb::RegionEpoch e;
    e.set_conf_ver(1);
    e.set_version(1);
    return e;
  }();
  std::atomic<int> leader_hint_{1};
};

TEST_F(ClusterProcessTest, AcknowledgedWritesSurviveKillingAFollowerThenTheLeader) {
  for (int s = 1; s <= kStores; ++s) Start(s);
  ASSERT_TRUE(Put("hello", "world", std::chrono::seconds(60))) << Log(1) << Log(2) << Log(3);
  EXPECT_EQ(Get("hello"), "world");

  // Writers: each key written once; acknowledged keys are recorded.
  std::mutex acked_mu;
  std::map<std::string, std::string> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> attempts{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int n = 0; !stop; ++n) {
        std::string key = "w" + std::to_string(w) + "-" + std::to_string(n);
        std::string value = "v" + std::to_string(n);
        ++attempts;
        if (Put(key, value, std::chrono::seconds(5))) {
          std::lock_guard lock(acked_mu);
          acked[key] = value;
        }
      }
    });
  }
  auto acked_count = [&] {
    std::lock_guard lock(acked_mu);
    return acked.size();
  };
  auto wait_for_more = [&](size_t more) {
    size_t target = acked_count() + more;
    return testing::WaitFor([&] { return acked_count() >= target; }, std::chrono::seconds(60));
  };

  ASSERT_TRUE(wait_for_more(200));
  int leader = leader_hint_.load();
  int follower = leader % kStores + 1;
  Kill(follower);
  EXPECT_TRUE(wait_for_more(200)) << "no progress with a follower down";
  // The log was compacted meanwhile (gc limit 200 entries): the follower
  // catches up by a snapshot over the Snapshot stream.
  std::string sent = "sent a snapshot of region 1 to store " + std::to_string(follower);
  // (Two log GC ticks, so that the compaction certainly happened.)
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  Start(follower);
  EXPECT_TRUE(wait_for_more(200));
  auto any_log_has = [&](const std::string& text) {
    for (int s = 1; s <= kStores; ++s)
      if (Log(s).find(text) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(testing::WaitFor([&] { return any_log_has(sent); }, std::chrono::seconds(30)))
      << "the restarted follower did not get a snapshot\n"
      << Log(leader) << Log(follower);

  leader = leader_hint_.load();
  Kill(leader);
  EXPECT_TRUE(wait_for_more(200)) << "no progress after the leader was killed\n"
                                  << Log(leader % kStores + 1);
  Start(leader);
  EXPECT_TRUE(wait_for_more(200));
  stop = true;
  for (auto& t : writers) t.join();

  // Every acknowledged write is there, with its value.
  size_t missing = 0;
  for (const auto& [k, v] : acked) {
    auto got = Get(k);
    ASSERT_TRUE(got.has_value()) << "cannot read " << k;
    if (*got != v) ++missing;
    EXPECT_EQ(*got, v) << k;
    if (missing > 5) break;
  }
  std::printf("acknowledged %zu of %d writes; all read back\n", acked.size(), attempts.load());
}

}  // namespace
}  // namespace tinykv
