// The server over real gRPC on a loopback port, in one process: wire
// behaviour, limits, health and reflection, restart and shutdown.
#include "server/server.h"

#include <fmt/format.h>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "health.grpc.pb.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "tinykvpb.grpc.pb.h"

namespace tinykv::server {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() {
    config_.standalone = true;
    config_.addr = "127.0.0.1:0";
    config_.data_dir = dir_.Join("data");
    config_.block_cache_size = 8 << 20;
    config_.shutdown_timeout = std::chrono::milliseconds(5000);
  }

  void StartServer() {
    auto s = Server::Start(config_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(s).value();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    channel_ =
        grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args);
    stub_ = tinykvpb::TinyKv::NewStub(channel_);
  }

  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  grpc::Status Put(const std::string& key, const std::string& value,
                   kvrpcpb::RawPutResponse* resp) {
    kvrpcpb::RawPutRequest req;
    req.set_key(key);
    req.set_value(value);
    return stub_->RawPut(Ctx().get(), req, resp);
  }

  kvrpcpb::RawGetResponse Get(const std::string& key) {
    kvrpcpb::RawGetRequest req;
    req.set_key(key);
    kvrpcpb::RawGetResponse resp;
    grpc::Status st = stub_->RawGet(Ctx().get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  void ServeTheRegionItHosts();

  testing::TempDir dir_;
  Config config_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tinykvpb::TinyKv::Stub> stub_;
};

TEST_F(ServerTest, RawCommandsOverGrpc) {
  StartServer();
  kvrpcpb::RawPutResponse put;
  ASSERT_TRUE(Put("k1", "v1", &put).ok());
  EXPECT_EQ(put.error(), "");
  EXPECT_EQ(Get("k1").value(), "v1");
  EXPECT_TRUE(Get("k2").not_found());

  kvrpcpb::RawScanRequest scan;
  scan.set_limit(10);
  kvrpcpb::RawScanResponse scanned;
  ASSERT_TRUE(stub_->RawScan(Ctx().get(), scan, &scanned).ok());
  ASSERT_EQ(scanned.kvs_size(), 1);
  EXPECT_EQ(scanned.kvs(0).key(), "k1");

  kvrpcpb::RawDeleteRequest del;
  del.set_key("k1");
  kvrpcpb::RawDeleteResponse deleted;
  ASSERT_TRUE(stub_->RawDelete(Ctx().get(), del, &deleted).ok());
  EXPECT_TRUE(Get("k1").not_found());
}

// The transactional RPCs over gRPC: a prewrite, a commit and a read, and
// bad input answered with INVALID_ARGUMENT.
TEST_F(ServerTest, TransactionalRoundTrip) {
  StartServer();
  kvrpcpb::PrewriteRequest pw;
  auto* m = pw.add_mutations();
  m->set_op(kvrpcpb::Put);
  m->set_key("tk");
  m->set_value("tv");
  pw.set_primary_lock("tk");
  pw.set_start_version(100);
  pw.set_lock_ttl(3000);
  kvrpcpb::PrewriteResponse pwr;
  ASSERT_TRUE(stub_->KvPrewrite(Ctx().get(), pw, &pwr).ok());
  EXPECT_EQ(pwr.errors_size(), 0);

  kvrpcpb::GetRequest get;
  get.set_key("tk");
  get.set_version(200);
  kvrpcpb::GetResponse locked;
  ASSERT_TRUE(stub_->KvGet(Ctx().get(), get, &locked).ok());
  EXPECT_EQ(locked.error().locked().lock_version(), 100u);

  kvrpcpb::CommitRequest commit;
  commit.set_start_version(100);
  commit.add_keys("tk");
  commit.set_commit_version(110);
  kvrpcpb::CommitResponse committed;
  ASSERT_TRUE(stub_->KvCommit(Ctx().get(), commit, &committed).ok());
  EXPECT_FALSE(committed.has_error());

  kvrpcpb::GetResponse value;
  ASSERT_TRUE(stub_->KvGet(Ctx().get(), get, &value).ok());
  EXPECT_EQ(value.value(), "tv");

  kvrpcpb::GetRequest empty;
  kvrpcpb::GetResponse bad;
  grpc::Status st = stub_->KvGet(Ctx().get(), empty, &bad);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
}

TEST_F(ServerTest, UnservedRpcsAnswerUnimplemented) {
  StartServer();
  {
    coprocessor::Response r;
    EXPECT_EQ(stub_->Coprocessor(Ctx().get(), {}, &r).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  {
    raft_serverpb::Done done;
    auto ctx = Ctx();
    auto writer = stub_->Raft(ctx.get(), &done);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  {
    raft_serverpb::Done done;
    auto ctx = Ctx();
    auto writer = stub_->Snapshot(ctx.get(), &done);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
}

TEST_F(ServerTest, RequestOverMessageLimitIsRefusedAndServerStaysUp) {
  config_.max_message_size = 1 << 20;
  config_.max_value_size = 512 << 10;
  StartServer();
  kvrpcpb::RawPutResponse resp;
  grpc::Status st = Put("big", std::string((1 << 20) + 1, 'x'), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_TRUE(Get("big").not_found());
  // A value over max-value-size but under the message limit gets a typed error.
  ASSERT_TRUE(Put("big", std::string((512 << 10) + 1, 'x'), &resp).ok());
  EXPECT_EQ(ParseStatus(resp.error()).code(), Code::kInvalidArgument) << resp.error();
  // And the server still serves.
  ASSERT_TRUE(Put("small", "ok", &resp).ok());
  EXPECT_EQ(resp.error(), "");
  EXPECT_EQ(Get("small").value(), "ok");
}

// server.grpc-concurrency: calls spread over several queues and threads.
TEST_F(ServerTest, ServesOnSeveralGrpcThreads) {
  config_.grpc_concurrency = 3;
  StartServer();
  // One named thread per queue (each names itself once it runs).
  auto grpc_threads = [] {
    int n = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      if (name.starts_with("grpc-kv-")) ++n;
    }
    return n;
  };
  EXPECT_TRUE(testing::WaitFor([&] { return grpc_threads() == 3; }, std::chrono::seconds(10)))
      << grpc_threads() << " grpc-kv threads";
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([this, t] {
      for (int i = 0; i < 50; ++i) {
        std::string key = fmt::format("k{}-{}", t, i);
        kvrpcpb::RawPutResponse resp;
        EXPECT_TRUE(Put(key, "v" + key, &resp).ok());
        EXPECT_EQ(Get(key).value(), "v" + key);
      }
    });
  }
  for (auto& c : clients) c.join();
}

TEST_F(ServerTest, HealthServiceReportsServing) {
  StartServer();
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health->Check(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(ServerTest, HealthCheckKnowsTheKvServiceOnly) {
  StartServer();
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  req.set_service("tinykvpb.TinyKv");
  ASSERT_TRUE(health->Check(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  req.set_service("no.such.Service");
  EXPECT_EQ(health->Check(Ctx().get(), req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A watcher sees SERVING, then NOT_SERVING when the server stops, then the end.
TEST_F(ServerTest, HealthWatchSeesTheServerStop) {
  StartServer();
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest req;
  auto ctx = Ctx();
  auto watch = health->Watch(ctx.get(), req);
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(watch->Read(&resp));
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  // A second watcher that goes away first must not hold the server up.
  {
    auto ctx2 = Ctx();
    auto watch2 = health->Watch(ctx2.get(), req);
    ASSERT_TRUE(watch2->Read(&resp));
    ctx2->TryCancel();
    EXPECT_FALSE(watch2->Finish().ok());
  }
  std::thread stop([this] { server_->Shutdown(); });
  ASSERT_TRUE(watch->Read(&resp));
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(watch->Read(&resp));
  EXPECT_TRUE(watch->Finish().ok());
  stop.join();
}

// Reflection runs on gRPC's synchronous API, whose polling threads the
// store's server does without: the scheduler serves it (scheduler_grpc_test).
TEST_F(ServerTest, StoreServesNoReflection) {
  StartServer();
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  auto ctx = Ctx();
  grpc::ByteBuffer request, response;
  grpc::Status status;
  auto call = stub.PrepareUnaryCall(
      ctx.get(), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", request, &cq);
  call->StartCall();
  call->Finish(&response, &status, nullptr);
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
}

TEST_F(ServerTest, DataSurvivesRestart) {
  StartServer();
  kvrpcpb::RawPutResponse resp;
  ASSERT_TRUE(Put("k", "v", &resp).ok());
  server_->Shutdown();
  server_.reset();
  StartServer();
  EXPECT_EQ(Get("k").value(), "v");
}

TEST_F(ServerTest, SecondServerOnSameDataDirFails) {
  StartServer();
  Config other = config_;
  auto second = Server::Start(other);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kIOError) << second.status();
}

TEST_F(ServerTest, SecondServerOnSamePortFails) {
  StartServer();
  Config other = config_;
  other.addr = server_->address();
  other.data_dir = dir_.Join("other");
  auto second = Server::Start(other);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kIOError) << second.status();
  EXPECT_NE(second.status().message().find("cannot listen"), std::string::npos) << second.status();
}

TEST_F(ServerTest, ClusterModeServesTheRegionItHosts) { ServeTheRegionItHosts(); }

// The same with the applier on a thread of its own instead of the poller's
// (whose rounds run on grpc-kv-0: the applier's results wake it from
// another thread).
TEST_F(ServerTest, ClusterModeServesTheRegionItHostsWithAnApplierThread) {
  config_.raftstore.apply_pool_size = 1;
  ServeTheRegionItHosts();
}

// With the poll rounds on a raft-poller thread instead of grpc-kv-0.
TEST_F(ServerTest, ClusterModeServesTheRegionItHostsWithAPollerThread) {
  config_.raftstore.store_pool_size = 1;
  ServeTheRegionItHosts();
}

// A one-store cluster in-process: requests need the region's context, get
// region errors otherwise, and the data survives a restart.
void ServerTest::ServeTheRegionItHosts() {
  config_.standalone = false;
  config_.store_id = 1;
  config_.initial_cluster = "1=127.0.0.1:1";  // nobody else to reach
  config_.raftstore.raft_base_tick_ms = 10;
  ASSERT_TRUE(ValidateConfig(config_).ok()) << ValidateConfig(config_);
  StartServer();
  kvrpcpb::Context ctx;
  ctx.set_region_id(1);
  ctx.mutable_region_epoch()->set_conf_ver(1);
  ctx.mutable_region_epoch()->set_version(1);
  ctx.mutable_peer()->set_id(1);
  ctx.mutable_peer()->set_store_id(1);
  kvrpcpb::RawPutRequest put;
  *put.mutable_context() = ctx;
  put.set_key("k");
  put.set_value("v");
  kvrpcpb::RawPutResponse put_resp;
  // Until the single peer has elected itself the answer is NotLeader.
  for (int i = 0; i < 500; ++i) {
    put_resp.Clear();
    ASSERT_TRUE(stub_->RawPut(Ctx().get(), put, &put_resp).ok());
    if (!put_resp.has_region_error()) break;
    EXPECT_TRUE(put_resp.region_error().has_not_leader()) << put_resp.ShortDebugString();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(put_resp.has_region_error()) << put_resp.ShortDebugString();
  EXPECT_EQ(put_resp.error(), "");

  kvrpcpb::RawGetRequest get;
  *get.mutable_context() = ctx;
  get.set_key("k");
  kvrpcpb::RawGetResponse got;
  ASSERT_TRUE(stub_->RawGet(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.value(), "v") << got.ShortDebugString();

  // No context (a standalone client): the peer named is not of this store.
  EXPECT_TRUE(Get("k").region_error().has_store_not_match());
  // A region this store does not have: RegionNotFound.
  get.mutable_context()->set_region_id(99);
  ASSERT_TRUE(stub_->RawGet(Ctx().get(), get, &got).ok());
  EXPECT_TRUE(got.region_error().has_region_not_found()) << got.ShortDebugString();
  get.mutable_context()->set_region_id(1);
  // A stale epoch: EpochNotMatch.
  put.mutable_context()->mutable_region_epoch()->set_version(0);
  ASSERT_TRUE(stub_->RawPut(Ctx().get(), put, &put_resp).ok());
  EXPECT_TRUE(put_resp.region_error().has_epoch_not_match()) << put_resp.ShortDebugString();
  // A peer of another store: StoreNotMatch.
  put.mutable_context()->mutable_peer()->set_store_id(7);
  ASSERT_TRUE(stub_->RawPut(Ctx().get(), put, &put_resp).ok());
  EXPECT_TRUE(put_resp.region_error().has_store_not_match()) << put_resp.ShortDebugString();

  server_->Shutdown();
  server_.reset();
  // The data directory belongs to store 1: it will not start as store 2.
  Config other = config_;
  other.store_id = 2;
  other.initial_cluster = "2=127.0.0.1:1";
  auto wrong = Server::Start(other);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("holds store 1"), std::string::npos) << wrong.status();
  // As store 1 it has the data.
  StartServer();
  for (int i = 0; i < 500; ++i) {
    got.Clear();
    ASSERT_TRUE(stub_->RawGet(Ctx().get(), get, &got).ok());
    if (!got.has_region_error()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(got.value(), "v") << got.ShortDebugString();
}

// Writers run while the server shuts down. Every write acknowledged with OK
// must be found after a restart; the rest fail cleanly.
TEST_F(ServerTest, ShutdownUnderLoadKeepsEveryAcknowledgedWrite) {
  StartServer();
  constexpr int kWriters = 4;
  std::vector<std::vector<std::string>> acked(kWriters);
  std::atomic<int> total{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0;; ++i) {
        std::string key = "w" + std::to_string(w) + "-" + std::to_string(i);
        kvrpcpb::RawPutResponse resp;
        grpc::Status st = Put(key, "v", &resp);
        if (!st.ok() || !resp.error().empty()) return;
        acked[w].push_back(key);
        ++total;
      }
    });
  }
  while (total < 200) std::this_thread::yield();
  server_->Shutdown();
  for (auto& t : writers) t.join();
  server_.reset();
  StartServer();
  for (const auto& keys : acked) {
    for (const auto& key : keys) ASSERT_EQ(Get(key).value(), "v") << key;
  }
}

}  // namespace
}  // namespace tinykv::server
