#include "server/scheduler_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <deque>

namespace tinykv::server {

using scheduler::SStatus;

// ---- Streams ----

class SchedulerService::Stream {
 public:
  virtual ~Stream() = default;
  // Ends the stream (the reactor deletes itself once gRPC is done with it).
  virtual void Close() = 0;
};

namespace {

// A bidirectional stream: reads requests one at a time and hands each to
// Handle(); responses are queued and written one at a time.
template <typename Req, typename Resp>
class Bidi : public grpc::ServerBidiReactor<Req, Resp>, public SchedulerService::Stream {
 public:
  explicit Bidi(SchedulerService& svc) : svc_(svc) {}

  // Call once the derived object is built.
  void Begin() {
    if (!svc_.AddStream(this)) {
      registered_ = false;
      End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the scheduler is shutting down"));
      return;
    }
    this->StartRead(&req_);
  }

  void Send(Resp resp) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_pending_) return;
    queue_.push_back(std::move(resp));
    if (!writing_) {
      writing_ = true;
      this->StartWrite(&queue_.front());
    }
  }

  void End(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_pending_) return;
    finish_pending_ = true;
    finish_status_ = std::move(status);
    if (!writing_) this->Finish(finish_status_);
  }

  void Close() override {
    End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the scheduler is shutting down"));
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side, or the call broke
      End(grpc::Status::OK);
      return;
    }
    Handle(req_);
    std::lock_guard<std::mutex> lock(mu_);
    if (!finish_pending_) this->StartRead(&req_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.pop_front();
    if (!ok) {
      queue_.clear();
      writing_ = false;
      if (!finish_pending_) {
        finish_pending_ = true;
        finish_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
      }
      this->Finish(finish_status_);
      return;
    }
    if (!queue_.empty()) {
      this->StartWrite(&queue_.front());
    } else {
      writing_ = false;
      if (finish_pending_) this->Finish(finish_status_);
    }
  }

  void OnDone() override {
    if (registered_) svc_.RemoveStream(this);
    delete this;
  }

 protected:
  virtual void Handle(const Req& req) = 0;
  SchedulerService& svc_;

 private:
  Req req_;
  std::mutex mu_;
  std::deque<Resp> queue_;
  bool writing_ = false;
  bool finish_pending_ = false;
  bool registered_ = true;
  grpc::Status finish_status_;
};

}  // namespace

class SchedulerService::HeartbeatStream final
    : public Bidi<schedulerpb::RegionHeartbeatRequest, schedulerpb::RegionHeartbeatResponse> {
 public:
  using Bidi::Bidi;
  using Bidi::Send;

 protected:
  void Handle(const schedulerpb::RegionHeartbeatRequest& req) override {
    svc_.OnRegionHeartbeat(this, req);
  }
};

class SchedulerService::TsoStream final
    : public Bidi<schedulerpb::TsoRequest, schedulerpb::TsoResponse> {
 public:
  using Bidi::Bidi;

 protected:
  void Handle(const schedulerpb::TsoRequest& req) override {
    grpc::Status st = svc_.CheckHeader(req.header());
    if (!st.ok()) {
      End(st);
      return;
    }
    Send(svc_.OnTso(req));
  }
};

bool SchedulerService::AddStream(Stream* s) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  if (closing_) return false;
  streams_.insert(s);
  return true;
}

void SchedulerService::RemoveStream(Stream* s) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  streams_.erase(s);
  for (auto it = by_store_.begin(); it != by_store_.end();) {
    it = static_cast<Stream*>(it->second) == s ? by_store_.erase(it) : std::next(it);
  }
}

void SchedulerService::CloseStreams() {
  std::lock_guard<std::mutex> lock(streams_mu_);
  closing_ = true;
  for (Stream* s : streams_) s->Close();
}

bool SchedulerService::HasStream(uint64_t store_id) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  return by_store_.count(store_id) != 0;
}

void SchedulerService::Dispatch(std::vector<scheduler::RegionCommand> commands) {
  if (commands.empty()) return;
  std::lock_guard<std::mutex> lock(streams_mu_);
  for (auto& cmd : commands) {
    cmd.response.mutable_header()->set_cluster_id(core_.cluster_id());
    auto it = by_store_.find(cmd.store_id);
    if (it == by_store_.end()) {
      // Sent again when the region's leader next reports.
      spdlog::debug("no heartbeat stream from store {} for region {}", cmd.store_id,
                    cmd.response.region_id());
      continue;
    }
    it->second->Send(std::move(cmd.response));
  }
}

void SchedulerService::Tick() {
  std::vector<scheduler::RegionCommand> cmds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    core_.Tick();
    cmds = core_.TakeCommands();
  }
  Dispatch(std::move(cmds));
}

grpc::Status SchedulerService::CheckHeader(const schedulerpb::RequestHeader& h) const {
  if (h.cluster_id() != core_.cluster_id()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        fmt::format("mismatch cluster id: this scheduler serves cluster {}, the "
                                    "request is for cluster {}",
                                    core_.cluster_id(), h.cluster_id()));
  }
  return grpc::Status::OK;
}

void SchedulerService::OnRegionHeartbeat(HeartbeatStream* from,
                                         const schedulerpb::RegionHeartbeatRequest& req) {
  grpc::Status st = CheckHeader(req.header());
  if (!st.ok()) {
    from->End(st);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    if (req.leader().store_id() != 0) by_store_[req.leader().store_id()] = from;
  }
  scheduler::RegionHeartbeatInfo hb;
  hb.region = req.region();
  hb.leader = req.leader();
  hb.pending_peers.assign(req.pending_peers().begin(), req.pending_peers().end());
  hb.approximate_size = req.approximate_size();
  std::vector<scheduler::RegionCommand> cmds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (SStatus e = core_.RegionHeartbeat(hb)) {
      // Stale reports are normal around splits and leader changes.
      spdlog::debug("region heartbeat of region {} refused: {}", req.region().id(), e->message);
    }
    cmds = core_.TakeCommands();
  }
  Dispatch(std::move(cmds));
}

schedulerpb::TsoResponse SchedulerService::OnTso(const schedulerpb::TsoRequest& req) {
  schedulerpb::TsoResponse resp;
  resp.mutable_header()->set_cluster_id(core_.cluster_id());
  std::lock_guard<std::mutex> lock(mu_);
  auto ts = core_.Tso(req.count());
  if (!ts.has_value()) {
    resp.mutable_header()->mutable_error()->set_type(ts.error().type);
    resp.mutable_header()->mutable_error()->set_message(ts.error().message);
    return resp;
  }
  resp.set_count(req.count());
  resp.mutable_timestamp()->set_physical(ts->physical);
  resp.mutable_timestamp()->set_logical(ts->logical);
  return resp;
}

// ---- Unary RPCs ----

template <typename Req, typename Resp, typename Fn>
grpc::ServerUnaryReactor* SchedulerService::Unary(Ctx* ctx, const Req* req, Resp* resp, Fn fn) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  grpc::Status st = CheckHeader(req->header());
  if (!st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  resp->mutable_header()->set_cluster_id(core_.cluster_id());
  std::vector<scheduler::RegionCommand> cmds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (SStatus e = fn(*resp)) {
      resp->mutable_header()->mutable_error()->set_type(e->type);
      resp->mutable_header()->mutable_error()->set_message(e->message);
    }
    cmds = core_.TakeCommands();
  }
  Dispatch(std::move(cmds));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

template <typename T>
SStatus ErrorOf(const scheduler::SResult<T>& r) {
  if (r.has_value()) return std::nullopt;
  return r.error();
}

void FillRegion(const scheduler::RegionInfo* r, schedulerpb::GetRegionResponse& resp) {
  if (r == nullptr) return;  // no region there: the response has none
  *resp.mutable_region() = r->meta;
  if (r->leader.id() != 0) *resp.mutable_leader() = r->leader;
  for (const auto& p : r->meta.peers()) {
    if (p.id() != r->leader.id()) *resp.add_slaves() = p;
  }
}

}  // namespace

grpc::ServerUnaryReactor* SchedulerService::GetMembers(Ctx* ctx,
                                                       const schedulerpb::GetMembersRequest*,
                                                       schedulerpb::GetMembersResponse* resp) {
  resp->mutable_header()->set_cluster_id(core_.cluster_id());
  schedulerpb::Member m;
  m.set_name("tinykv-scheduler");
  m.set_member_id(1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    m.add_client_urls("http://" + address_);
  }
  *resp->add_members() = m;
  *resp->mutable_leader() = m;
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerBidiReactor<schedulerpb::TsoRequest, schedulerpb::TsoResponse>*
SchedulerService::Tso(Ctx*) {
  auto* s = new TsoStream(*this);
  s->Begin();
  return s;
}

grpc::ServerBidiReactor<schedulerpb::RegionHeartbeatRequest, schedulerpb::RegionHeartbeatResponse>*
SchedulerService::RegionHeartbeat(Ctx*) {
  auto* s = new HeartbeatStream(*this);
  s->Begin();
  return s;
}

grpc::ServerUnaryReactor* SchedulerService::Bootstrap(Ctx* ctx,
                                                      const schedulerpb::BootstrapRequest* req,
                                                      schedulerpb::BootstrapResponse* resp) {
  return Unary(ctx, req, resp, [&](auto&) {
    return core_.Bootstrap(req->store(), req->has_region() ? &req->region() : nullptr);
  });
}

grpc::ServerUnaryReactor* SchedulerService::IsBootstrapped(
    Ctx* ctx, const schedulerpb::IsBootstrappedRequest* req,
    schedulerpb::IsBootstrappedResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    r.set_bootstrapped(core_.bootstrapped());
    return std::nullopt;
  });
}

grpc::ServerUnaryReactor* SchedulerService::AllocID(Ctx* ctx, const schedulerpb::AllocIDRequest* req,
                                                    schedulerpb::AllocIDResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    auto id = core_.AllocId();
    if (id.has_value()) r.set_id(*id);
    return ErrorOf(id);
  });
}

grpc::ServerUnaryReactor* SchedulerService::GetStore(Ctx* ctx,
                                                     const schedulerpb::GetStoreRequest* req,
                                                     schedulerpb::GetStoreResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    auto s = core_.GetStore(req->store_id());
    if (s.has_value()) {
      *r.mutable_store() = s->meta;
      *r.mutable_stats() = s->stats;
    }
    return ErrorOf(s);
  });
}

grpc::ServerUnaryReactor* SchedulerService::PutStore(Ctx* ctx,
                                                     const schedulerpb::PutStoreRequest* req,
                                                     schedulerpb::PutStoreResponse* resp) {
  return Unary(ctx, req, resp, [&](auto&) { return core_.PutStore(req->store()); });
}

grpc::ServerUnaryReactor* SchedulerService::GetAllStores(
    Ctx* ctx, const schedulerpb::GetAllStoresRequest* req,
    schedulerpb::GetAllStoresResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    if (!core_.bootstrapped())
      return scheduler::Error{schedulerpb::NOT_BOOTSTRAPPED, "cluster is not bootstrapped"};
    for (auto& s : core_.AllStores(req->exclude_tombstone_stores())) *r.add_stores() = s;
    return std::nullopt;
  });
}

grpc::ServerUnaryReactor* SchedulerService::StoreHeartbeat(
    Ctx* ctx, const schedulerpb::StoreHeartbeatRequest* req,
    schedulerpb::StoreHeartbeatResponse* resp) {
  return Unary(ctx, req, resp, [&](auto&) { return core_.StoreHeartbeat(req->stats()); });
}

grpc::ServerUnaryReactor* SchedulerService::GetRegion(Ctx* ctx,
                                                      const schedulerpb::GetRegionRequest* req,
                                                      schedulerpb::GetRegionResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    FillRegion(core_.GetRegionByKey(req->region_key()), r);
    return std::nullopt;
  });
}

grpc::ServerUnaryReactor* SchedulerService::GetPrevRegion(Ctx* ctx,
                                                          const schedulerpb::GetRegionRequest* req,
                                                          schedulerpb::GetRegionResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    FillRegion(core_.GetPrevRegion(req->region_key()), r);
    return std::nullopt;
  });
}

grpc::ServerUnaryReactor* SchedulerService::GetRegionByID(
    Ctx* ctx, const schedulerpb::GetRegionByIDRequest* req, schedulerpb::GetRegionResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    FillRegion(core_.GetRegionById(req->region_id()), r);
    return std::nullopt;
  });
}

grpc::ServerUnaryReactor* SchedulerService::ScanRegions(Ctx* ctx,
                                                        const schedulerpb::ScanRegionsRequest* req,
                                                        schedulerpb::ScanRegionsResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    size_t limit = req->limit() <= 0 ? 0 : static_cast<size_t>(req->limit());
    for (const auto* region : core_.ScanRegions(req->start_key(), req->end_key(), limit)) {
      *r.add_regions() = region->meta;
      *r.add_leaders() = region->leader;
    }
    return std::nullopt;
  });
}

grpc::ServerUnaryReactor* SchedulerService::AskSplit(Ctx* ctx,
                                                     const schedulerpb::AskSplitRequest* req,
                                                     schedulerpb::AskSplitResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    auto ids = core_.AskSplit(req->region());
    if (ids.has_value()) {
      r.set_new_region_id(ids->new_region_id());
      *r.mutable_new_peer_ids() = ids->new_peer_ids();
    }
    return ErrorOf(ids);
  });
}

grpc::ServerUnaryReactor* SchedulerService::ReportSplit(Ctx* ctx,
                                                        const schedulerpb::ReportSplitRequest* req,
                                                        schedulerpb::ReportSplitResponse* resp) {
  return Unary(ctx, req, resp, [&](auto&) { return core_.ReportSplit(req->left(), req->right()); });
}

grpc::ServerUnaryReactor* SchedulerService::GetClusterConfig(
    Ctx* ctx, const schedulerpb::GetClusterConfigRequest* req,
    schedulerpb::GetClusterConfigResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    if (!core_.bootstrapped())
      return scheduler::Error{schedulerpb::NOT_BOOTSTRAPPED, "cluster is not bootstrapped"};
    *r.mutable_cluster() = core_.ClusterConfig();
    return std::nullopt;
  });
}

grpc::ServerUnaryReactor* SchedulerService::PutClusterConfig(
    Ctx* ctx, const schedulerpb::PutClusterConfigRequest* req,
    schedulerpb::PutClusterConfigResponse* resp) {
  return Unary(ctx, req, resp, [&](auto&) { return core_.PutClusterConfig(req->cluster()); });
}

grpc::ServerUnaryReactor* SchedulerService::GetGCSafePoint(
    Ctx* ctx, const schedulerpb::GetGCSafePointRequest* req,
    schedulerpb::GetGCSafePointResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    r.set_safe_point(core_.GcSafePoint());
    return std::nullopt;
  });
}

grpc::ServerUnaryReactor* SchedulerService::UpdateGCSafePoint(
    Ctx* ctx, const schedulerpb::UpdateGCSafePointRequest* req,
    schedulerpb::UpdateGCSafePointResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    auto sp = core_.UpdateGcSafePoint(req->safe_point());
    if (sp.has_value()) r.set_new_safe_point(*sp);
    return ErrorOf(sp);
  });
}

grpc::ServerUnaryReactor* SchedulerService::GetOperator(Ctx* ctx,
                                                        const schedulerpb::GetOperatorRequest* req,
                                                        schedulerpb::GetOperatorResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    r.set_region_id(req->region_id());
    auto op = core_.GetOperator(req->region_id());
    if (!op) {
      return scheduler::Error{schedulerpb::UNKNOWN,
                              fmt::format("region {} has had no operator", req->region_id())};
    }
    r.set_desc(op->desc);
    r.set_kind(op->kind);
    r.set_status(op->status);
    return std::nullopt;
  });
}

grpc::ServerUnaryReactor* SchedulerService::AddOperator(Ctx* ctx,
                                                        const schedulerpb::AddOperatorRequest* req,
                                                        schedulerpb::AddOperatorResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    scheduler::AdminOp op;
    switch (req->op_case()) {
      case schedulerpb::AddOperatorRequest::kAddPeerStoreId:
        op.kind = scheduler::AdminOp::kAddPeer;
        op.store_id = req->add_peer_store_id();
        break;
      case schedulerpb::AddOperatorRequest::kRemovePeerStoreId:
        op.kind = scheduler::AdminOp::kRemovePeer;
        op.store_id = req->remove_peer_store_id();
        break;
      case schedulerpb::AddOperatorRequest::kTransferLeaderStoreId:
        op.kind = scheduler::AdminOp::kTransferLeader;
        op.store_id = req->transfer_leader_store_id();
        break;
      case schedulerpb::AddOperatorRequest::kSplit:
        op.kind = scheduler::AdminOp::kSplit;
        op.split_keys.assign(req->split().keys().begin(), req->split().keys().end());
        break;
      case schedulerpb::AddOperatorRequest::OP_NOT_SET:
        return scheduler::Error{schedulerpb::UNKNOWN, "add operator: no operator given"};
    }
    auto desc = core_.AddOperator(req->region_id(), op);
    if (desc.has_value()) r.set_desc(*desc);
    return ErrorOf(desc);
  });
}

grpc::ServerUnaryReactor* SchedulerService::RemoveStore(Ctx* ctx,
                                                        const schedulerpb::RemoveStoreRequest* req,
                                                        schedulerpb::RemoveStoreResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    auto s = core_.RemoveStore(req->store_id());
    if (s.has_value()) *r.mutable_store() = *s;
    return ErrorOf(s);
  });
}

grpc::ServerUnaryReactor* SchedulerService::GetClusterStatus(
    Ctx* ctx, const schedulerpb::GetClusterStatusRequest* req,
    schedulerpb::GetClusterStatusResponse* resp) {
  return Unary(ctx, req, resp, [&](auto& r) -> SStatus {
    if (!core_.bootstrapped())
      return scheduler::Error{schedulerpb::NOT_BOOTSTRAPPED, "cluster is not bootstrapped"};
    *r.mutable_cluster() = core_.ClusterConfig();
    uint64_t now = core_.NowMs();
    for (const auto& [id, s] : core_.stores()) {
      auto* st = r.add_stores();
      *st->mutable_store() = s.meta;
      *st->mutable_stats() = s.stats;
      auto agg = core_.regions().StoreStats(id);
      st->set_region_count(agg.region_count);
      st->set_leader_count(agg.leader_count);
      st->set_region_size(agg.region_size);
      st->set_last_heartbeat_age_ms(s.heartbeat_seen ? now - s.last_heartbeat_ms : 0);
      st->set_down(core_.IsDown(s));
      st->set_disconnected(core_.IsDisconnected(s));
    }
    r.set_region_count(static_cast<uint32_t>(core_.regions().size()));
    size_t limit = req->region_limit() <= 0 ? 0 : static_cast<size_t>(req->region_limit());
    for (const auto* region : core_.ScanRegions("", "", limit)) {
      auto* rs = r.add_regions();
      *rs->mutable_region() = region->meta;
      *rs->mutable_leader() = region->leader;
      for (const auto& p : region->pending_peers) *rs->add_pending_peers() = p;
      rs->set_approximate_size(region->approximate_size);
      if (auto it = core_.operators().find(region->id()); it != core_.operators().end())
        rs->set_operator_desc(it->second.Describe());
    }
    return std::nullopt;
  });
}

}  // namespace tinykv::server
