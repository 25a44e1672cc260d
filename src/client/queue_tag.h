// QueueTag: what goes on a gRPC completion queue that several components
// share. Each operation's tag is a QueueTag; the thread that drains the
// queue calls Proceed with the operation's outcome. (A store's KvService
// thread drains its queue for the server's calls and for the store's region
// heartbeat stream, so that one thread polls the network.)
#pragma once

namespace tinykv::client {

class QueueTag {
 public:
  virtual ~QueueTag() = default;
  virtual void Proceed(bool ok) = 0;
};

}  // namespace tinykv::client
