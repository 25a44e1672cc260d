#include "client/store_client.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "health.grpc.pb.h"
#include "tinykvpb.grpc.pb.h"

namespace tinykv::client {
namespace {

// Maps a failed call. `is_write` decides how a timeout reads: a write that
// timed out after being sent may still apply.
Status FromGrpc(const grpc::Status& st, const std::string& address, bool is_write) {
  const std::string& msg = st.error_message();
  switch (st.error_code()) {
    case grpc::StatusCode::OK:
      return Status::OK();
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status::DeadlineExceeded(
          is_write ? fmt::format("no answer from {} in time; the write may or may not have applied",
                                 address)
                   : fmt::format("no answer from {} in time", address));
    case grpc::StatusCode::UNAVAILABLE:
      return Status::Unavailable(fmt::format("cannot reach {}: {}", address, msg));
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Status::InvalidArgument(fmt::format("{} refused the request: {}", address, msg));
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Status::InvalidArgument(fmt::format("message too large: {}", msg));
    case grpc::StatusCode::UNIMPLEMENTED:
      return Status::NotSupported(fmt::format("{} does not serve this call", address));
    case grpc::StatusCode::CANCELLED:
      return Status::Unavailable(fmt::format("call cancelled: {}", msg));
    default:
      return Status::Internal(fmt::format("gRPC {}: {}", static_cast<int>(st.error_code()), msg));
  }
}

// The outcome of a raw response: a region error (the request was not applied
// and may be retried elsewhere), a server error, or OK.
template <typename Response>
Status FromResponse(const Response& resp) {
  if (resp.has_region_error()) {
    return Status::Unavailable("region error: " + resp.region_error().ShortDebugString());
  }
  if (!resp.error().empty()) return ParseStatus(resp.error());
  return Status::OK();
}

}  // namespace

struct StoreClient::Stubs {
  std::unique_ptr<tinykvpb::TinyKv::Stub> kv;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
};

StoreClient::StoreClient(const std::string& address, StoreClientOptions options)
    : address_(address), options_(options), stubs_(std::make_unique<Stubs>()) {
  grpc::ChannelArguments args;
  // Reconnect soon after a store restarts.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(options_.max_receive_message_size);
  args.SetMaxSendMessageSize(-1);  // the server enforces its own limit
  channel_ = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
  stubs_->kv = tinykvpb::TinyKv::NewStub(channel_);
  stubs_->health = grpc::health::v1::Health::NewStub(channel_);
}

StoreClient::~StoreClient() = default;

namespace {

std::unique_ptr<grpc::ClientContext> NewContext(std::chrono::milliseconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

}  // namespace

Result<std::optional<std::string>> StoreClient::RawGet(std::string_view cf, std::string_view key) {
  kvrpcpb::RawGetRequest req;
  req.set_cf(std::string(cf));
  req.set_key(std::string(key));
  kvrpcpb::RawGetResponse resp;
  grpc::Status st = stubs_->kv->RawGet(NewContext(options_.timeout).get(), req, &resp);
  TKV_RETURN_IF_ERROR(FromGrpc(st, address_, false));
  TKV_RETURN_IF_ERROR(FromResponse(resp));
  if (resp.not_found()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(*resp.mutable_value()));
}

Status StoreClient::RawPut(std::string_view cf, std::string_view key, std::string_view value) {
  kvrpcpb::RawPutRequest req;
  req.set_cf(std::string(cf));
  req.set_key(std::string(key));
  req.set_value(std::string(value));
  kvrpcpb::RawPutResponse resp;
  grpc::Status st = stubs_->kv->RawPut(NewContext(options_.timeout).get(), req, &resp);
  TKV_RETURN_IF_ERROR(FromGrpc(st, address_, true));
  return FromResponse(resp);
}

Status StoreClient::RawDelete(std::string_view cf, std::string_view key) {
  kvrpcpb::RawDeleteRequest req;
  req.set_cf(std::string(cf));
  req.set_key(std::string(key));
  kvrpcpb::RawDeleteResponse resp;
  grpc::Status st = stubs_->kv->RawDelete(NewContext(options_.timeout).get(), req, &resp);
  TKV_RETURN_IF_ERROR(FromGrpc(st, address_, true));
  return FromResponse(resp);
}

Result<std::vector<KvPair>> StoreClient::RawScan(std::string_view cf, std::string_view start,
                                                 uint32_t limit) {
  kvrpcpb::RawScanRequest req;
  req.set_cf(std::string(cf));
  req.set_start_key(std::string(start));
  req.set_limit(limit);
  kvrpcpb::RawScanResponse resp;
  grpc::Status st = stubs_->kv->RawScan(NewContext(options_.timeout).get(), req, &resp);
  TKV_RETURN_IF_ERROR(FromGrpc(st, address_, false));
  TKV_RETURN_IF_ERROR(FromResponse(resp));
  std::vector<KvPair> out;
  out.reserve(resp.kvs_size());
  for (auto& kv : *resp.mutable_kvs()) {
    out.push_back(KvPair{std::move(*kv.mutable_key()), std::move(*kv.mutable_value())});
  }
  return out;
}

Status StoreClient::Health() {
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status st = stubs_->health->Check(NewContext(options_.timeout).get(), req, &resp);
  TKV_RETURN_IF_ERROR(FromGrpc(st, address_, false));
  if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return Status::Unavailable(
        fmt::format("{} is {}", address_,
                    grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status())));
  }
  return Status::OK();
}

template <typename Req, typename Resp, typename Method>
Result<Resp> StoreClient::Invoke(Method method, const Req& req, std::chrono::milliseconds timeout,
                                 bool is_write) {
  auto deadline = std::chrono::system_clock::now() + timeout;
  if (is_write && channel_->GetState(true) != GRPC_CHANNEL_READY) {
    // Not connected: connect first, so that a failure below means the
    // request may have reached the store.
    auto connect_by = std::min(deadline, std::chrono::system_clock::now() + options_.connect_timeout);
    if (!channel_->WaitForConnected(connect_by)) {
      return Status::Unavailable(fmt::format("cannot connect to {}", address_));
    }
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  Resp resp;
  grpc::Status st = ((*stubs_->kv).*method)(&ctx, req, &resp);
  if (st.ok()) return resp;
  if (is_write) {
    switch (st.error_code()) {
      case grpc::StatusCode::RESOURCE_EXHAUSTED:  // refused before any handler ran
      case grpc::StatusCode::UNIMPLEMENTED:
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::PERMISSION_DENIED:
      case grpc::StatusCode::UNAUTHENTICATED:
        break;
      default:
        // Sent on a connected channel and then lost: the store may apply it.
        return Status::DeadlineExceeded(fmt::format(
            "no answer from {} for a write that was sent ({}: {}); it may or may not have "
            "applied",
            address_, static_cast<int>(st.error_code()), st.error_message()));
    }
  }
  if (!is_write && st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return Status::DeadlineExceeded(fmt::format("no answer from {} in time", address_));
  }
  return FromGrpc(st, address_, is_write);
}

Result<kvrpcpb::RawGetResponse> StoreClient::Call(const kvrpcpb::RawGetRequest& req,
                                                  std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::RawGetRequest, kvrpcpb::RawGetResponse>(
      &tinykvpb::TinyKv::Stub::RawGet, req, timeout, false);
}

Result<kvrpcpb::RawPutResponse> StoreClient::Call(const kvrpcpb::RawPutRequest& req,
                                                  std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::RawPutRequest, kvrpcpb::RawPutResponse>(
      &tinykvpb::TinyKv::Stub::RawPut, req, timeout, true);
}

Result<kvrpcpb::RawDeleteResponse> StoreClient::Call(const kvrpcpb::RawDeleteRequest& req,
                                                     std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::RawDeleteRequest, kvrpcpb::RawDeleteResponse>(
      &tinykvpb::TinyKv::Stub::RawDelete, req, timeout, true);
}

Result<kvrpcpb::RawScanResponse> StoreClient::Call(const kvrpcpb::RawScanRequest& req,
                                                   std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::RawScanRequest, kvrpcpb::RawScanResponse>(
      &tinykvpb::TinyKv::Stub::RawScan, req, timeout, false);
}

Result<kvrpcpb::RawBatchGetResponse> StoreClient::Call(const kvrpcpb::RawBatchGetRequest& req,
                                                       std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::RawBatchGetRequest, kvrpcpb::RawBatchGetResponse>(
      &tinykvpb::TinyKv::Stub::RawBatchGet, req, timeout, false);
}

Result<kvrpcpb::RawBatchPutResponse> StoreClient::Call(const kvrpcpb::RawBatchPutRequest& req,
                                                       std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::RawBatchPutRequest, kvrpcpb::RawBatchPutResponse>(
      &tinykvpb::TinyKv::Stub::RawBatchPut, req, timeout, true);
}

Result<kvrpcpb::GetResponse> StoreClient::Call(const kvrpcpb::GetRequest& req,
                                                  std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::GetRequest, kvrpcpb::GetResponse>(&tinykvpb::TinyKv::Stub::KvGet, req,
                                                                timeout, false);
}

Result<kvrpcpb::ScanResponse> StoreClient::Call(const kvrpcpb::ScanRequest& req,
                                                  std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::ScanRequest, kvrpcpb::ScanResponse>(&tinykvpb::TinyKv::Stub::KvScan, req,
                                                                timeout, false);
}

Result<kvrpcpb::PrewriteResponse> StoreClient::Call(const kvrpcpb::PrewriteRequest& req,
                                                  std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::PrewriteRequest, kvrpcpb::PrewriteResponse>(&tinykvpb::TinyKv::Stub::KvPrewrite, req,
                                                                timeout, true);
}

Result<kvrpcpb::CommitResponse> StoreClient::Call(const kvrpcpb::CommitRequest& req,
                                                  std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::CommitRequest, kvrpcpb::CommitResponse>(&tinykvpb::TinyKv::Stub::KvCommit, req,
                                                                timeout, true);
}

Result<kvrpcpb::BatchRollbackResponse> StoreClient::Call(const kvrpcpb::BatchRollbackRequest& req,
                                                  std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::BatchRollbackRequest, kvrpcpb::BatchRollbackResponse>(&tinykvpb::TinyKv::Stub::KvBatchRollback, req,
                                                                timeout, true);
}

Result<kvrpcpb::CheckTxnStatusResponse> StoreClient::Call(const kvrpcpb::CheckTxnStatusRequest& req,
                                                  std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::CheckTxnStatusRequest, kvrpcpb::CheckTxnStatusResponse>(&tinykvpb::TinyKv::Stub::KvCheckTxnStatus, req,
                                                                timeout, true);
}

Result<kvrpcpb::ResolveLockResponse> StoreClient::Call(const kvrpcpb::ResolveLockRequest& req,
                                                  std::chrono::milliseconds timeout) {
  return Invoke<kvrpcpb::ResolveLockRequest, kvrpcpb::ResolveLockResponse>(&tinykvpb::TinyKv::Stub::KvResolveLock, req,
                                                                timeout, true);
}

}  // namespace tinykv::client
