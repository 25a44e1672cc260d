#include "backend.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <chrono>

#include "client/raw_client.h"
#include "client/txn_client.h"
#include "etcd_kv.grpc.pb.h"

namespace tinykv::bench {
namespace {

std::chrono::milliseconds Ms(double s) {
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

class RawBackend final : public Backend {
 public:
  explicit RawBackend(std::unique_ptr<client::RawClient> c) : c_(std::move(c)) {}
  Status Put(int, const std::string& key, const std::string& value) override {
    return c_->Put(key, value);
  }
  Result<std::optional<std::string>> Get(int, const std::string& key) override {
    return c_->Get(key);
  }
  Result<size_t> Scan(int, const std::string& start, int limit) override {
    TKV_ASSIGN_OR_RETURN(auto kvs, c_->Scan(start, "", static_cast<uint32_t>(limit)));
    return kvs.size();
  }

 private:
  std::unique_ptr<client::RawClient> c_;
};

class TxnBackend final : public Backend {
 public:
  TxnBackend(std::unique_ptr<client::TxnClient> c, int txn_keys)
      : c_(std::move(c)), txn_keys_(txn_keys) {}
  Status Put(int, const std::string& key, const std::string& value) override {
    TKV_ASSIGN_OR_RETURN(auto t, c_->Begin());
    t->Put(key, value);
    // More keys: the key with a suffix, so each transaction writes txn_keys.
    for (int i = 1; i < txn_keys_; ++i) t->Put(fmt::format("{}/{}", key, i), value);
    return t->Commit();
  }
  Result<std::optional<std::string>> Get(int, const std::string& key) override {
    TKV_ASSIGN_OR_RETURN(auto t, c_->Begin());
    return t->Get(key);
  }
  Result<size_t> Scan(int, const std::string& start, int limit) override {
    TKV_ASSIGN_OR_RETURN(auto t, c_->Begin());
    TKV_ASSIGN_OR_RETURN(auto kvs, t->Scan(start, "", static_cast<uint32_t>(limit)));
    return kvs.size();
  }

 private:
  std::unique_ptr<client::TxnClient> c_;
  int txn_keys_;
};

class EtcdBackend final : public Backend {
 public:
  EtcdBackend(const std::vector<std::string>& endpoints, double timeout_s)
      : timeout_(Ms(timeout_s)) {
    for (const auto& e : endpoints) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(64 << 20);
      auto ch = grpc::CreateCustomChannel(e, grpc::InsecureChannelCredentials(), args);
      stubs_.push_back(etcdserverpb::KV::NewStub(ch));
    }
  }
  Status Put(int client, const std::string& key, const std::string& value) override {
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
    return From(Stub(client).Put(&ctx, req, &resp));
  }
  Result<std::optional<std::string>> Get(int client, const std::string& key) override {
    etcdserverpb::RangeRequest req;
    req.set_key(key);
    etcdserverpb::RangeResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
    TKV_RETURN_IF_ERROR(From(Stub(client).Range(&ctx, req, &resp)));
    if (resp.kvs_size() == 0) return std::optional<std::string>();
    return std::optional<std::string>(std::move(*resp.mutable_kvs(0)->mutable_value()));
  }
  Result<size_t> Scan(int client, const std::string& start, int limit) override {
    etcdserverpb::RangeRequest req;
    req.set_key(start);
    req.set_range_end(std::string(1, '\0'));  // every key >= start
    req.set_limit(limit);
    etcdserverpb::RangeResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
    TKV_RETURN_IF_ERROR(From(Stub(client).Range(&ctx, req, &resp)));
    return static_cast<size_t>(resp.kvs_size());
  }

 private:
  etcdserverpb::KV::Stub& Stub(int client) { return *stubs_[client % stubs_.size()]; }
  static Status From(const grpc::Status& st) {
    if (st.ok()) return Status::OK();
    if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      return Status::DeadlineExceeded(st.error_message());
    return Status::Unavailable(fmt::format("etcd: {} ({})", st.error_message(),
                                           static_cast<int>(st.error_code())));
  }

  std::chrono::milliseconds timeout_;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> stubs_;
};

}  // namespace

Result<std::unique_ptr<Backend>> MakeBackend(const BackendOptions& o) {
  if (o.kind == "etcd") {
    if (o.endpoints.empty()) return Status::InvalidArgument("etcd needs --endpoints");
    return std::unique_ptr<Backend>(new EtcdBackend(o.endpoints, o.timeout_s));
  }
  if (o.kind != "tinykv" && o.kind != "tinykv-txn") {
    return Status::InvalidArgument(
        fmt::format("unknown backend '{}' (tinykv, tinykv-txn, etcd)", o.kind));
  }
  if (o.scheduler.empty()) return Status::InvalidArgument("tinykv needs --scheduler");
  client::RawClientOptions ro;
  ro.timeout = Ms(o.timeout_s);
  ro.scheduler.timeout = Ms(o.timeout_s);
  TKV_ASSIGN_OR_RETURN(auto raw, client::RawClient::Connect(o.scheduler, ro));
  if (o.kind == "tinykv") return std::unique_ptr<Backend>(new RawBackend(std::move(raw)));
  client::TxnOptions to;
  to.timeout = Ms(o.timeout_s);
  // The TxnClient borrows the raw client; keep both alive together.
  struct Owned final : public Backend {
    std::unique_ptr<client::RawClient> raw;
    std::unique_ptr<TxnBackend> txn;
    Status Put(int c, const std::string& k, const std::string& v) override { return txn->Put(c, k, v); }
    Result<std::optional<std::string>> Get(int c, const std::string& k) override { return txn->Get(c, k); }
    Result<size_t> Scan(int c, const std::string& s, int l) override { return txn->Scan(c, s, l); }
  };
  auto owned = std::make_unique<Owned>();
  owned->raw = std::move(raw);
  owned->txn = std::make_unique<TxnBackend>(std::make_unique<client::TxnClient>(*owned->raw, to),
                                            o.txn_keys);
  return std::unique_ptr<Backend>(std::move(owned));
}

}  // namespace tinykv::bench
