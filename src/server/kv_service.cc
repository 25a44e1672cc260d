#include "server/kv_service.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/queue_tag.h"
#include "common/check.h"
#include "common/thread_name.h"
#include "health.grpc.pb.h"
#include "server/queue_loop.h"
#include "tinykvpb.grpc.pb.h"

namespace tinykv::server {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

namespace {

// What the completion queue hands back: a call object, for the one operation
// it has in flight (or another component's operation, see queue()).
using Tag = client::QueueTag;

class Method {
 public:
  virtual ~Method() = default;
  // Asks gRPC for the next call of this method, to arrive on `cq`.
  virtual void Listen(grpc::ServerCompletionQueue* cq) = 0;
};

grpc::Status Stopping() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping");
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

// ---- Unary calls ----

template <typename Req, typename Resp>
class UnaryCall;

template <typename Req, typename Resp>
class UnaryMethod final : public Method {
 public:
  using Writer = grpc::ServerAsyncResponseWriter<Resp>;
  using Request =
      std::function<void(grpc::ServerContext*, Req*, Writer*, grpc::ServerCompletionQueue*, void*)>;
  using Handle = std::function<void(UnaryCall<Req, Resp>*)>;

  UnaryMethod(Request request, Handle handle)
      : request_(std::move(request)), handle_(std::move(handle)) {}
  void Listen(grpc::ServerCompletionQueue* cq) override { new UnaryCall<Req, Resp>(*this, cq); }

  const Request request_;
  const Handle handle_;
};

// One call: waits for the request, hands it to the handler, and goes once
// the answer has been sent (or could not be).
template <typename Req, typename Resp>
class UnaryCall final : public Tag {
 public:
  UnaryCall(UnaryMethod<Req, Resp>& method, grpc::ServerCompletionQueue* cq)
      : method_(method), cq_(cq), writer_(&ctx_) {
    method_.request_(&ctx_, &req_, &writer_, cq_, this);
  }
  const Req& req() const { return req_; }
  Resp* resp() { return &resp_; }
  // From any thread, once. A non-OK status is sent without the response.
  void Finish(const grpc::Status& st) { writer_.Finish(resp_, st, this); }

  void Proceed(bool ok) override {
    if (!ok || answered_) {  // shut down before a call came, or the answer is done
      delete this;
      return;
    }
    answered_ = true;
    method_.Listen(cq_);
    method_.handle_(this);
  }

 private:
  UnaryMethod<Req, Resp>& method_;
  grpc::ServerCompletionQueue* const cq_;
  grpc::ServerContext ctx_;
  Req req_;
  Resp resp_;
  typename UnaryMethod<Req, Resp>::Writer writer_;
  bool answered_ = false;
};

// ---- Client streams (Raft, Snapshot) ----

template <typename Msg>
struct StreamHandlers {
  std::function<grpc::Status(Msg&)> on_message;  // non-OK ends the stream with it
  std::function<grpc::Status()> on_end;          // empty: OK
  // After on_end said OK and the client got that answer: a stream cut off
  // (cancelled, connection lost) also ends its reads, but never gets here.
  std::function<void()> on_delivered;
};

template <typename Msg>
class ReadStreamCall;

template <typename Msg>
class ReadStreamMethod final : public Method {
 public:
  using Reader = grpc::ServerAsyncReader<raft_serverpb::Done, Msg>;
  using Request =
      std::function<void(grpc::ServerContext*, Reader*, grpc::ServerCompletionQueue*, void*)>;
  // Sets up a new stream's handlers, or returns the status that refuses it.
  using Open = std::function<grpc::Status(StreamHandlers<Msg>*)>;

  ReadStreamMethod(StreamRegistry& registry, Request request, Open open)
      : registry_(registry), request_(std::move(request)), open_(std::move(open)) {}
  void Listen(grpc::ServerCompletionQueue* cq) override { new ReadStreamCall<Msg>(*this, cq); }

  StreamRegistry& registry_;
  const Request request_;
  const Open open_;
};

template <typename Msg>
class ReadStreamCall final : public Tag, public StreamCloser {
 public:
  ReadStreamCall(ReadStreamMethod<Msg>& method, grpc::ServerCompletionQueue* cq)
      : method_(method), cq_(cq), reader_(&ctx_) {
    method_.request_(&ctx_, &reader_, cq_, this);
  }

  void Proceed(bool ok) override {
    switch (state_) {
      case State::kWaiting: {
        if (!ok) {  // shut down before a call came
          delete this;
          return;
        }
        method_.Listen(cq_);
        if (grpc::Status st = method_.open_(&handlers_); !st.ok()) return Finish(st);
        if (!method_.registry_.Add(this)) return Finish(Stopping());
        registered_ = true;
        return Read();
      }
      case State::kReading: {
        if (!ok) {
          grpc::Status st = handlers_.on_end ? handlers_.on_end() : grpc::Status::OK;
          ended_well_ = st.ok();
          return Finish(st);
        }
        if (grpc::Status st = handlers_.on_message(msg_); !st.ok()) return Finish(st);
        msg_.Clear();
        return Read();
      }
      case State::kFinishing:
        if (ok && ended_well_ && handlers_.on_delivered) handlers_.on_delivered();
        if (registered_) method_.registry_.Remove(this);
        delete this;
        return;
    }
  }

  // Any thread: the read in flight fails, and the stream ends.
  void Close() override { ctx_.TryCancel(); }

 private:
  enum class State { kWaiting, kReading, kFinishing };

  void Read() {
    state_ = State::kReading;
    reader_.Read(&msg_, this);
  }
  void Finish(const grpc::Status& st) {
    state_ = State::kFinishing;
    if (st.ok()) {
      reader_.Finish(raft_serverpb::Done(), st, this);
    } else {
      reader_.FinishWithError(st, this);
    }
  }

  ReadStreamMethod<Msg>& method_;
  grpc::ServerCompletionQueue* const cq_;
  grpc::ServerContext ctx_;
  typename ReadStreamMethod<Msg>::Reader reader_;
  StreamHandlers<Msg> handlers_;
  Msg msg_;
  State state_ = State::kWaiting;
  bool registered_ = false;
  bool ended_well_ = false;
};

}  // namespace

// ---- The service ----

struct KvService::Impl {
  Impl(RawKv& raw, TxnKv& txn, RaftSink sink, size_t max_snapshot_size, int threads)
      : raw(raw),
        txn(txn),
        sink(std::move(sink)),
        max_snapshot_size(max_snapshot_size),
        threads(std::max(threads, 1)) {}

  void AddMethods();
  template <typename Req, typename Resp, typename RequestFn>
  void AddRaw(RequestFn request, void (RawKv::*handler)(const Req&, Resp*, RawKv::Done));
  template <typename Req, typename Resp, typename RequestFn>
  void AddTxn(RequestFn request, void (TxnKv::*handler)(const Req&, Resp*, TxnKv::Done));
  HealthCheckResponse::ServingStatus StatusOf(const std::string& service) const;

  RawKv& raw;
  TxnKv& txn;
  const RaftSink sink;
  const size_t max_snapshot_size;
  const int threads;

  tinykvpb::TinyKv::AsyncService kv;
  grpc::health::v1::Health::AsyncService health;
  std::vector<std::unique_ptr<Method>> methods;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  std::unique_ptr<QueueLoop> loop;  // the first queue's
  std::vector<std::thread> pollers;
  StreamRegistry streams;
  std::atomic<bool> serving{false};
  bool started = false;
  bool stopped = false;
};

namespace {

// grpc.health.v1.Health/Watch: sends the status now and NOT_SERVING when the
// server stops, then ends. Two tags: the call itself for the write or
// finish in flight, and `done_` for the end of the call (the client may go
// away at any time); it goes when both have come back.
class WatchCall final : public Tag, public StreamCloser {
 public:
  WatchCall(KvService::Impl& impl, grpc::ServerCompletionQueue* cq)
      : impl_(impl), cq_(cq), writer_(&ctx_) {
    ctx_.AsyncNotifyWhenDone(&done_);
    impl_.health.RequestWatch(&ctx_, &req_, &writer_, cq_, cq_, this);
  }

  void Proceed(bool ok) override {
    if (!matched_) {
      if (!ok) {  // shut down before a call came: `done_` never comes
        delete this;
        return;
      }
      matched_ = true;
      new WatchCall(impl_, cq_);
      registered_ = impl_.streams.Add(this);
      std::lock_guard lock(mu_);
      if (!registered_) closing_ = true;
      if (!in_flight_) SendLocked();
      return;
    }
    bool release;
    {
      std::lock_guard lock(mu_);
      in_flight_ = false;
      if (!ok) finished_ = true;  // the client is gone: nothing more goes out
      if (!finished_ && !done_seen_ && closing_) SendLocked();
      release = done_seen_ && !in_flight_;
    }
    if (release) Release();
  }

  // Any thread (once registered, so matched).
  void Close() override {
    std::lock_guard lock(mu_);
    closing_ = true;
    if (!in_flight_ && !finished_ && !done_seen_) SendLocked();
  }

 private:

  void OnDone() {
    bool release;
    {
      std::lock_guard lock(mu_);
      done_seen_ = true;
      release = !in_flight_;
    }
    if (release) Release();
  }

  // The next thing to send: the status when it changed, else the end.
  void SendLocked() {
    HealthCheckResponse::ServingStatus now =
        closing_ ? HealthCheckResponse::NOT_SERVING : impl_.StatusOf(req_.service());
    in_flight_ = true;
    if (!sent_ || *sent_ != now) {
      sent_ = now;
      HealthCheckResponse resp;
      resp.set_status(now);
      writer_.Write(resp, this);
    } else {
      finished_ = true;
      writer_.Finish(grpc::Status::OK, this);
    }
  }

  void Release() {
    if (registered_) impl_.streams.Remove(this);
    delete this;
  }

  KvService::Impl& impl_;
  grpc::ServerCompletionQueue* const cq_;
  grpc::ServerContext ctx_;
  HealthCheckRequest req_;
  grpc::ServerAsyncWriter<HealthCheckResponse> writer_;
  client::CallbackTag done_{[this](bool) { OnDone(); }};
  bool matched_ = false;     // queue thread only
  bool registered_ = false;  // queue thread only
  std::mutex mu_;
  bool in_flight_ = false, finished_ = false, done_seen_ = false, closing_ = false;
  std::optional<HealthCheckResponse::ServingStatus> sent_;
};

class WatchMethod final : public Method {
 public:
  explicit WatchMethod(KvService::Impl& impl) : impl_(impl) {}
  void Listen(grpc::ServerCompletionQueue* cq) override { new WatchCall(impl_, cq); }

 private:
  KvService::Impl& impl_;
};

}  // namespace

HealthCheckResponse::ServingStatus KvService::Impl::StatusOf(const std::string& service) const {
  if (!service.empty() && service != tinykvpb::TinyKv::service_full_name())
    return HealthCheckResponse::SERVICE_UNKNOWN;
  return serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

template <typename Req, typename Resp, typename RequestFn>
void KvService::Impl::AddRaw(RequestFn request,
                             void (RawKv::*handler)(const Req&, Resp*, RawKv::Done)) {
  methods.push_back(std::make_unique<UnaryMethod<Req, Resp>>(
      request, [this, handler](UnaryCall<Req, Resp>* c) {
        // Errors travel in the response's error fields, as the protocol defines.
        (raw.*handler)(c->req(), c->resp(), [c] { c->Finish(grpc::Status::OK); });
      }));
}

template <typename Req, typename Resp, typename RequestFn>
void KvService::Impl::AddTxn(RequestFn request,
                             void (TxnKv::*handler)(const Req&, Resp*, TxnKv::Done)) {
  methods.push_back(std::make_unique<UnaryMethod<Req, Resp>>(
      request, [this, handler](UnaryCall<Req, Resp>* c) {
        (txn.*handler)(c->req(), c->resp(), [c](Status s) { c->Finish(ToGrpc(s)); });
      }));
}

// The generated Request* functions, as callables the methods keep.
#define TKV_REQUEST(service, Name)                                                        \
  [svc = &(service)](grpc::ServerContext* ctx, auto* req, auto* writer,                   \
                     grpc::ServerCompletionQueue* cq,                                     \
                     void* tag) { svc->Request##Name(ctx, req, writer, cq, cq, tag); }
#define TKV_REQUEST_STREAM(service, Name)                                                   \
  [svc = &(service)](grpc::ServerContext* ctx, auto* reader, grpc::ServerCompletionQueue* cq, \
                     void* tag) { svc->Request##Name(ctx, reader, cq, cq, tag); }

void KvService::Impl::AddMethods() {
  AddRaw(TKV_REQUEST(kv, RawGet), &RawKv::Get);
  AddRaw(TKV_REQUEST(kv, RawPut), &RawKv::Put);
  AddRaw(TKV_REQUEST(kv, RawDelete), &RawKv::Delete);
  AddRaw(TKV_REQUEST(kv, RawScan), &RawKv::Scan);
  AddRaw(TKV_REQUEST(kv, RawBatchGet), &RawKv::BatchGet);
  AddRaw(TKV_REQUEST(kv, RawBatchPut), &RawKv::BatchPut);
  AddTxn(TKV_REQUEST(kv, KvGet), &TxnKv::Get);
  AddTxn(TKV_REQUEST(kv, KvScan), &TxnKv::Scan);
  AddTxn(TKV_REQUEST(kv, KvPrewrite), &TxnKv::Prewrite);
  AddTxn(TKV_REQUEST(kv, KvCommit), &TxnKv::Commit);
  AddTxn(TKV_REQUEST(kv, KvCheckTxnStatus), &TxnKv::CheckTxnStatus);
  AddTxn(TKV_REQUEST(kv, KvBatchRollback), &TxnKv::BatchRollback);
  AddTxn(TKV_REQUEST(kv, KvResolveLock), &TxnKv::ResolveLock);

  using Cop = UnaryMethod<coprocessor::Request, coprocessor::Response>;
  methods.push_back(std::make_unique<Cop>(TKV_REQUEST(kv, Coprocessor), [](auto* c) {
    c->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no coprocessor"));
  }));

  using raft_serverpb::RaftMessage;
  using raft_serverpb::SnapshotChunk;
  const grpc::Status no_raft(grpc::StatusCode::UNIMPLEMENTED, "a standalone server runs no Raft");
  methods.push_back(std::make_unique<ReadStreamMethod<RaftMessage>>(
      streams, TKV_REQUEST_STREAM(kv, Raft), [this, no_raft](StreamHandlers<RaftMessage>* h) {
        if (!sink) return no_raft;
        h->on_message = [this](RaftMessage& m) {
          sink(std::move(m));
          return grpc::Status::OK;
        };
        return grpc::Status::OK;
      }));
  methods.push_back(std::make_unique<ReadStreamMethod<SnapshotChunk>>(
      streams, TKV_REQUEST_STREAM(kv, Snapshot), [this, no_raft](StreamHandlers<SnapshotChunk>* h) {
        if (!sink) return no_raft;
        struct Assembly {
          std::optional<RaftMessage> head;
          std::string data;
        };
        auto a = std::make_shared<Assembly>();
        h->on_message = [this, a](SnapshotChunk& c) {
          if (!a->head) {
            if (!c.has_message() || c.message().message().msg_type() != eraftpb::MsgSnapshot) {
              return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "the first chunk must carry the snapshot message");
            }
            a->head = std::move(*c.mutable_message());
          }
          if (a->data.size() + c.data().size() > max_snapshot_size) {
            return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "snapshot over raftstore.max-snapshot-size");
          }
          a->data += c.data();
          return grpc::Status::OK;
        };
        h->on_end = [a] {
          if (!a->head)
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty snapshot stream");
          return grpc::Status::OK;
        };
        // Only a snapshot whose sender closed the stream is whole.
        h->on_delivered = [this, a] {
          a->head->mutable_message()->mutable_snapshot()->set_data(std::move(a->data));
          sink(std::move(*a->head));
        };
        return grpc::Status::OK;
      }));

  using Check = UnaryMethod<HealthCheckRequest, HealthCheckResponse>;
  methods.push_back(std::make_unique<Check>(TKV_REQUEST(health, Check), [this](auto* c) {
    HealthCheckResponse::ServingStatus st = StatusOf(c->req().service());
    if (st == HealthCheckResponse::SERVICE_UNKNOWN) {
      c->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
      return;
    }
    c->resp()->set_status(st);
    c->Finish(grpc::Status::OK);
  }));
  methods.push_back(std::make_unique<WatchMethod>(*this));
}

#undef TKV_REQUEST
#undef TKV_REQUEST_STREAM

// ---- StreamRegistry ----

bool StreamRegistry::Add(StreamCloser* s) {
  std::lock_guard lock(mu_);
  if (closing_) return false;
  streams_.insert(s);
  return true;
}

void StreamRegistry::Remove(StreamCloser* s) {
  std::lock_guard lock(mu_);
  streams_.erase(s);
}

void StreamRegistry::CloseAll() {
  std::lock_guard lock(mu_);
  closing_ = true;
  // Close only starts the end: a stream goes (Remove) on its queue's thread,
  // which waits for this lock.
  for (StreamCloser* s : streams_) s->Close();
}

// ---- KvService ----

KvService::KvService(RawKv& raw, TxnKv& txn, RaftSink sink, size_t max_snapshot_size, int threads)
    : impl_(std::make_unique<Impl>(raw, txn, std::move(sink), max_snapshot_size, threads)) {
  impl_->AddMethods();
}

KvService::~KvService() { Stop(); }

void KvService::Register(grpc::ServerBuilder& builder) {
  TKV_CHECK(impl_->cqs.empty());
  builder.RegisterService(&impl_->kv);
  builder.RegisterService(&impl_->health);
  for (int i = 0; i < impl_->threads; ++i) impl_->cqs.push_back(builder.AddCompletionQueue());
  impl_->loop = std::make_unique<QueueLoop>(impl_->cqs.front().get());
}

void KvService::Start() {
  TKV_CHECK(!impl_->started && !impl_->cqs.empty());
  impl_->started = true;
  for (size_t i = 0; i < impl_->cqs.size(); ++i) {
    grpc::ServerCompletionQueue* cq = impl_->cqs[i].get();
    for (auto& m : impl_->methods) m->Listen(cq);
    std::function<void()> drain = [cq] { client::DrainQueue(cq); };
    if (i == 0) drain = [loop = impl_->loop.get()] { loop->Run(); };
    impl_->pollers.push_back(NamedThread(fmt::format("grpc-kv-{}", i), std::move(drain)));
  }
}

grpc::CompletionQueue* KvService::queue() {
  TKV_CHECK(!impl_->cqs.empty());
  return impl_->cqs.front().get();
}

QueueLoop& KvService::loop() {
  TKV_CHECK(impl_->loop != nullptr);
  return *impl_->loop;
}

void KvService::SetServing(bool serving) { impl_->serving = serving; }

void KvService::CloseStreams() { impl_->streams.CloseAll(); }

void KvService::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->loop != nullptr) impl_->loop->Close();
  for (auto& cq : impl_->cqs) cq->Shutdown();
  for (auto& t : impl_->pollers) t.join();
  // Never started: nothing is in the queues but their shutdown (and an
  // alarm of a Wake).
  if (impl_->pollers.empty())
    for (auto& cq : impl_->cqs) client::DrainQueue(cq.get());
}

}  // namespace tinykv::server
