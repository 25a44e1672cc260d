#include "server/kv_service.h"

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace tinykv::server {
namespace {

// Runs `handler` and finishes the call with OK when it is done: errors travel
// in the response's error fields, as the protocol defines.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* ctx, RawKv& raw,
                                void (RawKv::*handler)(const Request&, Response*, RawKv::Done),
                                const Request* req, Response* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  (raw.*handler)(*req, resp, [reactor] { reactor->Finish(grpc::Status::OK); });
  return reactor;
}

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (s.code()) {
    case Code::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case Code::kDeadlineExceeded:
      code = grpc::StatusCode::DEADLINE_EXCEEDED;
      break;
    case Code::kBusy:
    case Code::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    default:
      break;
  }
  return grpc::Status(code, s.ToString());
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* ServeTxn(grpc::CallbackServerContext* ctx, TxnKv& txn,
                                   void (TxnKv::*handler)(const Request&, Response*, TxnKv::Done),
                                   const Request* req, Response* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  (txn.*handler)(*req, resp, [reactor](Status s) { reactor->Finish(ToGrpc(s)); });
  return reactor;
}

// Reads a client stream, handing each message to `on_message`; finishes with
// OK at the end of the stream, or with the status on_message returns, or
// when the service closes its streams (at shutdown).
template <typename Message>
class StreamReader final : public grpc::ServerReadReactor<Message>, public StreamCloser {
 public:
  using OnMessage = std::function<grpc::Status(Message&)>;
  using OnEnd = std::function<grpc::Status()>;
  StreamReader(StreamRegistry& registry, OnMessage on_message, OnEnd on_end)
      : registry_(registry), on_message_(std::move(on_message)), on_end_(std::move(on_end)) {
    registry_.Add(this);
    this->StartRead(&msg_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishOnce(on_end_ ? on_end_() : grpc::Status::OK);
      return;
    }
    grpc::Status st = on_message_(msg_);
    if (!st.ok()) {
      FinishOnce(st);
      return;
    }
    msg_.Clear();
    this->StartRead(&msg_);
  }
  void Close() override {
    FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping"));
  }
  void OnDone() override {
    registry_.Remove(this);
    delete this;
  }

 private:
  void FinishOnce(grpc::Status st) {
    if (finished_.exchange(true)) return;
    this->Finish(std::move(st));
  }

  StreamRegistry& registry_;
  OnMessage on_message_;
  OnEnd on_end_;
  Message msg_;
  std::atomic<bool> finished_{false};
};

template <typename Message>
class Refuse final : public grpc::ServerReadReactor<Message> {
 public:
  explicit Refuse(grpc::Status st) { this->Finish(st); }
  void OnDone() override { delete this; }
};

}  // namespace

void StreamRegistry::Add(StreamCloser* s) {
  std::lock_guard lock(mu_);
  streams_.insert(s);
}

void StreamRegistry::Remove(StreamCloser* s) {
  std::lock_guard lock(mu_);
  streams_.erase(s);
}

bool StreamRegistry::closing() {
  std::lock_guard lock(mu_);
  return closing_;
}

void StreamRegistry::CloseAll() {
  std::lock_guard lock(mu_);
  closing_ = true;
  // A copy: should Finish run OnDone inline, Remove changes the set.
  std::vector<StreamCloser*> all(streams_.begin(), streams_.end());
  for (StreamCloser* s : all) s->Close();
}

grpc::ServerReadReactor<raft_serverpb::RaftMessage>* KvService::Raft(grpc::CallbackServerContext*,
                                                                     raft_serverpb::Done*) {
  if (!sink_) {
    return new Refuse<raft_serverpb::RaftMessage>(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "a standalone server runs no Raft"));
  }
  if (streams_.closing()) {
    return new Refuse<raft_serverpb::RaftMessage>(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping"));
  }
  return new StreamReader<raft_serverpb::RaftMessage>(
      streams_,
      [this](raft_serverpb::RaftMessage& m) {
        sink_(std::move(m));
        return grpc::Status::OK;
      },
      nullptr);
}

grpc::ServerReadReactor<raft_serverpb::SnapshotChunk>* KvService::Snapshot(
    grpc::CallbackServerContext*, raft_serverpb::Done*) {
  if (!sink_) {
    return new Refuse<raft_serverpb::SnapshotChunk>(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "a standalone server runs no Raft"));
  }
  if (streams_.closing()) {
    return new Refuse<raft_serverpb::SnapshotChunk>(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping"));
  }
  struct Assembly {
    std::optional<raft_serverpb::RaftMessage> head;
    std::string data;
  };
  auto a = std::make_shared<Assembly>();
  return new StreamReader<raft_serverpb::SnapshotChunk>(
      streams_,
      [this, a](raft_serverpb::SnapshotChunk& c) {
        if (!a->head) {
          if (!c.has_message() || c.message().message().msg_type() != eraftpb::MsgSnapshot) {
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "the first chunk must carry the snapshot message");
          }
          a->head = std::move(*c.mutable_message());
        }
        if (a->data.size() + c.data().size() > max_snapshot_size_) {
          return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "snapshot over raftstore.max-snapshot-size");
        }
        a->data += c.data();
        return grpc::Status::OK;
      },
      [this, a] {
        if (!a->head)
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty snapshot stream");
        a->head->mutable_message()->mutable_snapshot()->set_data(std::move(a->data));
        sink_(std::move(*a->head));
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* KvService::RawGet(grpc::CallbackServerContext* ctx,
                                            const kvrpcpb::RawGetRequest* req,
                                            kvrpcpb::RawGetResponse* resp) {
  return Serve(ctx, raw_, &RawKv::Get, req, resp);
}

grpc::ServerUnaryReactor* KvService::RawPut(grpc::CallbackServerContext* ctx,
                                            const kvrpcpb::RawPutRequest* req,
                                            kvrpcpb::RawPutResponse* resp) {
  return Serve(ctx, raw_, &RawKv::Put, req, resp);
}

grpc::ServerUnaryReactor* KvService::RawDelete(grpc::CallbackServerContext* ctx,
                                               const kvrpcpb::RawDeleteRequest* req,
                                               kvrpcpb::RawDeleteResponse* resp) {
  return Serve(ctx, raw_, &RawKv::Delete, req, resp);
}

grpc::ServerUnaryReactor* KvService::RawScan(grpc::CallbackServerContext* ctx,
                                             const kvrpcpb::RawScanRequest* req,
                                             kvrpcpb::RawScanResponse* resp) {
  return Serve(ctx, raw_, &RawKv::Scan, req, resp);
}

grpc::ServerUnaryReactor* KvService::RawBatchGet(grpc::CallbackServerContext* ctx,
                                                 const kvrpcpb::RawBatchGetRequest* req,
                                                 kvrpcpb::RawBatchGetResponse* resp) {
  return Serve(ctx, raw_, &RawKv::BatchGet, req, resp);
}

grpc::ServerUnaryReactor* KvService::RawBatchPut(grpc::CallbackServerContext* ctx,
                                                 const kvrpcpb::RawBatchPutRequest* req,
                                                 kvrpcpb::RawBatchPutResponse* resp) {
  return Serve(ctx, raw_, &RawKv::BatchPut, req, resp);
}

grpc::ServerUnaryReactor* KvService::KvGet(grpc::CallbackServerContext* ctx,
                                             const kvrpcpb::GetRequest* req,
                                             kvrpcpb::GetResponse* resp) {
  return ServeTxn(ctx, txn_, &TxnKv::Get, req, resp);
}

grpc::ServerUnaryReactor* KvService::KvScan(grpc::CallbackServerContext* ctx,
                                             const kvrpcpb::ScanRequest* req,
                                             kvrpcpb::ScanResponse* resp) {
  return ServeTxn(ctx, txn_, &TxnKv::Scan, req, resp);
}

grpc::ServerUnaryReactor* KvService::KvPrewrite(grpc::CallbackServerContext* ctx,
                                             const kvrpcpb::PrewriteRequest* req,
                                             kvrpcpb::PrewriteResponse* resp) {
  return ServeTxn(ctx, txn_, &TxnKv::Prewrite, req, resp);
}

grpc::ServerUnaryReactor* KvService::KvCommit(grpc::CallbackServerContext* ctx,
                                             const kvrpcpb::CommitRequest* req,
                                             kvrpcpb::CommitResponse* resp) {
  return ServeTxn(ctx, txn_, &TxnKv::Commit, req, resp);
}

grpc::ServerUnaryReactor* KvService::KvCheckTxnStatus(grpc::CallbackServerContext* ctx,
                                             const kvrpcpb::CheckTxnStatusRequest* req,
                                             kvrpcpb::CheckTxnStatusResponse* resp) {
  return ServeTxn(ctx, txn_, &TxnKv::CheckTxnStatus, req, resp);
}

grpc::ServerUnaryReactor* KvService::KvBatchRollback(grpc::CallbackServerContext* ctx,
                                             const kvrpcpb::BatchRollbackRequest* req,
                                             kvrpcpb::BatchRollbackResponse* resp) {
  return ServeTxn(ctx, txn_, &TxnKv::BatchRollback, req, resp);
}

grpc::ServerUnaryReactor* KvService::KvResolveLock(grpc::CallbackServerContext* ctx,
                                             const kvrpcpb::ResolveLockRequest* req,
                                             kvrpcpb::ResolveLockResponse* resp) {
  return ServeTxn(ctx, txn_, &TxnKv::ResolveLock, req, resp);
}

}  // namespace tinykv::server
