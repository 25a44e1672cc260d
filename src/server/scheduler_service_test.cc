// tinykv-scheduler in one process: a real SchedulerServer on a loopback port,
// driven through SchedulerClient (what stores and clients use) and, where a
// client cannot express a request, through the raw generated stub. Covers the
// cluster-id check, bootstrap, stores, the TSO under concurrency and across a
// restart, metadata persistence, concurrent region heartbeats (the course's
// TestConcurrentHandleRegion3C) and operators pushed on the heartbeat stream.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client/scheduler_client.h"
#include "health.grpc.pb.h"
#include "scheduler/test_util.h"
#include "schedulerpb.grpc.pb.h"
#include "server/scheduler_config.h"
#include "server/scheduler_server.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace tinykv::server {
namespace {

using client::RegionHeartbeatStream;
using client::SchedulerClient;
using client::SchedulerClientOptions;
using client::SchedulerErrorType;
using google::protobuf::util::MessageDifferencer;
using scheduler::testutil::Region;
using schedulerpb::Scheduler;
using ::testing::HasSubstr;

// Generous: the suite runs under ASan on a 2-core machine next to other builds.
constexpr auto kWait = std::chrono::seconds(120);

// Store `id`, at an address of its own (never dialled: no store runs).
metapb::Store MakeStore(uint64_t id) {
  metapb::Store s;
  s.set_id(id);
  s.set_address(fmt::format("127.0.0.1:{}", 20160 + id));
  return s;
}

// A heartbeat of `region` from its peer on `leader_store`.
schedulerpb::RegionHeartbeatRequest Heartbeat(const metapb::Region& region, uint64_t leader_store) {
  schedulerpb::RegionHeartbeatRequest req;
  *req.mutable_region() = region;
  for (const auto& p : region.peers()) {
    if (p.store_id() == leader_store) *req.mutable_leader() = p;
  }
  EXPECT_NE(req.leader().id(), 0u)
      << "region " << region.id() << " has no peer on store " << leader_store;
  req.set_approximate_size(1);
  return req;
}

schedulerpb::StoreStats Stats(uint64_t store_id) {
  schedulerpb::StoreStats s;
  s.set_store_id(store_id);
  s.set_capacity(100ull << 30);
  s.set_available(60ull << 30);
  s.set_used_size(40ull << 30);
  return s;
}

std::string Key(int i) { return fmt::format("k{:06d}", i); }

// The responses one store's heartbeat stream received (filled on the
// stream's reader thread).
class Received {
 public:
  std::function<void(const schedulerpb::RegionHeartbeatResponse&)> Callback() {
    return [this](const schedulerpb::RegionHeartbeatResponse& r) {
      std::lock_guard<std::mutex> lock(mu_);
      got_.push_back(r);
    };
  }
  std::vector<schedulerpb::RegionHeartbeatResponse> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }

 private:
  std::mutex mu_;
  std::vector<schedulerpb::RegionHeartbeatResponse> got_;
};

template <typename Req, typename Resp>
using UnaryMethod = grpc::Status (Scheduler::Stub::*)(grpc::ClientContext*, const Req&, Resp*);

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

// A unary call through the raw stub with `cluster_id` in the header.
template <typename Req, typename Resp>
std::function<grpc::Status(uint64_t)> RawCall(Scheduler::Stub* stub, UnaryMethod<Req, Resp> m,
                                              Req req = {}) {
  return [stub, m, req](uint64_t cluster_id) {
    Req r = req;
    r.mutable_header()->set_cluster_id(cluster_id);
    Resp resp;
    return (stub->*m)(Ctx().get(), r, &resp);
  };
}

class SchedulerServiceTest : public ::testing::Test {
 protected:
  SchedulerServiceTest() {
    config_.addr = "127.0.0.1:0";
    config_.data_dir = dir_.Join("scheduler");
  }

  void StartServer() {
    auto s = SchedulerServer::Start(config_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(s).value();
    ASSERT_NE(server_->cluster_id(), 0u);
  }

  // Stops the server and starts a new one on the same data directory (and a
  // new port).
  void RestartServer() {
    server_->Shutdown();
    server_.reset();
    StartServer();
  }

  std::unique_ptr<SchedulerClient> NewClient(SchedulerClientOptions options = {}) {
    return std::make_unique<SchedulerClient>(server_->address(), options);
  }

  std::unique_ptr<Scheduler::Stub> NewStub() {
    return Scheduler::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  // Bootstraps with store 1 and region 1 (every key, peer 101 on store 1).
  void Bootstrap(SchedulerClient& c) {
    Status s = c.Bootstrap(MakeStore(1), Region(1, "", "", 1, 1, {{101, 1}}));
    ASSERT_TRUE(s.ok()) << s;
  }

  testing::TempDir dir_;
  SchedulerServerConfig config_;
  std::unique_ptr<SchedulerServer> server_;
};

// ---- 1. The cluster id ----

// Asks the reflection service for the list of services, with hand-encoded
// messages (the reflection protos are not installed with gRPC).
std::string ListServicesByReflection(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  auto step = [&] { return cq.Next(&tag, &ok) && ok; };
  call->StartCall(nullptr);
  if (!step()) return "";
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  std::string request("\x3a\x00", 2);
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, nullptr);
  if (!step()) return "";
  grpc::ByteBuffer in;
  call->Read(&in, nullptr);
  if (!step()) return "";
  call->WritesDone(nullptr);
  step();
  grpc::Status status;
  call->Finish(&status, nullptr);
  step();
  std::vector<grpc::Slice> slices;
  (void)in.Dump(&slices);
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes;
}

TEST_F(SchedulerServiceTest, HealthAndReflectionAreServed) {
  StartServer();
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  std::string listing = ListServicesByReflection(channel);
  EXPECT_NE(listing.find("schedulerpb.Scheduler"), std::string::npos);
  EXPECT_NE(listing.find("grpc.health.v1.Health"), std::string::npos);
}

TEST_F(SchedulerServiceTest, GetMembersNeedsNoClusterIdAndReportsIt) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto stub = NewStub();
  for (uint64_t header_id : {uint64_t{0}, server_->cluster_id() + 1}) {
    schedulerpb::GetMembersRequest req;
    if (header_id != 0) req.mutable_header()->set_cluster_id(header_id);
    schedulerpb::GetMembersResponse resp;
    grpc::Status st = stub->GetMembers(Ctx().get(), req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(resp.header().cluster_id(), server_->cluster_id());
    EXPECT_FALSE(resp.header().has_error());
    ASSERT_EQ(resp.members_size(), 1);
    ASSERT_EQ(resp.members(0).client_urls_size(), 1);
    EXPECT_EQ(resp.members(0).client_urls(0), "http://" + server_->address());
    EXPECT_EQ(resp.leader().member_id(), resp.members(0).member_id());
  }
  // A client learns the id the same way.
  auto c = NewClient();
  EXPECT_EQ(c->cluster_id(), 0u);
  ASSERT_TRUE(c->Connect().ok());
  EXPECT_EQ(c->cluster_id(), server_->cluster_id());
}

TEST_F(SchedulerServiceTest, EveryOtherRpcRefusesAnotherClusterId) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const uint64_t id = server_->cluster_id();
  auto stub = NewStub();
  Scheduler::Stub* s = stub.get();
  using S = Scheduler::Stub;

  // Requests that would succeed (or fail in the response header only) with
  // the right id, so that a refusal can only come from the header.
  schedulerpb::BootstrapRequest bootstrap;
  *bootstrap.mutable_store() = MakeStore(1);
  *bootstrap.mutable_region() = Region(1, "", "", 1, 1, {{101, 1}});
  schedulerpb::GetStoreRequest get_store;
  get_store.set_store_id(1);
  schedulerpb::PutStoreRequest put_store;
  *put_store.mutable_store() = MakeStore(2);
  schedulerpb::StoreHeartbeatRequest store_hb;
  *store_hb.mutable_stats() = Stats(1);
  schedulerpb::GetRegionRequest get_region;
  get_region.set_region_key("a");
  schedulerpb::GetRegionByIDRequest get_region_by_id;
  get_region_by_id.set_region_id(1);
  schedulerpb::AskSplitRequest ask_split;
  *ask_split.mutable_region() = bootstrap.region();
  schedulerpb::ReportSplitRequest report_split;
  *report_split.mutable_left() = Region(1, "", "m", 1, 2, {{101, 1}});
  *report_split.mutable_right() = Region(2, "m", "", 1, 2, {{102, 1}});
  schedulerpb::PutClusterConfigRequest put_config;
  put_config.mutable_cluster()->set_max_peer_count(3);
  schedulerpb::UpdateGCSafePointRequest update_gc;
  update_gc.set_safe_point(10);
  schedulerpb::GetOperatorRequest get_op;
  get_op.set_region_id(1);
  schedulerpb::AddOperatorRequest add_op;
  add_op.set_region_id(1);
  add_op.set_transfer_leader_store_id(2);
  schedulerpb::RemoveStoreRequest remove_store;
  remove_store.set_store_id(2);

  // Bootstrap first: once it is refused, the cluster must still not be
  // bootstrapped.
  const std::vector<std::pair<std::string, std::function<grpc::Status(uint64_t)>>> calls = {
      {"Bootstrap", RawCall(s, &S::Bootstrap, bootstrap)},
      {"IsBootstrapped", RawCall(s, &S::IsBootstrapped)},
      {"AllocID", RawCall(s, &S::AllocID)},
      {"PutStore", RawCall(s, &S::PutStore, put_store)},
      {"GetStore", RawCall(s, &S::GetStore, get_store)},
      {"GetAllStores", RawCall(s, &S::GetAllStores)},
      {"StoreHeartbeat", RawCall(s, &S::StoreHeartbeat, store_hb)},
      {"GetRegion", RawCall(s, &S::GetRegion, get_region)},
      {"GetPrevRegion", RawCall(s, &S::GetPrevRegion, get_region)},
      {"GetRegionByID", RawCall(s, &S::GetRegionByID, get_region_by_id)},
      {"ScanRegions", RawCall(s, &S::ScanRegions)},
      {"AskSplit", RawCall(s, &S::AskSplit, ask_split)},
      {"ReportSplit", RawCall(s, &S::ReportSplit, report_split)},
      {"GetClusterConfig", RawCall(s, &S::GetClusterConfig)},
      {"PutClusterConfig", RawCall(s, &S::PutClusterConfig, put_config)},
      {"GetGCSafePoint", RawCall(s, &S::GetGCSafePoint)},
      {"UpdateGCSafePoint", RawCall(s, &S::UpdateGCSafePoint, update_gc)},
      {"GetOperator", RawCall(s, &S::GetOperator, get_op)},
      {"AddOperator", RawCall(s, &S::AddOperator, add_op)},
      {"RemoveStore", RawCall(s, &S::RemoveStore, remove_store)},
      {"GetClusterStatus", RawCall(s, &S::GetClusterStatus)},
  };
  for (const auto& [name, call] : calls) {
    for (uint64_t wrong : {id + 1, uint64_t{0}}) {
      grpc::Status st = call(wrong);
      EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
          << name << " with cluster id " << wrong << ": " << st.error_message();
      EXPECT_THAT(st.error_message(), HasSubstr(std::to_string(id))) << name;
    }
  }

  // The streams end with the same status at their first request.
  for (uint64_t wrong : {id + 1, uint64_t{0}}) {
    {
      auto ctx = Ctx();
      auto stream = stub->Tso(ctx.get());
      schedulerpb::TsoRequest req;
      req.mutable_header()->set_cluster_id(wrong);
      req.set_count(1);
      (void)stream->Write(req);
      schedulerpb::TsoResponse resp;
      EXPECT_FALSE(stream->Read(&resp)) << "a timestamp for cluster " << wrong;
      (void)stream->WritesDone();
      grpc::Status st = stream->Finish();
      EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
    }
    {
      auto ctx = Ctx();
      auto stream = stub->RegionHeartbeat(ctx.get());
      schedulerpb::RegionHeartbeatRequest req = Heartbeat(bootstrap.region(), 1);
      req.mutable_header()->set_cluster_id(wrong);
      (void)stream->Write(req);
      schedulerpb::RegionHeartbeatResponse resp;
      EXPECT_FALSE(stream->Read(&resp));
      (void)stream->WritesDone();
      grpc::Status st = stream->Finish();
      EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
    }
  }

  // Nothing was written by the refused calls.
  schedulerpb::IsBootstrappedRequest is_req;
  is_req.mutable_header()->set_cluster_id(id);
  schedulerpb::IsBootstrappedResponse is_resp;
  ASSERT_TRUE(stub->IsBootstrapped(Ctx().get(), is_req, &is_resp).ok());
  EXPECT_FALSE(is_resp.bootstrapped());

  // With the right id every call is served (errors, if any, in the header).
  for (const auto& [name, call] : calls) {
    grpc::Status st = call(id);
    EXPECT_TRUE(st.ok()) << name << ": " << st.error_message();
  }
  ASSERT_TRUE(stub->IsBootstrapped(Ctx().get(), is_req, &is_resp).ok());
  EXPECT_TRUE(is_resp.bootstrapped());
}

TEST_F(SchedulerServiceTest, ClientOfAnotherClusterIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  SchedulerClientOptions wrong;
  wrong.cluster_id = server_->cluster_id() + 1;
  wrong.timeout = std::chrono::seconds(20);
  auto c = NewClient(wrong);

  Status s = c->Connect();
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("cluster id mismatch"));
  auto bootstrapped = c->IsBootstrapped();
  ASSERT_FALSE(bootstrapped.ok());
  EXPECT_EQ(bootstrapped.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(bootstrapped.status().message(), HasSubstr("cluster id mismatch"));
  s = c->Bootstrap(MakeStore(1), Region(1, "", "", 1, 1, {{101, 1}}));
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("cluster id mismatch"));
  auto ts = c->GetTimestamp();
  ASSERT_FALSE(ts.ok());
  EXPECT_EQ(ts.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(ts.status().message(), HasSubstr("cluster id mismatch"));
  auto alloc = c->AllocId();
  ASSERT_FALSE(alloc.ok());
  EXPECT_EQ(alloc.status().code(), Code::kInvalidArgument);

  // A client given the right id is served, and the refused Bootstrap did
  // not reach the scheduler.
  SchedulerClientOptions right;
  right.cluster_id = server_->cluster_id();
  auto ok = NewClient(right);
  ASSERT_TRUE(ok->Connect().ok());
  auto b = ok->IsBootstrapped();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(*b);
}

// ---- 2. Bootstrap and stores ----

TEST_F(SchedulerServiceTest, BootstrapThenStores) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto c = NewClient();

  auto bootstrapped = c->IsBootstrapped();
  ASSERT_TRUE(bootstrapped.ok()) << bootstrapped.status();
  EXPECT_FALSE(*bootstrapped);

  // Before bootstrap, store calls are refused with NOT_BOOTSTRAPPED.
  Status s = c->PutStore(MakeStore(7));
  EXPECT_EQ(SchedulerErrorType(s), schedulerpb::NOT_BOOTSTRAPPED) << s;
  EXPECT_EQ(s.code(), Code::kUnavailable) << s;
  auto all = c->GetAllStores(false);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(SchedulerErrorType(all.status()), schedulerpb::NOT_BOOTSTRAPPED) << all.status();
  s = c->StoreHeartbeat(Stats(7));
  EXPECT_EQ(SchedulerErrorType(s), schedulerpb::NOT_BOOTSTRAPPED) << s;

  // Ids as a store gets them when it bootstraps.
  auto store_id = c->AllocId();
  auto region_id = c->AllocId();
  auto peer_id = c->AllocId();
  ASSERT_TRUE(store_id.ok() && region_id.ok() && peer_id.ok());
  EXPECT_LT(*store_id, *region_id);
  EXPECT_LT(*region_id, *peer_id);

  metapb::Store store = MakeStore(*store_id);
  metapb::Region region = Region(*region_id, "", "", 1, 1, {{*peer_id, *store_id}});
  s = c->Bootstrap(store, region);
  ASSERT_TRUE(s.ok()) << s;
  bootstrapped = c->IsBootstrapped();
  ASSERT_TRUE(bootstrapped.ok()) << bootstrapped.status();
  EXPECT_TRUE(*bootstrapped);

  // Once only.
  s = c->Bootstrap(MakeStore(*store_id + 100), region);
  EXPECT_EQ(SchedulerErrorType(s), schedulerpb::ALREADY_BOOTSTRAPPED) << s;
  EXPECT_EQ(s.code(), Code::kAborted) << s;

  // The first region holds every key.
  for (const std::string key : {"", "any key", "\xff\xff\xff"}) {
    auto route = c->GetRegion(key);
    ASSERT_TRUE(route.ok()) << route.status();
    ASSERT_TRUE(route->has_value()) << "no region for key " << key;
    EXPECT_TRUE(MessageDifferencer::Equals((*route)->region, region))
        << (*route)->region.ShortDebugString();
  }
  auto by_id = c->GetRegionById(*region_id);
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  ASSERT_TRUE(by_id->has_value());
  EXPECT_TRUE(MessageDifferencer::Equals((*by_id)->region, region));
  auto none = c->GetRegionById(*peer_id + 1000);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  // The bootstrap store is registered and up.
  auto got = c->GetStore(*store_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->store().address(), store.address());
  EXPECT_EQ(got->store().state(), metapb::Up);

  // PutStore / GetStore / GetAllStores.
  auto second_id = c->AllocId();
  ASSERT_TRUE(second_id.ok());
  metapb::Store second = MakeStore(*second_id);
  s = c->PutStore(second);
  ASSERT_TRUE(s.ok()) << s;
  got = c->GetStore(*second_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->store().id(), *second_id);
  EXPECT_EQ(got->store().address(), second.address());
  EXPECT_EQ(got->store().state(), metapb::Up);

  // An update (a store restarted on another port) replaces the address.
  second.set_address("127.0.0.1:30999");
  s = c->PutStore(second);
  ASSERT_TRUE(s.ok()) << s;
  got = c->GetStore(*second_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->store().address(), "127.0.0.1:30999");

  // A store heartbeat's statistics are what GetStore shows.
  s = c->StoreHeartbeat(Stats(*second_id));
  ASSERT_TRUE(s.ok()) << s;
  got = c->GetStore(*second_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->stats().capacity(), Stats(*second_id).capacity());
  EXPECT_EQ(got->stats().available(), Stats(*second_id).available());

  all = c->GetAllStores(false);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  std::vector<uint64_t> ids;
  for (const auto& st : *all) ids.push_back(st.id());
  EXPECT_THAT(ids, ::testing::UnorderedElementsAre(*store_id, *second_id));

  // Another store at an address a live store uses is refused, and so is an
  // unknown store.
  metapb::Store clash = MakeStore(*second_id + 1);
  clash.set_address(store.address());
  s = c->PutStore(clash);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(SchedulerErrorType(s), schedulerpb::UNKNOWN) << s;
  EXPECT_THAT(s.message(), HasSubstr(store.address()));
  auto unknown = c->GetStore(*second_id + 1);
  EXPECT_FALSE(unknown.ok());
  all = c->GetAllStores(false);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 2u);

  // Ids keep going up after bootstrap.
  auto later = c->AllocId();
  ASSERT_TRUE(later.ok());
  EXPECT_GT(*later, *second_id);
}

// ---- 3. TSO ----

// `threads` threads, thread t taking `per_thread` timestamps from
// clients[t % clients.size()], all started together. Returns each thread's
// timestamps; failures are test failures.
std::vector<std::vector<uint64_t>> TakeTimestamps(const std::vector<SchedulerClient*>& clients,
                                                  int threads, int per_thread) {
  std::vector<std::vector<uint64_t>> out(static_cast<size_t>(threads));
  std::vector<std::string> errors(static_cast<size_t>(threads));
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      SchedulerClient* c = clients[static_cast<size_t>(t) % clients.size()];
      auto& mine = out[static_cast<size_t>(t)];
      mine.reserve(static_cast<size_t>(per_thread));
      start.arrive_and_wait();
      for (int i = 0; i < per_thread; ++i) {
        auto ts = c->GetTimestamp();
        if (!ts.ok()) {
          errors[static_cast<size_t>(t)] = ts.status().ToString();
          return;
        }
        mine.push_back(*ts);
      }
    });
  }
  for (auto& w : workers) w.join();
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(errors[static_cast<size_t>(t)], "") << "thread " << t;
    EXPECT_EQ(out[static_cast<size_t>(t)].size(), static_cast<size_t>(per_thread))
        << "thread " << t;
  }
  return out;
}

// Each thread's sequence strictly increasing, and no timestamp twice.
// Returns all of them, sorted.
std::vector<uint64_t> CheckTimestamps(const std::vector<std::vector<uint64_t>>& per_thread) {
  std::vector<uint64_t> all;
  for (size_t t = 0; t < per_thread.size(); ++t) {
    const auto& seq = per_thread[t];
    for (size_t i = 1; i < seq.size(); ++i) {
      if (seq[i] <= seq[i - 1]) {
        ADD_FAILURE() << "thread " << t << ": timestamp " << i << " (" << seq[i]
                      << ") is not above the one before (" << seq[i - 1] << ")";
        break;
      }
    }
    all.insert(all.end(), seq.begin(), seq.end());
  }
  std::sort(all.begin(), all.end());
  auto dup = std::adjacent_find(all.begin(), all.end());
  EXPECT_EQ(dup, all.end()) << "timestamp " << (dup == all.end() ? 0 : *dup) << " handed out twice";
  return all;
}

TEST_F(SchedulerServiceTest, ConcurrentTimestampsAreUniqueAndSurviveRestart) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 2000;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const uint64_t cluster_id = server_->cluster_id();

  // One client shared by every thread (its calls batch).
  std::vector<uint64_t> shared_all;
  {
    auto shared = NewClient();
    auto seqs = TakeTimestamps({shared.get()}, kThreads, kPerThread);
    shared_all = CheckTimestamps(seqs);
    ASSERT_EQ(shared_all.size(), static_cast<size_t>(kThreads * kPerThread));
  }

  // Several clients (four threads each), after the first round: every
  // timestamp above the ones handed out before.
  std::vector<uint64_t> several_all;
  {
    std::vector<std::unique_ptr<SchedulerClient>> owned;
    std::vector<SchedulerClient*> clients;
    for (int i = 0; i < 4; ++i) {
      owned.push_back(NewClient());
      clients.push_back(owned.back().get());
    }
    auto seqs = TakeTimestamps(clients, kThreads, kPerThread);
    several_all = CheckTimestamps(seqs);
    ASSERT_EQ(several_all.size(), static_cast<size_t>(kThreads * kPerThread));
    EXPECT_GT(several_all.front(), shared_all.back());
  }

  // Run the TSO ahead of the wall clock: a request for the most timestamps
  // one millisecond holds uses that millisecond up, so back-to-back requests
  // move the physical time forward faster than the clock does. Then only the
  // persisted bound keeps the next scheduler above them.
  uint64_t max_before = several_all.back();
  {
    auto stub = NewStub();
    auto ctx = Ctx();
    auto stream = stub->Tso(ctx.get());
    schedulerpb::TsoRequest req;
    req.mutable_header()->set_cluster_id(cluster_id);
    req.set_count((1u << 18) - 1);
    int64_t physical = 0;
    for (int i = 0; i < 5000; ++i) {
      schedulerpb::TsoResponse resp;
      ASSERT_TRUE(stream->Write(req) && stream->Read(&resp)) << "request " << i;
      ASSERT_FALSE(resp.header().has_error()) << resp.header().ShortDebugString();
      uint64_t last = (static_cast<uint64_t>(resp.timestamp().physical()) << 18) |
                      static_cast<uint64_t>(resp.timestamp().logical());
      uint64_t first = last - req.count() + 1;
      ASSERT_GT(first, max_before) << "request " << i;
      max_before = last;
      physical = resp.timestamp().physical();
    }
    ASSERT_TRUE(stream->WritesDone());
    grpc::Status st = stream->Finish();
    ASSERT_TRUE(st.ok()) << st.error_message();
    // For the log: how far ahead of the wall clock the TSO got (when ahead,
    // the restart below really depends on the persisted bound).
    auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    std::cout << "TSO physical time ahead of the wall clock before the restart: "
              << physical - static_cast<int64_t>(wall_ms) << " ms\n";
  }

  // A new scheduler on the same data: it starts above every timestamp the
  // first one handed out (the persisted window), at once, not once the wall
  // clock has caught up.
  ASSERT_NO_FATAL_FAILURE(RestartServer());
  EXPECT_EQ(server_->cluster_id(), cluster_id);
  auto c = NewClient();
  auto first = c->GetTimestamp();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GT(*first, max_before);
  auto after = CheckTimestamps(TakeTimestamps({c.get()}, 4, 100));
  ASSERT_FALSE(after.empty());
  EXPECT_GT(after.front(), *first);
}

TEST_F(SchedulerServiceTest, TsoStreamAnswersBadCountsInTheHeader) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto stub = NewStub();
  auto ctx = Ctx();
  auto stream = stub->Tso(ctx.get());
  auto ask = [&](uint32_t count) {
    schedulerpb::TsoRequest req;
    req.mutable_header()->set_cluster_id(server_->cluster_id());
    req.set_count(count);
    schedulerpb::TsoResponse resp;
    EXPECT_TRUE(stream->Write(req));
    EXPECT_TRUE(stream->Read(&resp));
    return resp;
  };
  auto zero = ask(0);
  ASSERT_TRUE(zero.header().has_error());
  EXPECT_NE(zero.header().error().type(), schedulerpb::OK);
  auto huge = ask(1u << 18);
  ASSERT_TRUE(huge.header().has_error());
  EXPECT_NE(huge.header().error().type(), schedulerpb::OK);
  // The stream still serves: ten consecutive timestamps, above the next one.
  auto ten = ask(10);
  ASSERT_FALSE(ten.header().has_error()) << ten.header().ShortDebugString();
  EXPECT_EQ(ten.count(), 10u);
  EXPECT_GT(ten.timestamp().physical(), 0);
  EXPECT_GE(ten.timestamp().logical(), 10);
  auto one = ask(1);
  ASSERT_FALSE(one.header().has_error());
  auto compose = [](const schedulerpb::Timestamp& t) {
    return (static_cast<uint64_t>(t.physical()) << 18) | static_cast<uint64_t>(t.logical());
  };
  EXPECT_GT(compose(one.timestamp()), compose(ten.timestamp()));
  ASSERT_TRUE(stream->WritesDone());
  grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
}

// ---- 4. Persistence ----

TEST_F(SchedulerServiceTest, MetadataSurvivesRestart) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const uint64_t cluster_id = server_->cluster_id();
  // The region, after a split the scheduler heard about by heartbeats.
  const metapb::Region left = Region(1, "", "m", 3, 2, {{101, 1}, {201, 2}, {301, 3}});
  const metapb::Region right = Region(5, "m", "", 3, 2, {{105, 1}, {205, 2}, {305, 3}});
  uint64_t last_id = 0;
  {
    auto c = NewClient();
    ASSERT_NO_FATAL_FAILURE(Bootstrap(*c));
    for (uint64_t id : {uint64_t{2}, uint64_t{3}}) {
      Status s = c->PutStore(MakeStore(id));
      ASSERT_TRUE(s.ok()) << s;
    }
    metapb::Cluster config;
    config.set_max_peer_count(5);
    Status s = c->PutClusterConfig(config);
    ASSERT_TRUE(s.ok()) << s;
    auto cfg = c->GetClusterConfig();
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    EXPECT_EQ(cfg->max_peer_count(), 5u);
    EXPECT_EQ(cfg->id(), cluster_id);

    // The GC safe point only moves forward.
    auto sp = c->UpdateGcSafePoint(400);
    ASSERT_TRUE(sp.ok()) << sp.status();
    EXPECT_EQ(*sp, 400u);
    sp = c->UpdateGcSafePoint(300);
    ASSERT_TRUE(sp.ok()) << sp.status();
    EXPECT_EQ(*sp, 400u);
    sp = c->GetGcSafePoint();
    ASSERT_TRUE(sp.ok()) << sp.status();
    EXPECT_EQ(*sp, 400u);

    Received received;
    auto stream = c->OpenRegionHeartbeatStream(received.Callback());
    stream->Send(Heartbeat(left, 1));
    stream->Send(Heartbeat(right, 2));
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          auto scan = c->ScanRegions("", "", 0);
          return scan.ok() && scan->size() == 2 && scan->at(0).region.id() == 1 &&
                 scan->at(0).region.peers_size() == 3 && scan->at(1).region.id() == 5;
        },
        kWait));
    auto id = c->AllocId();
    ASSERT_TRUE(id.ok());
    last_id = *id;
  }

  ASSERT_NO_FATAL_FAILURE(RestartServer());
  EXPECT_EQ(server_->cluster_id(), cluster_id);
  auto c = NewClient();
  ASSERT_TRUE(c->Connect().ok());
  EXPECT_EQ(c->cluster_id(), cluster_id);
  auto bootstrapped = c->IsBootstrapped();
  ASSERT_TRUE(bootstrapped.ok()) << bootstrapped.status();
  EXPECT_TRUE(*bootstrapped);

  auto all = c->GetAllStores(false);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  for (const auto& st : *all) {
    EXPECT_EQ(st.address(), MakeStore(st.id()).address());
    EXPECT_EQ(st.state(), metapb::Up);
  }

  auto cfg = c->GetClusterConfig();
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->max_peer_count(), 5u);
  EXPECT_EQ(cfg->id(), cluster_id);

  auto sp = c->GetGcSafePoint();
  ASSERT_TRUE(sp.ok()) << sp.status();
  EXPECT_EQ(*sp, 400u);
  sp = c->UpdateGcSafePoint(399);
  ASSERT_TRUE(sp.ok()) << sp.status();
  EXPECT_EQ(*sp, 400u);
  sp = c->UpdateGcSafePoint(500);
  ASSERT_TRUE(sp.ok()) << sp.status();
  EXPECT_EQ(*sp, 500u);

  auto scan = c->ScanRegions("", "", 0);
  ASSERT_TRUE(scan.ok()) << scan.status();
  ASSERT_EQ(scan->size(), 2u);
  EXPECT_TRUE(MessageDifferencer::Equals(scan->at(0).region, left))
      << scan->at(0).region.ShortDebugString();
  EXPECT_TRUE(MessageDifferencer::Equals(scan->at(1).region, right))
      << scan->at(1).region.ShortDebugString();
  auto route = c->GetRegion("zzz");
  ASSERT_TRUE(route.ok()) << route.status();
  ASSERT_TRUE(route->has_value());
  EXPECT_EQ((*route)->region.id(), 5u);
  auto prev = c->GetPrevRegion("zzz");
  ASSERT_TRUE(prev.ok()) << prev.status();
  ASSERT_TRUE(prev->has_value());
  EXPECT_EQ((*prev)->region.id(), 1u);

  // Ids are never handed out twice across a restart.
  auto id = c->AllocId();
  ASSERT_TRUE(id.ok());
  EXPECT_GT(*id, last_id);
}

// ---- 5. Concurrent region heartbeats ----

// The course's TestConcurrentHandleRegion3C: three stores report many
// regions at once on their heartbeat streams; the scheduler keeps them all
// and keeps serving.
TEST_F(SchedulerServiceTest, ConcurrentHandleRegion3C) {
  constexpr int kRegions = 2000;
  constexpr int kStores = 3;
  constexpr int kThreads = 6;  // two per store's stream
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto admin = NewClient();
  ASSERT_NO_FATAL_FAILURE(Bootstrap(*admin));
  for (uint64_t id = 2; id <= kStores; ++id) {
    Status s = admin->PutStore(MakeStore(id));
    ASSERT_TRUE(s.ok()) << s;
  }

  // Region i covers [Key(i), Key(i+1)), with a peer on every store, led by
  // store i % 3 + 1. Its epoch is newer than the bootstrap region's (1/1),
  // which the first of them replaces.
  auto region_of = [](int i) {
    std::vector<std::pair<uint64_t, uint64_t>> peers;  // (peer id, store id)
    for (uint64_t s = 1; s <= kStores; ++s)
      peers.emplace_back(100000 + static_cast<uint64_t>(i) * kStores + s, s);
    return Region(1000 + static_cast<uint64_t>(i), Key(i), Key(i + 1), 3, 2, peers);
  };
  auto leader_of = [](int i) { return static_cast<uint64_t>(i % kStores) + 1; };

  std::vector<std::unique_ptr<SchedulerClient>> store_clients;
  std::vector<std::unique_ptr<Received>> received;
  std::vector<std::unique_ptr<RegionHeartbeatStream>> streams;
  for (uint64_t s = 1; s <= kStores; ++s) {
    store_clients.push_back(NewClient());
    Status st = store_clients.back()->StoreHeartbeat(Stats(s));
    ASSERT_TRUE(st.ok()) << st;
    received.push_back(std::make_unique<Received>());
    streams.push_back(store_clients.back()->OpenRegionHeartbeatStream(received.back()->Callback()));
  }

  std::latch start(kThreads);
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = t; i < kRegions; i += kThreads) {
        // t % 3 == i % 3: the thread sends on the stream of the region's leader.
        streams[leader_of(i) - 1]->Send(Heartbeat(region_of(i), leader_of(i)));
      }
    });
  }
  for (auto& th : senders) th.join();

  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto st = admin->GetClusterStatus(1);
        return st.ok() && st->region_count() == kRegions;
      },
      kWait))
      << "the scheduler did not get every region";

  auto scan = admin->ScanRegions("", "", 0);
  ASSERT_TRUE(scan.ok()) << scan.status();
  ASSERT_EQ(scan->size(), static_cast<size_t>(kRegions));
  for (int i = 0; i < kRegions; ++i) {
    const auto& route = scan->at(static_cast<size_t>(i));
    EXPECT_TRUE(MessageDifferencer::Equals(route.region, region_of(i)))
        << route.region.ShortDebugString();
    EXPECT_EQ(route.leader.store_id(), leader_of(i)) << "region " << route.region.id();
  }
  // Lookups by range over the regions the heartbeats made.
  auto part = admin->ScanRegions(Key(10), Key(20), 0);
  ASSERT_TRUE(part.ok()) << part.status();
  ASSERT_EQ(part->size(), 10u);
  EXPECT_EQ(part->front().region.id(), 1010u);
  EXPECT_EQ(part->back().region.id(), 1019u);
  part = admin->ScanRegions(Key(10), "", 5);
  ASSERT_TRUE(part.ok()) << part.status();
  ASSERT_EQ(part->size(), 5u);
  EXPECT_EQ(part->back().region.id(), 1014u);
  auto prev = admin->GetPrevRegion(Key(10));
  ASSERT_TRUE(prev.ok()) << prev.status();
  ASSERT_TRUE(prev->has_value());
  EXPECT_EQ((*prev)->region.id(), 1009u);
  auto bootstrap_region = admin->GetRegionById(1);
  ASSERT_TRUE(bootstrap_region.ok());
  EXPECT_FALSE(bootstrap_region->has_value()) << "the replaced bootstrap region is still there";

  auto limited = admin->GetClusterStatus(1);
  ASSERT_TRUE(limited.ok()) << limited.status();
  EXPECT_EQ(limited->regions_size(), 1);
  auto status = admin->GetClusterStatus(0);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->region_count(), static_cast<uint32_t>(kRegions));
  EXPECT_EQ(status->regions_size(), kRegions);
  ASSERT_EQ(status->stores_size(), kStores);
  uint32_t leaders = 0;
  for (const auto& st : status->stores()) {
    EXPECT_EQ(st.region_count(), static_cast<uint32_t>(kRegions)) << "store " << st.store().id();
    leaders += st.leader_count();
  }
  EXPECT_EQ(leaders, static_cast<uint32_t>(kRegions));

  // Still serving: ids, timestamps, lookups and a new heartbeat.
  auto id = admin->AllocId();
  EXPECT_TRUE(id.ok()) << id.status();
  auto ts = admin->GetTimestamp();
  EXPECT_TRUE(ts.ok()) << ts.status();
  auto route = admin->GetRegion(Key(1234) + "x");
  ASSERT_TRUE(route.ok()) << route.status();
  ASSERT_TRUE(route->has_value());
  EXPECT_EQ((*route)->region.id(), 1000u + 1234u);
  EXPECT_EQ((*route)->leader.store_id(), leader_of(1234));

  // A stale report (region 2 before its splits: an older version, a wider
  // range) changes nothing; a new region's report, sent after it on the same
  // stream (so handled after it), is taken.
  const uint64_t last_store = leader_of(kRegions);
  ASSERT_EQ(leader_of(2), last_store);
  metapb::Region stale = region_of(2);
  stale.set_end_key(Key(9));
  stale.mutable_region_epoch()->set_version(1);
  streams[last_store - 1]->Send(Heartbeat(stale, last_store));
  streams[last_store - 1]->Send(Heartbeat(region_of(kRegions), last_store));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto r = admin->GetRegion(Key(kRegions));
        return r.ok() && r->has_value() && (*r)->region.id() == 1000u + kRegions;
      },
      kWait));
  auto kept = admin->GetRegionById(1002);
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_TRUE(MessageDifferencer::Equals((*kept)->region, region_of(2)))
      << (*kept)->region.ShortDebugString();
  route = admin->GetRegion(Key(5));
  ASSERT_TRUE(route.ok() && route->has_value());
  EXPECT_EQ((*route)->region.id(), 1005u);
  auto count = admin->GetClusterStatus(1);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(count->region_count(), static_cast<uint32_t>(kRegions + 1));
}

// ---- 6. Operators ----

TEST_F(SchedulerServiceTest, OperatorIsPushedOnTheLeadersHeartbeatStream) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto admin = NewClient();
  ASSERT_NO_FATAL_FAILURE(Bootstrap(*admin));
  Status s = admin->PutStore(MakeStore(2));
  ASSERT_TRUE(s.ok()) << s;

  // Two stores, heartbeating, each with its heartbeat stream.
  auto store1 = NewClient();
  auto store2 = NewClient();
  for (auto [c, id] : {std::pair{store1.get(), 1}, std::pair{store2.get(), 2}}) {
    s = c->StoreHeartbeat(Stats(static_cast<uint64_t>(id)));
    ASSERT_TRUE(s.ok()) << s;
  }
  Received received1;
  Received received2;
  auto stream1 = store1->OpenRegionHeartbeatStream(received1.Callback());
  auto stream2 = store2->OpenRegionHeartbeatStream(received2.Callback());

  // Region 1 with a second peer on store 2, led by store 1.
  const metapb::Region region = Region(1, "", "", 2, 1, {{101, 1}, {201, 2}});
  stream1->Send(Heartbeat(region, 1));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto r = admin->GetRegionById(1);
        return r.ok() && r->has_value() && (*r)->region.peers_size() == 2 &&
               (*r)->leader.store_id() == 1;
      },
      kWait));

  schedulerpb::AddOperatorRequest add;
  add.set_region_id(1);
  add.set_transfer_leader_store_id(2);
  auto desc = admin->AddOperator(add);
  ASSERT_TRUE(desc.ok()) << desc.status();
  EXPECT_THAT(*desc, HasSubstr("transfer leader"));

  auto op = admin->GetOperator(1);
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->status(), schedulerpb::RUNNING) << op->ShortDebugString();
  EXPECT_EQ(op->region_id(), 1u);

  // The step reaches store 1, the leader, on its stream, without waiting
  // for its next heartbeat.
  auto transfer = [&]() -> std::optional<schedulerpb::RegionHeartbeatResponse> {
    for (const auto& r : received1.Get()) {
      if (r.has_transfer_leader()) return r;
    }
    return std::nullopt;
  };
  ASSERT_TRUE(testing::WaitFor([&] { return transfer().has_value(); }, kWait))
      << "store 1 got no transfer-leader command";
  schedulerpb::RegionHeartbeatResponse cmd = *transfer();
  EXPECT_EQ(cmd.header().cluster_id(), server_->cluster_id());
  EXPECT_EQ(cmd.region_id(), 1u);
  EXPECT_EQ(cmd.transfer_leader().peer().store_id(), 2u);
  EXPECT_EQ(cmd.transfer_leader().peer().id(), 201u);
  EXPECT_EQ(cmd.target_peer().id(), 101u);
  EXPECT_TRUE(MessageDifferencer::Equals(cmd.region_epoch(), region.region_epoch()));
  EXPECT_FALSE(cmd.has_change_peer());

  // Store 2 reports the leadership: the operator is done.
  stream2->Send(Heartbeat(region, 2));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto o = admin->GetOperator(1);
        return o.ok() && o->status() == schedulerpb::SUCCESS;
      },
      kWait))
      << "the operator did not finish";
  auto route = admin->GetRegionById(1);
  ASSERT_TRUE(route.ok() && route->has_value());
  EXPECT_EQ((*route)->leader.store_id(), 2u);
}

// ---- 7. Unserved RPCs ----

TEST_F(SchedulerServiceTest, ScatterRegionIsUnimplemented) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto c = NewClient();
  ASSERT_NO_FATAL_FAILURE(Bootstrap(*c));
  auto stub = NewStub();
  schedulerpb::ScatterRegionRequest req;
  req.mutable_header()->set_cluster_id(server_->cluster_id());
  req.set_region_id(1);
  schedulerpb::ScatterRegionResponse resp;
  grpc::Status st = stub->ScatterRegion(Ctx().get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
  // And the scheduler still serves.
  auto b = c->IsBootstrapped();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(*b);
}

}  // namespace
}  // namespace tinykv::server
