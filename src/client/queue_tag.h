// QueueTag: what goes on a gRPC completion queue that several components
// share. Each operation's tag is a QueueTag; the thread that drains the
// queue calls Proceed with the operation's outcome. (A store's KvService
// thread drains its queue for the server's calls, the Raft streams and the
// region heartbeat stream, so that one thread polls the network.)
#pragma once

#include <grpcpp/completion_queue.h>

#include <functional>
#include <utility>

namespace tinykv::client {

class QueueTag {
 public:
  virtual ~QueueTag() = default;
  virtual void Proceed(bool ok) = 0;
};

// A tag that runs `fn` (a stream object's tag per kind of operation).
class CallbackTag final : public QueueTag {
 public:
  explicit CallbackTag(std::function<void(bool)> fn) : fn_(std::move(fn)) {}
  void Proceed(bool ok) override { fn_(ok); }

 private:
  std::function<void(bool)> fn_;
};

// Runs every tag of `cq` until it is shut down and empty.
inline void DrainQueue(grpc::CompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) static_cast<QueueTag*>(tag)->Proceed(ok);
}

}  // namespace tinykv::client
