#include "raft/read_only.h"

namespace tinykv::raft {

void ReadOnly::AddRequest(uint64_t index, const eraftpb::Message& m) {
  const std::string& ctx = m.context();
  if (pending_.count(ctx)) return;
  pending_.emplace(ctx, Request{m, index, {}});
  queue_.push_back(ctx);
}

const std::set<uint64_t>* ReadOnly::RecvAck(uint64_t id, const std::string& ctx) {
  auto it = pending_.find(ctx);
  if (it == pending_.end()) return nullptr;
  it->second.acks.insert(id);
  return &it->second.acks;
}

std::vector<ReadOnly::Request> ReadOnly::Advance(const std::string& ctx) {
  std::vector<Request> out;
  if (!pending_.count(ctx)) return out;
  while (!queue_.empty()) {
    std::string front = std::move(queue_.front());
    queue_.pop_front();
    auto node = pending_.extract(front);
    out.push_back(std::move(node.mapped()));
    if (front == ctx) break;
  }
  return out;
}

}  // namespace tinykv::raft
