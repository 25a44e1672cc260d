#include "raftstore/store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/check.h"
#include "common/codec.h"
#include "raftstore/keys.h"

namespace tinykv::raftstore {

using storage::Cf;

namespace {

// The key of a region in the range map: its end, with +infinity last.
std::pair<bool, std::string> RangeKey(const metapb::Region& r) {
  return {r.end_key().empty(), r.end_key()};
}

std::optional<metapb::Peer> PeerOnStore(const metapb::Region& region, uint64_t store_id) {
  for (const auto& p : region.peers()) {
    if (p.store_id() == store_id) return p;
  }
  return std::nullopt;
}

bool IsMember(const metapb::Region& region, uint64_t peer_id) {
  return std::any_of(region.peers().begin(), region.peers().end(),
                     [&](const metapb::Peer& p) { return p.id() == peer_id; });
}

// Whether epoch a is older than b in either dimension.
bool EpochOlder(const metapb::RegionEpoch& a, const metapb::RegionEpoch& b) {
  return a.version() < b.version() || a.conf_ver() < b.conf_ver();
}

WriteResponse ErrorResponse(errorpb::Error e) {
  WriteResponse r;
  r.region_error = std::move(e);
  return r;
}

ReadResponse ReadError(errorpb::Error e) {
  ReadResponse r;
  r.region_error = std::move(e);
  return r;
}

}  // namespace

Store::Store(StoreDeps deps)
    : deps_(std::move(deps)),
      logger_(deps_.logger ? deps_.logger : spdlog::default_logger()),
      engine_(*deps_.engine),
      applier_(deps_.store_id, engine_, *this, logger_) {
  TKV_CHECK(deps_.engine && deps_.transport && deps_.clock,
            "store needs an engine, a transport and a clock");
  TKV_CHECK(deps_.config.LeaseIsSafe(),
            "the leader lease ({} ms) must be shorter than the election timeout less a tick",
            deps_.config.MaxLeaderLeaseMs());
}

Store::~Store() = default;

Status Store::Bootstrap(storage::Engine& engine, uint64_t cluster_id, uint64_t store_id,
                        const std::optional<metapb::Region>& first_region) {
  auto ident = ReadIdent(engine);
  if (ident.ok()) return Status::InvalidArgument("the engine is already bootstrapped");
  if (!ident.status().IsNotFound()) return ident.status();
  // Refuse a directory that holds data without an identity.
  auto snap = engine.NewSnapshot();
  for (Cf cf : storage::kAllCfs) {
    auto it = snap->NewIterator(cf);
    it->SeekToFirst();
    if (it->Valid()) return Status::InvalidArgument("the engine holds data but no store identity");
  }
  storage::WriteBatch wb;
  raft_serverpb::StoreIdent id;
  id.set_cluster_id(cluster_id);
  id.set_store_id(store_id);
  wb.Put(Cf::kMeta, keys::StoreIdentKey(), id.SerializeAsString());
  if (first_region) PeerStorage::WriteInitialState(*first_region, wb);
  return engine.Write(wb, storage::WriteOptions{.sync = true});
}

Status Store::PrepareBootstrap(storage::Engine& engine, const metapb::Region& first_region) {
  TKV_RETURN_IF_ERROR(ReadIdent(engine).status());
  auto snap = engine.NewSnapshot();
  storage::IterOptions opts;
  opts.lower_bound = keys::RegionStatePrefix();
  opts.upper_bound = keys::RegionStatePrefixEnd();
  auto it = snap->NewIterator(Cf::kMeta, opts);
  it->SeekToFirst();
  if (it->Valid()) return Status::InvalidArgument("the store holds regions already");
  storage::WriteBatch wb;
  wb.Put(Cf::kMeta, keys::PrepareBootstrapKey(), first_region.SerializeAsString());
  PeerStorage::WriteInitialState(first_region, wb);
  return engine.Write(wb, storage::WriteOptions{.sync = true});
}

Result<std::optional<metapb::Region>> Store::PreparedBootstrap(storage::Engine& engine) {
  return ReadMeta<metapb::Region>(engine, keys::PrepareBootstrapKey());
}

Status Store::FinishBootstrap(storage::Engine& engine, const metapb::Region& region, bool keep) {
  storage::WriteBatch wb;
  wb.Delete(Cf::kMeta, keys::PrepareBootstrapKey());
  if (!keep) {
    wb.DeleteRange(Cf::kMeta, keys::RaftLogPrefix(region.id()), keys::RaftLogPrefixEnd(region.id()));
    wb.Delete(Cf::kMeta, keys::RaftStateKey(region.id()));
    wb.Delete(Cf::kMeta, keys::ApplyStateKey(region.id()));
    wb.Delete(Cf::kMeta, keys::RegionStateKey(region.id()));
  }
  return engine.Write(wb, storage::WriteOptions{.sync = true});
}

Result<raft_serverpb::StoreIdent> Store::ReadIdent(storage::Engine& engine) {
  TKV_ASSIGN_OR_RETURN(auto ident,
                       ReadMeta<raft_serverpb::StoreIdent>(engine, keys::StoreIdentKey()));
  if (!ident) return Status::NotFound("the store is not bootstrapped");
  return *ident;
}

Status Store::FinishDestroys(storage::Snapshot& snap) {
  // A replica that applied its own removal is Tombstone already; if the
  // store stopped before destroying it, its log, states and data are still
  // here. Its data range is cleared unless a live region now covers part of
  // it (then the data is that region's).
  storage::WriteBatch wb;
  for (const auto& [id, tomb] : tombstones_) {
    const metapb::Region& region = tomb.region;
    auto raft_state = snap.Get(Cf::kMeta, keys::RaftStateKey(id));
    TKV_RETURN_IF_ERROR(raft_state.status());
    auto apply_state = snap.Get(Cf::kMeta, keys::ApplyStateKey(id));
    TKV_RETURN_IF_ERROR(apply_state.status());
    if (!raft_state->has_value() && !apply_state->has_value()) continue;
    logger_->info("region {}: finishing the destruction of its removed replica", id);
    wb.DeleteRange(Cf::kMeta, keys::RaftLogPrefix(id), keys::RaftLogPrefixEnd(id));
    wb.Delete(Cf::kMeta, keys::RaftStateKey(id));
    wb.Delete(Cf::kMeta, keys::ApplyStateKey(id));
    if (region.peers_size() > 0 && !Overlaps(region)) DeleteRegionData(region, wb);
  }
  if (wb.empty()) return Status::OK();
  return engine_.Write(wb, storage::WriteOptions{.sync = true});
}

Status Store::Start() {
  TKV_ASSIGN_OR_RETURN(auto ident, ReadIdent(engine_));
  if (ident.store_id() != deps_.store_id) {
    return Status::InvalidArgument(fmt::format("the data belongs to store {}, not store {}",
                                               ident.store_id(), deps_.store_id));
  }
  auto snap = engine_.NewSnapshot();
  storage::IterOptions opts;
  opts.lower_bound = keys::RegionStatePrefix();
  opts.upper_bound = keys::RegionStatePrefixEnd();
  auto it = snap->NewIterator(Cf::kMeta, opts);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    raft_serverpb::RegionLocalState state;
    if (!state.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return Status::Corruption("cannot parse a region state");
    }
    const metapb::Region& region = state.region();
    if (state.state() == raft_serverpb::Tombstone) {
      tombstones_[region.id()] = Tombstone{region, state.removed_peer_id()};
      continue;
    }
    auto self = PeerOnStore(region, deps_.store_id);
    if (!self)
      return Status::Corruption(
          fmt::format("region {} has no peer on store {}", region.id(), deps_.store_id));
    if (Overlaps(region))
      return Status::Corruption(fmt::format("region {} overlaps another region", region.id()));
    TKV_ASSIGN_OR_RETURN(Peer * peer,
                         AddPeer(region, *self, /*register_apply=*/true, /*restarted=*/true));
    (void)peer;
  }
  TKV_RETURN_IF_ERROR(it->status());
  TKV_RETURN_IF_ERROR(FinishDestroys(*snap));
  uint64_t now = deps_.clock->NowMs();
  const auto& c = deps_.config;
  next_tick_ms_ = now + c.raft_base_tick_ms;
  next_gc_tick_ms_ = now + c.raft_log_gc_tick_ms;
  next_split_tick_ms_ = now + c.split_check_tick_ms;
  next_report_tick_ms_ = now + c.region_heartbeat_tick_ms;
  logger_->info("store started store={} regions={} tombstones={}", deps_.store_id, peers_.size(),
                tombstones_.size());
  RefreshStatus();
  return Status::OK();
}

void Store::Stop() {
  stopped_ = true;
  {
    std::unique_lock lock(local_mu_);
    local_reads_.clear();
  }
  for (auto& msg : inbox_.Drain(SIZE_MAX)) {
    if (auto* c = std::get_if<CommandIn>(&msg)) {
      c->cb(WriteResponse{{}, Status::Unavailable("the store is stopping"), {}});
    } else if (auto* r = std::get_if<ReadIn>(&msg)) {
      r->cb(ReadResponse{{}, Status::Unavailable("the store is stopping"), nullptr, {}, 0});
    }
  }
  for (auto& [id, peer] : peers_) {
    for (auto& p : peer->proposals)
      p.cb(WriteResponse{{}, UndeterminedStatus("the store is stopping"), {}});
    peer->proposals.clear();
    for (auto& r : peer->reads)
      r.cb(ReadResponse{{}, Status::Unavailable("the store is stopping"), nullptr, {}, 0});
    peer->reads.clear();
  }
  applier_.AbortAll("the store is stopping");
}

void Store::SetNotify(Worker worker, std::function<void()> fn) {
  switch (worker) {
    case Worker::kPoller:
      inbox_.SetNotify(std::move(fn));
      break;
    case Worker::kApplier:
      applier_.mailbox().SetNotify(std::move(fn));
      break;
    case Worker::kSnapshot:
      snap_inbox_.SetNotify(std::move(fn));
      break;
    case Worker::kGc:
      gc_inbox_.SetNotify(std::move(fn));
      break;
  }
}

// ---- Input ----

void Store::Propose(raft_cmdpb::RaftCmdRequest req, WriteCallback cb) {
  inbox_.Push(CommandIn{std::move(req), std::move(cb)});
}
void Store::Read(raft_cmdpb::RaftRequestHeader header, ReadCallback cb) {
  if (TryLocalRead(header, cb)) return;
  inbox_.Push(ReadIn{std::move(header), std::move(cb)});
}
void Store::OnRaftMessage(raft_serverpb::RaftMessage msg) { inbox_.Push(std::move(msg)); }
void Store::ReportUnreachable(uint64_t region_id, uint64_t to_peer_id) {
  inbox_.Push(UnreachableIn{region_id, to_peer_id});
}
void Store::ReportSnapshot(uint64_t region_id, uint64_t to_peer_id, bool ok) {
  inbox_.Push(SnapStatusIn{region_id, to_peer_id, ok});
}
void Store::RequestSplit(uint64_t region_id, metapb::RegionEpoch epoch, std::string split_key) {
  inbox_.Push(SplitRequestIn{region_id, std::move(epoch), std::move(split_key)});
}
void Store::ReportAllRegions() { inbox_.Push(ReportAllIn{}); }

void Store::RequestSnapshot(uint64_t region_id) {
  applier_.mailbox().Push(GenerateSnapshot{region_id});
}
void Store::OnApplyResult(ApplyResult result) { inbox_.Push(std::move(result)); }
void Store::OnSnapshotSource(SnapshotSource source) { snap_inbox_.Push(std::move(source)); }

// ---- The raft poller ----

bool Store::RunOnce() {
  if (stopped_) return false;
  std::vector<StoreMsg> msgs = inbox_.Drain(4096);
  bool worked = !msgs.empty();
  for (StoreMsg& m : msgs) Handle(m);
  if (deps_.clock->NowMs() >= next_tick_ms_) {
    Tick();
    worked = true;
  }
  if (!dirty_.empty()) {
    HandleReadies();
    worked = true;
  }
  if (status_dirty_) RefreshStatus();
  return worked || !dirty_.empty();
}

void Store::Handle(StoreMsg& msg) {
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, raft_serverpb::RaftMessage>) {
          HandleRaftMessage(m);
        } else if constexpr (std::is_same_v<T, CommandIn>) {
          HandleCommand(m);
        } else if constexpr (std::is_same_v<T, ReadIn>) {
          HandleRead(m);
        } else if constexpr (std::is_same_v<T, UnreachableIn>) {
          if (Peer* p = FindPeer(m.region_id)) {
            p->raft().ReportUnreachable(m.to_peer_id);
            MarkDirty(m.region_id);
          }
        } else if constexpr (std::is_same_v<T, SnapStatusIn>) {
          if (Peer* p = FindPeer(m.region_id)) {
            p->raft().ReportSnapshot(m.to_peer_id, m.ok ? raft::SnapshotStatus::kFinish
                                                        : raft::SnapshotStatus::kFailure);
            MarkDirty(m.region_id);
          }
        } else if constexpr (std::is_same_v<T, ApplyResult>) {
          HandleApplyResult(m);
        } else if constexpr (std::is_same_v<T, SnapshotGeneratedIn>) {
          if (Peer* p = FindPeer(m.region_id)) {
            p->storage().OnSnapshotGenerated(std::move(m.snapshot));
            MarkDirty(m.region_id);
          }
        } else if constexpr (std::is_same_v<T, SplitCheckIn>) {
          HandleSplitCheck(m);
        } else if constexpr (std::is_same_v<T, SplitIdsIn>) {
          HandleSplitIds(m);
        } else if constexpr (std::is_same_v<T, SplitRequestIn>) {
          HandleSplitRequest(std::move(m));
        } else if constexpr (std::is_same_v<T, ReportAllIn>) {
          for (auto& [id, peer] : peers_) {
            if (peer->IsLeader()) {
              peer->heartbeat_due = true;
              MarkDirty(id);
            }
          }
        }
      },
      msg);
}

void Store::Tick() {
  const auto& c = deps_.config;
  uint64_t now = deps_.clock->NowMs();
  next_tick_ms_ = now + c.raft_base_tick_ms;
  for (auto& [id, peer] : peers_) {
    peer->raft().Tick();
    if (!peer->reads.empty() && peer->IsLeader()) RetryReads(*peer);
    // A lost renewal round: another may be asked for.
    if (peer->lease_round && now >= peer->lease_round->lease.sent_ms + ElectionTimeoutMs()) {
      peer->lease_round.reset();
    }
    if (peer->IsLeader() && ReadLocallyLately(id, now)) MaybeRenewLease(*peer, now);
    if (peer->reported_pending != 0 && peer->IsLeader()) CheckPendingPeers(*peer);
    MarkDirty(id);
  }
  status_dirty_ = true;
  if (now >= next_gc_tick_ms_) {
    next_gc_tick_ms_ = now + c.raft_log_gc_tick_ms;
    for (auto& [id, peer] : peers_) MaybeCompactLog(*peer);
  }
  if (now >= next_split_tick_ms_) {
    next_split_tick_ms_ = now + c.split_check_tick_ms;
    if (deps_.scheduler != nullptr) {
      for (auto& [id, peer] : peers_) {
        if (!peer->IsLeader() || !peer->IsInitialized()) continue;
        if (peer->splitting) {
          if (now < peer->split_deadline_ms) continue;
          // That attempt was lost (its proposal dropped or refused): check again.
          AbandonSplit(*peer, "no split was applied in time");
        }
        if (peer->size_diff == 0) continue;
        peer->splitting = true;
        peer->split_deadline_ms = now + 3 * c.split_check_tick_ms;
        peer->size_diff = 0;
        gc_inbox_.Push(SplitCheckTask{peer->region(),
                                      std::shared_ptr<storage::Snapshot>(engine_.NewSnapshot())});
      }
    }
  }
  if (now >= next_report_tick_ms_) {
    next_report_tick_ms_ = now + c.region_heartbeat_tick_ms;
    for (auto& [id, peer] : peers_) {
      if (peer->IsLeader()) {
        peer->heartbeat_due = true;
        MarkDirty(id);
      }
    }
  }
}

void Store::MaybeCompactLog(Peer& peer) {
  if (!peer.IsLeader() || !peer.IsInitialized()) return;
  const auto& c = deps_.config;
  uint64_t first = peer.storage().FirstIndex();
  uint64_t applied = peer.applied_index;
  if (applied < first) return;
  uint64_t count = applied - first + 1;
  if (count < c.raft_log_gc_count_limit && peer.log_bytes_since_compact < c.raft_log_gc_size_limit)
    return;
  auto term = peer.storage().Term(applied);
  if (!term.has_value()) return;
  raft_cmdpb::RaftCmdRequest req;
  auto* h = req.mutable_header();
  h->set_region_id(peer.region_id());
  *h->mutable_peer() = peer.self();
  *h->mutable_region_epoch() = peer.region().region_epoch();
  req.mutable_admin_request()->set_cmd_type(raft_cmdpb::CompactLog);
  req.mutable_admin_request()->mutable_compact_log()->set_compact_index(applied);
  req.mutable_admin_request()->mutable_compact_log()->set_compact_term(*term);
  ProposeNormal(peer, std::move(req), nullptr);
  peer.log_bytes_since_compact = 0;
}

// ---- Commands and reads ----

std::optional<errorpb::Error> Store::PreCheck(const raft_cmdpb::RaftRequestHeader& header,
                                              Peer** out) {
  if (header.peer().store_id() != deps_.store_id)
    return StoreNotMatchError(header.peer().store_id(), deps_.store_id);
  Peer* peer = FindPeer(header.region_id());
  if (peer == nullptr || !peer->IsInitialized()) return RegionNotFoundError(header.region_id());
  if (!peer->IsLeader()) return NotLeaderError(header.region_id(), peer->LeaderPeer());
  // The client's route names another replica of ours (it was replaced).
  if (header.peer().id() != peer->id()) return RegionNotFoundError(header.region_id());
  if (header.term() != 0 && header.term() != peer->raft().raft().term()) return StaleCommandError();
  *out = peer;
  return std::nullopt;
}

void Store::HandleCommand(CommandIn& in) {
  Peer* peer = nullptr;
  if (auto err = PreCheck(in.req.header(), &peer)) return in.cb(ErrorResponse(std::move(*err)));
  if (auto err = CheckEpoch(in.req, peer->region())) return in.cb(ErrorResponse(std::move(*err)));
  if (peer->proposals.size() >= deps_.config.max_pending_proposals ||
      apply_backlog_bytes_ >= deps_.config.max_apply_backlog_bytes) {
    return in.cb(ErrorResponse(ServerIsBusyError("too many writes waiting to be applied", 100)));
  }
  if (in.req.has_admin_request()) {
    const auto& admin = in.req.admin_request();
    switch (admin.cmd_type()) {
      case raft_cmdpb::TransferLeader: {
        // Not replicated: the leader starts the transfer and answers at once.
        peer->raft().TransferLeader(admin.transfer_leader().peer().id());
        MarkDirty(peer->region_id());
        WriteResponse resp;
        resp.admin.set_cmd_type(raft_cmdpb::TransferLeader);
        return in.cb(std::move(resp));
      }
      case raft_cmdpb::ChangePeer:
        return ProposeChangePeer(*peer, in);
      case raft_cmdpb::CompactLog:
      case raft_cmdpb::Split:
        break;
      default:
        return in.cb(WriteResponse{{}, Status::InvalidArgument("unknown admin command"), {}});
    }
  } else {
    for (const auto& r : in.req.requests()) {
      const std::string& key = r.cmd_type() == raft_cmdpb::Put ? r.put().key() : r.delete_().key();
      if (!KeyInRegion(key, peer->region()))
        return in.cb(ErrorResponse(KeyNotInRegionError(key, peer->region())));
    }
  }
  ProposeNormal(*peer, std::move(in.req), std::move(in.cb));
}

bool Store::ProposeNormal(Peer& peer, raft_cmdpb::RaftCmdRequest req, WriteCallback cb) {
  uint64_t id = next_proposal_id_++;
  req.mutable_header()->set_proposal_id(id);
  std::string data = req.SerializeAsString();
  if (data.size() > deps_.config.raft_entry_max_size) {
    if (cb) cb(ErrorResponse(RaftEntryTooLargeError(peer.region_id(), data.size())));
    return false;
  }
  raft::Error err = peer.raft().Propose(std::move(data));
  if (err != raft::Error::kOk) {
    if (!cb) return false;
    // Not appended: safe to retry elsewhere or later.
    if (!peer.IsLeader() || peer.raft().raft().lead_transferee() != raft::kNone) {
      cb(ErrorResponse(NotLeaderError(peer.region_id(), peer.LeaderPeer())));
    } else {
      cb(ErrorResponse(ServerIsBusyError("too much is waiting to be committed", 100)));
    }
    return false;
  }
  const raft::Raft& r = peer.raft().raft();
  if (req.has_admin_request()) {
    peer.last_admin_index = r.log().LastIndex();
    UnpublishLocalRead(peer.region_id());
  }
  if (cb) {
    peer.proposals.push_back(Proposal{r.log().LastIndex(), r.term(), id, std::move(cb),
                                      StampNow(peer, deps_.clock->NowMs())});
  }
  MarkDirty(peer.region_id());
  return true;
}

void Store::ProposeChangePeer(Peer& peer, CommandIn& in) {
  const auto& change = in.req.admin_request().change_peer();
  const metapb::Peer& target = change.peer();
  if (Status s = CheckChangePeer(change, peer.region()); !s.ok())
    return in.cb(WriteResponse{{}, std::move(s), {}});
  if (change.change_type() == eraftpb::AddNode) {
    for (const auto& p : peer.region().peers()) {
      if (p.id() == target.id() && p.role() == metapb::Voter) {
        // Already a voter: nothing to replicate (a repeated request).
        WriteResponse resp;
        resp.admin.set_cmd_type(raft_cmdpb::ChangePeer);
        *resp.admin.add_regions() = peer.region();
        return in.cb(std::move(resp));
      }
    }
  }
  if (change.change_type() == eraftpb::RemoveNode && target.id() == peer.id()) {
    // A leader does not remove itself (a two-member group could be left
    // without a way to learn that the change committed): it hands leadership
    // to the most up-to-date other voter, and the request is retried there.
    raft::RaftStatus st = peer.raft().GetStatus();
    uint64_t best = raft::kNone, best_match = 0;
    for (const auto& [id, pr] : st.progress) {
      if (id != peer.id() && !pr.is_learner && (best == raft::kNone || pr.match > best_match)) {
        best = id;
        best_match = pr.match;
      }
    }
    if (best == raft::kNone) {
      return in.cb(WriteResponse{
          {}, Status::InvalidArgument("cannot remove the only voter of a region"), {}});
    }
    peer.raft().TransferLeader(best);
    MarkDirty(peer.region_id());
    return in.cb(ErrorResponse(NotLeaderError(peer.region_id(), peer.FindPeer(best))));
  }
  uint64_t id = next_proposal_id_++;
  in.req.mutable_header()->set_proposal_id(id);
  eraftpb::ConfChange cc;
  cc.set_change_type(change.change_type());
  cc.set_node_id(target.id());
  cc.set_context(in.req.SerializeAsString());
  peer.RememberPeer(target);
  raft::Error err = peer.raft().ProposeConfChange(cc);
  if (err != raft::Error::kOk) {
    if (!peer.IsLeader())
      return in.cb(ErrorResponse(NotLeaderError(peer.region_id(), peer.LeaderPeer())));
    return in.cb(ErrorResponse(ServerIsBusyError("another membership change is in progress", 100)));
  }
  const raft::Raft& r = peer.raft().raft();
  peer.last_admin_index = r.log().LastIndex();
  UnpublishLocalRead(peer.region_id());
  peer.proposals.push_back(Proposal{r.log().LastIndex(), r.term(), id, std::move(in.cb),
                                    StampNow(peer, deps_.clock->NowMs())});
  MarkDirty(peer.region_id());
}

void Store::HandleRead(ReadIn& in) {
  Peer* peer = nullptr;
  if (auto err = PreCheck(in.header, &peer)) return in.cb(ReadError(std::move(*err)));
  if (in.header.region_epoch().version() != peer->region().region_epoch().version()) {
    return in.cb(ReadError(EpochNotMatchError("the region changed", {peer->region()})));
  }
  uint64_t now = deps_.clock->NowMs();
  if (CanReadLocally(*peer, now)) {
    MaybeRenewLease(*peer, now);
    std::shared_ptr<storage::Snapshot> snap;
    return AnswerRead(*peer, in.cb, snap);
  }
  std::string ctx = fmt::format("read-{}", next_read_id_++);
  if (peer->raft().ReadIndex(ctx) != raft::Error::kOk) {
    return in.cb(ReadError(NotLeaderError(peer->region_id(), peer->LeaderPeer())));
  }
  peer->reads.push_back(PendingRead{std::move(ctx), std::nullopt, std::move(in.cb), ReadRetryAt(),
                                    in.header.region_epoch().version(), StampNow(*peer, now)});
  MarkDirty(peer->region_id());
}

// ---- The leader lease (raftstore/lease.h) ----

bool Store::Transferring(const Peer& peer) const {
  return peer.raft().raft().lead_transferee() != raft::kNone;
}

LeaseStamp Store::StampNow(const Peer& peer, uint64_t now) const {
  return LeaseStamp{now, Transferring(peer) ? LeaderLease::kNoRenewal : peer.lease.generation()};
}

bool Store::CanReadLocally(const Peer& peer, uint64_t now) const {
  // Also: an entry of this term applied (so is everything a former leader
  // acknowledged), and no admin command of ours still on its way to the
  // data (this thread's region would be behind it).
  return deps_.config.lease_read && peer.IsLeader() && !Transferring(peer) &&
         peer.lease.Valid(now) && peer.applied_term == peer.raft().raft().term() &&
         peer.applied_index >= peer.last_admin_index;
}

void Store::MaybeRenewLease(Peer& peer, uint64_t now) {
  if (!deps_.config.lease_read || peer.lease_round || !peer.IsLeader() || Transferring(peer) ||
      !peer.lease.WantsRenewal(now)) {
    return;
  }
  std::string ctx = fmt::format("lease-{}", next_read_id_++);
  if (peer.raft().ReadIndex(ctx) != raft::Error::kOk) return;
  peer.lease_round = LeaseRound{std::move(ctx), StampNow(peer, now)};
  MarkDirty(peer.region_id());
}

void Store::PublishLocalRead(Peer& peer) {
  uint64_t now = deps_.clock->NowMs();
  if (!CanReadLocally(peer, now)) return UnpublishLocalRead(peer.region_id());
  const uint64_t term = peer.raft().raft().term();
  const uint64_t version = peer.region().region_epoch().version();
  std::unique_lock lock(local_mu_);
  LocalRead& lr = local_reads_[peer.region_id()];
  if (lr.peer_id != peer.id() || lr.version != version ||
      lr.region.region_epoch().conf_ver() != peer.region().region_epoch().conf_ver()) {
    lr.region = peer.region();
  }
  if (!lr.last_read_ms) lr.last_read_ms = std::make_shared<std::atomic<uint64_t>>(0);
  lr.peer_id = peer.id();
  lr.term = term;
  lr.version = version;
  lr.lease_until_ms = peer.lease.until_ms();
}

void Store::UnpublishLocalRead(uint64_t region_id) {
  {
    std::shared_lock lock(local_mu_);
    if (local_reads_.find(region_id) == local_reads_.end()) return;
  }
  std::unique_lock lock(local_mu_);
  local_reads_.erase(region_id);
}

bool Store::TryLocalRead(const raft_cmdpb::RaftRequestHeader& header, ReadCallback& cb) {
  if (!deps_.config.lease_read || header.peer().store_id() != deps_.store_id) return false;
  ReadResponse resp;
  {
    // The snapshot is taken under the lock: the poller takes the entry away
    // (a transfer, an admin proposal) before what ends the lease leaves it,
    // so a read that found the entry is ordered before that.
    std::shared_lock lock(local_mu_);
    auto it = local_reads_.find(header.region_id());
    if (it == local_reads_.end()) return false;
    const LocalRead& lr = it->second;
    uint64_t now = deps_.clock->NowMs();
    if (lr.peer_id != header.peer().id() || (header.term() != 0 && header.term() != lr.term) ||
        header.region_epoch().version() != lr.version || now >= lr.lease_until_ms) {
      return false;
    }
    lr.last_read_ms->store(now, std::memory_order_relaxed);
    resp.region = lr.region;
    resp.term = lr.term;
    resp.snapshot = std::shared_ptr<storage::Snapshot>(engine_.NewSnapshot());
  }
  cb(std::move(resp));
  return true;
}

bool Store::ReadLocallyLately(uint64_t region_id, uint64_t now) const {
  std::shared_lock lock(local_mu_);
  auto it = local_reads_.find(region_id);
  if (it == local_reads_.end()) return false;
  return it->second.last_read_ms->load(std::memory_order_relaxed) + deps_.config.MaxLeaderLeaseMs() >
         now;
}

void Store::RenewLease(Peer& peer, const LeaseStamp& stamp) {
  if (!deps_.config.lease_read || !peer.IsLeader()) return;
  if (Transferring(peer)) return peer.lease.Expire();
  peer.lease.Renew(stamp);
}

uint64_t Store::ElectionTimeoutMs() const {
  return deps_.config.raft_base_tick_ms * deps_.config.raft_election_ticks;
}

uint64_t Store::ReadRetryAt() const { return deps_.clock->NowMs() + ElectionTimeoutMs(); }

void Store::RetryReads(Peer& peer) {
  // A read's heartbeat round can be lost (dropped messages, a member that
  // left): ask again under a new context rather than wait forever.
  uint64_t now = deps_.clock->NowMs();
  for (auto& r : peer.reads) {
    if (r.index || now < r.retry_at_ms) continue;
    r.ctx = fmt::format("read-{}", next_read_id_++);
    r.retry_at_ms = ReadRetryAt();
    r.lease = StampNow(peer, now);
    if (peer.raft().ReadIndex(r.ctx) != raft::Error::kOk) {
      FailReads(peer);
      return;
    }
    MarkDirty(peer.region_id());
  }
}

void Store::ServeReads(Peer& peer) {
  // Any read whose index is applied, not only the oldest: one whose answer
  // is late must not hold up the others.
  std::shared_ptr<storage::Snapshot> snap;
  for (auto it = peer.reads.begin(); it != peer.reads.end();) {
    if (!it->index || *it->index > peer.applied_index) {
      ++it;
      continue;
    }
    if (peer.region().region_epoch().version() != it->version) {
      // The region split while the read waited: the client's view of its
      // range is stale (served as is, it would take the new end for the
      // old one and miss the keys in between).
      it->cb(ReadError(EpochNotMatchError("the region changed while the read waited",
                                          {peer.region()})));
      it = peer.reads.erase(it);
      continue;
    }
    AnswerRead(peer, it->cb, snap);
    it = peer.reads.erase(it);
  }
}

void Store::AnswerRead(Peer& peer, ReadCallback& cb, std::shared_ptr<storage::Snapshot>& snap) {
  if (!snap) snap = std::shared_ptr<storage::Snapshot>(engine_.NewSnapshot());
  ReadResponse resp;
  resp.snapshot = snap;
  resp.region = peer.region();
  resp.term = peer.raft().raft().term();
  cb(std::move(resp));
}

void Store::FailReads(Peer& peer) {
  for (auto& r : peer.reads) r.cb(ReadError(NotLeaderError(peer.region_id(), peer.LeaderPeer())));
  peer.reads.clear();
}

// ---- Raft messages ----

void Store::HandleRaftMessage(raft_serverpb::RaftMessage& msg) {
  if (msg.to_peer().store_id() != deps_.store_id) {
    logger_->warn("store {} got a message for store {}", deps_.store_id, msg.to_peer().store_id());
    return;
  }
  uint64_t region_id = msg.region_id();
  if (destroying_.count(region_id) > 0) return;  // being destroyed here
  Peer* peer = FindPeer(region_id);
  if (msg.is_tombstone()) {
    // A member of the region says this peer was removed; believe it when its
    // view of the membership is newer than ours.
    if (peer != nullptr && peer->id() == msg.to_peer().id() &&
        (!peer->IsInitialized() ||
         msg.region_epoch().conf_ver() > peer->region().region_epoch().conf_ver())) {
      DestroyPeer(*peer, "a member reports it was removed from the region", &msg.region_epoch());
    }
    return;
  }
  if (peer != nullptr && peer->id() != msg.to_peer().id()) {
    if (msg.to_peer().id() < peer->id()) return;  // for an older replica of ours
    // This store got a new replica of the region: ours is stale. The new
    // one is created by a later message, once the old one is gone.
    DestroyPeer(*peer, fmt::format("replaced by peer {}", msg.to_peer().id()));
    return;
  }
  if (peer == nullptr) {
    if (MaybeGcStaleSender(msg)) return;
    peer = MaybeCreatePeer(msg);
    if (peer == nullptr) return;
  } else if (!peer->IsInitialized() && IsForDestroyedReplica(msg)) {
    // A replica re-added with the id of one destroyed here: a message sent to
    // the old one (say, a heartbeat committing what the old one held) must
    // not reach the new, empty one.
    return;
  }
  const eraftpb::Message& m = msg.message();
  if (m.msg_type() == eraftpb::MsgSnapshot && !AcceptSnapshot(*peer, msg)) return;
  // A removed replica still talking: tell it, and ignore what it says.
  if (peer->IsInitialized() && !IsMember(peer->region(), msg.from_peer().id()) &&
      EpochOlder(msg.region_epoch(), peer->region().region_epoch())) {
    SendTombstone(msg);
    return;
  }
  peer->RememberPeer(msg.from_peer());
  (void)peer->raft().Step(m);
  if (m.msg_type() == eraftpb::MsgSnapshot && peer->raft().raft().log().PendingSnapshot()) {
    snapshot_ranges_[region_id] = snapshot_region_;
  }
  MarkDirty(region_id);
}

bool Store::AcceptSnapshot(Peer& peer, const raft_serverpb::RaftMessage& msg) {
  raft_serverpb::RaftSnapshotData data;
  if (!data.ParseFromString(msg.message().snapshot().data()) ||
      SnapshotChecksum(data) != data.checksum()) {
    logger_->warn("region {}: dropping a corrupted snapshot from peer {}", msg.region_id(),
                  msg.from_peer().id());
    return false;
  }
  const metapb::Region& region = data.region();
  if (peer.IsInitialized() && EpochOlder(region.region_epoch(), peer.region().region_epoch()))
    return false;
  if (Overlaps(region) || OverlapsPendingSnapshot(region)) {
    logger_->info("region {}: dropping a snapshot that overlaps another region here", region.id());
    return false;
  }
  snapshot_region_ = region;
  return true;
}

bool Store::OverlapsPendingSnapshot(const metapb::Region& region) {
  // Snapshots accepted but not applied yet are not in ranges_ (they are
  // applied together at the end of the round): check them too.
  for (auto it = snapshot_ranges_.begin(); it != snapshot_ranges_.end();) {
    Peer* other = FindPeer(it->first);
    if (other == nullptr || !other->raft().raft().log().PendingSnapshot()) {
      it = snapshot_ranges_.erase(it);  // applied, dropped or replaced
      continue;
    }
    const metapb::Region& r = it->second;
    bool disjoint = (!r.end_key().empty() && r.end_key() <= region.start_key()) ||
                    (!region.end_key().empty() && region.end_key() <= r.start_key());
    if (it->first != region.id() && !disjoint) return true;
    ++it;
  }
  return false;
}

bool Store::MaybeGcStaleSender(const raft_serverpb::RaftMessage& msg) {
  auto tomb = tombstones_.find(msg.region_id());
  if (tomb == tombstones_.end()) return false;
  const metapb::Region& t = tomb->second.region;
  // Only a tombstone written when this replica applied its own removal
  // holds the exact membership at its conf_ver (it no longer lists this
  // store); one written on another member's report keeps an older list.
  auto lists = [&t](uint64_t store) {
    for (const auto& p : t.peers())
      if (p.store_id() == store) return true;
    return false;
  };
  uint64_t sender_conf_ver = msg.region_epoch().conf_ver();
  if (lists(deps_.store_id) || lists(msg.from_peer().store_id()) || sender_conf_ver == 0 ||
      sender_conf_ver >= t.region_epoch().conf_ver()) {
    return false;
  }
  // The sender was a member at its (older) conf_ver and its store has no
  // member at the tombstone's: it was removed since, for good (peer ids are
  // never reused). It may have missed that; tell it.
  raft_serverpb::RaftMessage gc;
  gc.set_region_id(msg.region_id());
  *gc.mutable_from_peer() = msg.to_peer();
  *gc.mutable_to_peer() = msg.from_peer();
  *gc.mutable_region_epoch() = t.region_epoch();
  gc.set_is_tombstone(true);
  logger_->debug(
      "region {}: tombstone (conf_ver {}) tells stale peer {} (conf_ver {}) that it was removed",
      msg.region_id(), t.region_epoch().conf_ver(), msg.from_peer().id(), sender_conf_ver);
  deps_.transport->Send(std::move(gc));
  return true;
}

bool Store::IsForDestroyedReplica(const raft_serverpb::RaftMessage& msg) const {
  auto tomb = tombstones_.find(msg.region_id());
  if (tomb == tombstones_.end()) return false;
  // Peer ids are never reused: an id above the destroyed one's is a new
  // replica, whatever the epoch (it may be no newer than the tombstone's,
  // which can carry the conf_ver of the member that reported the removal).
  if (tomb->second.peer_id != 0) return msg.to_peer().id() <= tomb->second.peer_id;
  return !EpochOlder(tomb->second.region.region_epoch(), msg.region_epoch());
}

Peer* Store::MaybeCreatePeer(const raft_serverpb::RaftMessage& msg) {
  switch (msg.message().msg_type()) {
    case eraftpb::MsgAppend:
    case eraftpb::MsgHeartbeat:
    case eraftpb::MsgSnapshot:
    case eraftpb::MsgRequestVote:
    case eraftpb::MsgRequestPreVote:
      break;
    default:
      return nullptr;  // responses and the rest never create a replica
  }
  if (IsForDestroyedReplica(msg)) return nullptr;
  // The apply side may have written the region's state already: a split
  // that creates it here is applied, and its result is on its way to this
  // thread. The message is dropped; the sender will retry.
  auto state = ReadMeta<raft_serverpb::RegionLocalState>(engine_,
                                                          keys::RegionStateKey(msg.region_id()));
  if (state.ok() && state->has_value() && (*state)->state() == raft_serverpb::Normal) {
    logger_->debug("region {}: a message for it arrived before its split was handled here",
                   msg.region_id());
    return nullptr;
  }
  metapb::Region region;
  region.set_id(msg.region_id());
  auto peer = AddPeer(region, msg.to_peer());
  if (!peer.ok()) {
    logger_->error("region {}: cannot create peer: {}", msg.region_id(), peer.status().ToString());
    return nullptr;
  }
  logger_->info(
      "region {}: created peer {} (uninitialized) on a message from {} (conf_ver {}, version {})",
      msg.region_id(), msg.to_peer().id(), msg.from_peer().id(), msg.region_epoch().conf_ver(),
      msg.region_epoch().version());
  return *peer;
}

void Store::SendTombstone(const raft_serverpb::RaftMessage& to_stale) {
  Peer* peer = FindPeer(to_stale.region_id());
  raft_serverpb::RaftMessage gc;
  gc.set_region_id(to_stale.region_id());
  *gc.mutable_from_peer() = to_stale.to_peer();
  *gc.mutable_to_peer() = to_stale.from_peer();
  *gc.mutable_region_epoch() = peer->region().region_epoch();
  gc.set_is_tombstone(true);
  logger_->debug("region {}: peer {} (conf_ver {}) tells peer {} (conf_ver {}) that it was removed",
                 gc.region_id(), gc.from_peer().id(), gc.region_epoch().conf_ver(),
                 gc.to_peer().id(), to_stale.region_epoch().conf_ver());
  deps_.transport->Send(std::move(gc));
}

void Store::SendRaftMessages(Peer& peer, std::vector<eraftpb::Message>& msgs) {
  for (eraftpb::Message& m : msgs) {
    auto to = peer.FindPeer(m.to());
    if (!to) {
      logger_->debug("region {}: no address for peer {}", peer.region_id(), m.to());
      continue;
    }
    if (m.msg_type() == eraftpb::MsgAppend) {
      for (const auto& e : m.entries()) peer.log_bytes_since_compact += e.data().size();
    }
    raft_serverpb::RaftMessage rm;
    rm.set_region_id(peer.region_id());
    *rm.mutable_from_peer() = peer.self();
    *rm.mutable_to_peer() = *to;
    *rm.mutable_region_epoch() = peer.region().region_epoch();
    rm.set_start_key(peer.region().start_key());
    rm.set_end_key(peer.region().end_key());
    *rm.mutable_message() = std::move(m);
    deps_.transport->Send(std::move(rm));
  }
}

// ---- Readies ----

void Store::HandleReadies() {
  struct Item {
    Peer* peer;
    raft::Ready rd;
    std::optional<metapb::Region> old_region;  // set when a snapshot was applied
  };
  std::vector<Item> items;
  storage::WriteBatch wb;
  bool sync = false;
  std::set<uint64_t> dirty;
  dirty.swap(dirty_);
  for (uint64_t id : dirty) {
    Peer* peer = FindPeer(id);
    if (peer == nullptr) continue;
    if (!peer->raft().HasReady()) {
      // An epoch change or the periodic tick may want a report without Raft having work.
      if (peer->heartbeat_due && peer->IsLeader()) ReportRegion(*peer);
      continue;
    }
    // A snapshot replaces what the apply side holds: wait until it has
    // applied everything handed to it (the apply result marks us dirty).
    if (peer->raft().raft().log().PendingSnapshot() && peer->handed_index > peer->applied_index)
      continue;
    // A transfer's TimeoutNow may be among the messages: its target will
    // not wait for the lease to run out.
    if (Transferring(*peer)) {
      peer->lease.Expire();
      UnpublishLocalRead(peer->region_id());
    }
    Item item{peer, peer->raft().GetReady(), std::nullopt};
    raft::Ready& rd = item.rd;
    SendRaftMessages(*peer, rd.messages);
    if (rd.snapshot) {
      item.old_region = peer->region();
      Status s = peer->storage().ApplySnapshot(*rd.snapshot, wb);
      TKV_CHECK(s.ok(), "region {}: a checked snapshot failed to apply: {}", id, s.ToString());
    }
    peer->storage().SaveReadyState(rd.entries, rd.hard_state, wb);
    sync = sync || rd.must_sync;
    items.push_back(std::move(item));
  }
  if (!wb.empty()) {
    // A leader's appends need not wait for its own fsync (Raft thesis
    // §10.2.1): they leave now, and the fsyncs overlap.
    deps_.transport->Flush();
    Status s = engine_.Write(wb, storage::WriteOptions{.sync = sync});
    // Going on would acknowledge what is not durable.
    TKV_CHECK(s.ok(), "store {}: persisting the raft log failed: {}", deps_.store_id, s.ToString());
  }
  for (Item& item : items) {
    Peer& peer = *item.peer;
    raft::Ready& rd = item.rd;
    if (item.old_region) {
      const metapb::Region& region = peer.storage().region();
      peer.SetRegion(region);
      UpdateRange(*item.old_region, region);
      uint64_t index = rd.snapshot->metadata().index();
      peer.applied_index = peer.handed_index = index;
      peer.applied_term = rd.snapshot->metadata().term();
      // A proposal the snapshot covers may have been committed by the group
      // (and then be inside it) or not: its outcome is unknown here.
      while (!peer.proposals.empty() && peer.proposals.front().index <= index) {
        peer.proposals.front().cb(
            WriteResponse{{}, UndeterminedStatus("a snapshot replaced the log here"), {}});
        peer.proposals.pop_front();
      }
      applier_.mailbox().Push(
          RegisterRegion{region, peer.self(), peer.storage().apply_state(), peer.applied_term});
      peer.heartbeat_due = true;
      logger_->info("region {}: applied a snapshot at index {}", peer.region_id(), index);
    }
    SendRaftMessages(peer, rd.persisted_messages);
    if (!rd.committed_entries.empty()) {
      uint64_t last = rd.committed_entries.back().index();
      uint64_t last_term = rd.committed_entries.back().term();
      ApplyTask task{peer.region_id(), std::move(rd.committed_entries), {}};
      // Also those of an older term than the last committed entry: they can
      // no longer commit, and the applier answers them.
      uint64_t term = peer.raft().raft().term();
      while (!peer.proposals.empty() && (peer.proposals.front().index <= last ||
                                         peer.proposals.front().term < last_term)) {
        Proposal& p = peer.proposals.front();
        // Committed by a quorum that received it after it was proposed.
        if (p.index <= last && p.term == term) RenewLease(peer, p.lease);
        task.proposals.push_back(std::move(p));
        peer.proposals.pop_front();
      }
      uint64_t bytes = 0;
      for (const auto& e : task.entries) bytes += e.data().size();
      apply_backlog_bytes_ += bytes;
      peer.apply_backlog.emplace_back(last, bytes);
      // Followers carry out an admin command when they learn it committed.
      if (!deps_.config.raft_broadcast_commit && peer.IsLeader() &&
          peer.last_admin_index > peer.handed_index && peer.last_admin_index <= last) {
        peer.raft().BroadcastCommit();
      }
      peer.handed_index = last;
      applier_.mailbox().Push(std::move(task));
    }
    for (const raft::ReadState& rs : rd.read_states) {
      if (peer.lease_round && peer.lease_round->ctx == rs.request_ctx) {
        RenewLease(peer, peer.lease_round->lease);
        peer.lease_round.reset();
        continue;
      }
      for (auto& r : peer.reads) {
        if (r.ctx != rs.request_ctx) continue;
        r.index = rs.index;
        RenewLease(peer, r.lease);
      }
    }
    if (rd.soft_state) {
      // Won or lost: nothing acknowledged before counts towards a lease.
      peer.lease.Expire();
      peer.lease_round.reset();
      status_dirty_ = true;
      if (rd.soft_state->role == raft::StateRole::kLeader) {
        peer.heartbeat_due = true;
        // What it holds may have come from a snapshot, or from writes made
        // under another leader, whose split checks are not ours: check it
        // at the next split tick (a region loaded before a leadership
        // transfer would otherwise never split).
        peer.CheckSplitSoon();
        logger_->debug("region {}: peer {} became leader at term {}", peer.region_id(), peer.id(),
                       peer.raft().raft().term());
      } else {
        FailReads(peer);  // a read index from a former leader is not to be trusted
      }
    }
    peer.raft().Advance(rd);
    PublishLocalRead(peer);
    ServeReads(peer);
    if (peer.heartbeat_due && peer.IsLeader()) ReportRegion(peer);
    if (peer.raft().HasReady()) MarkDirty(peer.region_id());
  }
  deps_.transport->Flush();
}

// ---- Apply results ----

void Store::HandleApplyResult(ApplyResult& res) {
  if (res.destroyed) {
    auto node = destroying_.extract(res.region_id);
    TKV_CHECK(!node.empty(), "store {}: region {} destroyed on the apply side but not here",
              deps_.store_id, res.region_id);
    FinishDestroy(std::move(node.mapped().peer), node.mapped().tombstone);
    return;
  }
  Peer* peer = FindPeer(res.region_id);
  if (peer == nullptr) {
    // Being destroyed: what the applier applied before it dropped the region
    // still happened. A split among it shrank the region and created the
    // right half here; the destroy must then clear only the left half.
    auto d = destroying_.find(res.region_id);
    if (d == destroying_.end()) return;
    for (ExecResult& r : res.results) {
      auto* sp = std::get_if<SplitResult>(&r);
      if (sp == nullptr) continue;
      Peer& left = *d->second.peer;
      metapb::Region old = left.region();
      left.SetRegion(sp->left);
      UpdateRange(old, sp->left);
      if (sp->right_created) CreateSplitPeer(left, sp->right);
    }
    return;
  }
  peer->applied_index = res.applied_index;
  peer->applied_term = res.applied_term;
  while (!peer->apply_backlog.empty() && peer->apply_backlog.front().first <= res.applied_index) {
    apply_backlog_bytes_ -= peer->apply_backlog.front().second;
    peer->apply_backlog.pop_front();
  }
  if (peer->applied_index <= peer->raft().raft().log().applying())
    peer->raft().AdvanceApply(peer->applied_index);
  peer->size_diff += res.written_bytes;
  peer->approximate_size += res.written_bytes;
  MarkDirty(res.region_id);
  for (ExecResult& r : res.results) {
    if (auto* cp = std::get_if<ChangePeerResult>(&r)) {
      peer->raft().ApplyConfChange(cp->cc);
      peer->SetRegion(cp->region);
      if (cp->cc.change_type() == eraftpb::RemoveNode) peer->ForgetPeer(cp->cc.node_id());
      peer->heartbeat_due = true;
      status_dirty_ = true;
      if (cp->cc.change_type() == eraftpb::RemoveNode && cp->cc.node_id() == peer->id()) {
        DestroyPeer(*peer, "removed from the region");
        return;
      }
    } else if (auto* cl = std::get_if<CompactLogResult>(&r)) {
      if (auto range = peer->storage().OnCompacted(cl->truncated)) {
        gc_inbox_.Push(GcTask{res.region_id, range->first, range->second});
      }
    } else if (auto* sp = std::get_if<SplitResult>(&r)) {
      metapb::Region old = peer->region();
      peer->SetRegion(sp->left);
      UpdateRange(old, sp->left);
      peer->splitting = false;
      peer->heartbeat_due = true;
      peer->approximate_size /= 2;
      // Both halves are checked again at the next split tick: a region that
      // grew far past the limit splits once per check until it fits.
      peer->CheckSplitSoon();
      status_dirty_ = true;
      if (sp->right_created) CreateSplitPeer(*peer, sp->right);
    }
  }
  PublishLocalRead(*peer);
  ServeReads(*peer);
}

void Store::CreateSplitPeer(Peer& left, const metapb::Region& right) {
  auto self = PeerOnStore(right, deps_.store_id);
  TKV_CHECK(self.has_value(), "split region {} has no peer on store {}", right.id(),
            deps_.store_id);
  if (Peer* existing = FindPeer(right.id())) {
    // An uninitialized replica created by the new region's own messages: the
    // split's state takes over, keeping the replica's vote. The apply side
    // kept the vote it found when it applied the split, but the replica may
    // have voted (and persisted a raft state without the split's log) since:
    // write the split's initial log position with the latest vote.
    TKV_CHECK(!existing->IsInitialized(), "region {} already initialized here", right.id());
    const eraftpb::HardState& voted = existing->storage().raft_state().hard_state();
    auto current = ReadMeta<raft_serverpb::RaftLocalState>(engine_, keys::RaftStateKey(right.id()));
    TKV_CHECK(current.ok(), "region {}: {}", right.id(), current.status().ToString());
    const eraftpb::HardState* on_disk = current->has_value() ? &(*current)->hard_state() : nullptr;
    bool vote_lost = on_disk != nullptr && on_disk->term() == voted.term() &&
                     on_disk->vote() == 0 && voted.vote() != 0;
    if (!current->has_value() || (*current)->last_index() < kRaftInitLogIndex ||
        on_disk->term() < voted.term() || vote_lost) {
      raft_serverpb::RaftLocalState rs;
      rs.set_last_index(kRaftInitLogIndex);
      rs.set_last_term(kRaftInitLogTerm);
      auto* hs = rs.mutable_hard_state();
      hs->set_commit(kRaftInitLogIndex);
      uint64_t disk_term = on_disk != nullptr ? on_disk->term() : 0;
      hs->set_term(std::max({voted.term(), disk_term, kRaftInitLogTerm}));
      // The vote of the newest term known: the replica's, or the one on disk.
      if (voted.term() >= disk_term && voted.term() >= kRaftInitLogTerm) {
        hs->set_vote(voted.vote());
      } else if (on_disk != nullptr && disk_term >= kRaftInitLogTerm) {
        hs->set_vote(on_disk->vote());
      }
      storage::WriteBatch wb;
      wb.Put(Cf::kMeta, keys::RaftStateKey(right.id()), rs.SerializeAsString());
      Status s = engine_.Write(wb, storage::WriteOptions{.sync = true});
      TKV_CHECK(s.ok(), "region {}: cannot write its raft state: {}", right.id(), s.ToString());
    }
    FailReads(*existing);
    UnpublishLocalRead(right.id());
    peers_.erase(right.id());
  }
  auto peer = AddPeer(right, *self, /*register_apply=*/false);
  TKV_CHECK(peer.ok(), "region {}: cannot create the split peer: {}", right.id(),
            peer.status().ToString());
  for (const auto& p : left.region().peers()) (*peer)->RememberPeer(p);
  (*peer)->approximate_size = left.approximate_size;
  (*peer)->CheckSplitSoon();  // its size is unknown
  // The left half's leader makes its replica of the right half campaign at
  // once, so that the new region gets a leader without an election timeout.
  if (left.IsLeader()) (void)(*peer)->raft().Campaign();
  MarkDirty(right.id());
  logger_->info("region {} split: [{}, {}) and region {} [{}, {})", left.region_id(),
                left.region().start_key(), left.region().end_key(), right.id(), right.start_key(),
                right.end_key());
}

// ---- Splits ----

void Store::HandleSplitCheck(const SplitCheckIn& in) {
  Peer* peer = FindPeer(in.region_id);
  if (peer == nullptr) return;
  peer->approximate_size = in.size;
  if (in.split_key.empty()) {
    peer->splitting = false;  // small enough: checked again once written to
    return;
  }
  if (!peer->IsLeader() || EpochOlder(in.epoch, peer->region().region_epoch()) ||
      deps_.scheduler == nullptr) {
    return AbandonSplit(*peer, "the region changed during the split check");
  }
  uint64_t region_id = in.region_id;
  metapb::RegionEpoch epoch = in.epoch;
  std::string key = in.split_key;
  deps_.scheduler->AskSplit(peer->region(), [this, region_id, epoch, key](Result<SplitIds> ids) {
    inbox_.Push(SplitIdsIn{region_id, epoch, key, std::move(ids)});
  });
}

void Store::HandleSplitIds(SplitIdsIn& in) {
  Peer* peer = FindPeer(in.region_id);
  if (peer == nullptr) return;
  if (!in.ids.ok() || !peer->IsLeader() || EpochOlder(in.epoch, peer->region().region_epoch())) {
    if (!in.ids.ok())
      logger_->warn("region {}: no ids for a split: {}", in.region_id, in.ids.status().ToString());
    return AbandonSplit(*peer, "no ids, or the region changed while asking for them");
  }
  raft_cmdpb::RaftCmdRequest req;
  auto* h = req.mutable_header();
  h->set_region_id(in.region_id);
  *h->mutable_peer() = peer->self();
  *h->mutable_region_epoch() = in.epoch;
  auto* admin = req.mutable_admin_request();
  admin->set_cmd_type(raft_cmdpb::Split);
  admin->mutable_split()->set_split_key(in.split_key);
  admin->mutable_split()->set_new_region_id(in.ids->new_region_id);
  for (uint64_t id : in.ids->new_peer_ids) admin->mutable_split()->add_new_peer_ids(id);
  if (CheckEpoch(req, peer->region()))
    return AbandonSplit(*peer, "the region changed while asking for ids");
  if (!ProposeNormal(*peer, std::move(req), nullptr))
    AbandonSplit(*peer, "the proposal was refused (a leadership transfer, or too much uncommitted)");
}

void Store::AbandonSplit(Peer& peer, const char* why) {
  logger_->debug("region {}: split attempt abandoned: {}", peer.region_id(), why);
  // The region needed a split that did not happen (its epoch changed, no
  // ids, a lost proposal): it is checked again at the next split tick even if
  // nothing more is written to it.
  peer.splitting = false;
  peer.CheckSplitSoon();
}

namespace {

// Peers the leader considers far behind (as TiKV does): they need a
// snapshot, or have not replicated up to the start of its log. A follower a
// few entries behind under load is not pending.
std::vector<metapb::Peer> PendingPeers(Peer& peer) {
  std::vector<metapb::Peer> out;
  raft::RaftStatus st = peer.raft().GetStatus();
  uint64_t truncated = peer.storage().apply_state().truncated_state().index();
  for (const auto& [id, pr] : st.progress) {
    if (id == peer.id()) continue;
    if (pr.state == raft::ProgressState::kSnapshot || pr.match < truncated) {
      if (auto p = peer.FindPeer(id)) out.push_back(*p);
    }
  }
  return out;
}

}  // namespace

void Store::CheckPendingPeers(Peer& peer) {
  if (PendingPeers(peer).size() != peer.reported_pending) peer.heartbeat_due = true;
}

void Store::ReportRegion(Peer& peer) {
  peer.heartbeat_due = false;
  if (deps_.scheduler == nullptr) return;
  RegionHeartbeat hb;
  hb.region = peer.region();
  hb.leader = peer.self();
  hb.approximate_size = peer.approximate_size;
  hb.pending_peers = PendingPeers(peer);
  peer.reported_pending = hb.pending_peers.size();
  deps_.scheduler->ReportRegion(hb);
}

void Store::HandleSplitRequest(SplitRequestIn in) {
  Peer* peer = FindPeer(in.region_id);
  if (peer == nullptr || !peer->IsLeader() || !peer->IsInitialized() ||
      deps_.scheduler == nullptr || EpochOlder(in.epoch, peer->region().region_epoch())) {
    return;
  }
  uint64_t now = deps_.clock->NowMs();
  if (peer->splitting && now < peer->split_deadline_ms) return;
  peer->splitting = true;
  peer->split_deadline_ms = now + 3 * deps_.config.split_check_tick_ms;
  const metapb::Region& region = peer->region();
  if (!in.split_key.empty()) {
    in.split_key = std::string(TrimToEncodedPrefix(in.split_key));
    if (!KeyInRegion(in.split_key, region) || in.split_key == region.start_key()) {
      peer->splitting = false;
      logger_->warn("region {}: split key not inside the region; ignored", in.region_id);
      return;
    }
    HandleSplitCheck(SplitCheckIn{in.region_id, region.region_epoch(), in.split_key,
                                  peer->approximate_size});
    return;
  }
  gc_inbox_.Push(SplitCheckTask{region, std::shared_ptr<storage::Snapshot>(engine_.NewSnapshot()),
                                /*force=*/true});
}

// ---- Peers and ranges ----

Peer* Store::FindPeer(uint64_t region_id) {
  auto it = peers_.find(region_id);
  return it == peers_.end() ? nullptr : it->second.get();
}

Result<Peer*> Store::AddPeer(const metapb::Region& region, const metapb::Peer& self,
                             bool register_apply, bool restarted) {
  TKV_ASSIGN_OR_RETURN(auto peer, Peer::Create(deps_.store_id, deps_.config, engine_, region, self,
                                               this, logger_, restarted));
  Peer* p = peer.get();
  peers_[region.id()] = std::move(peer);
  if (p->IsInitialized()) {
    ranges_[RangeKey(region)] = region.id();
    if (register_apply) {
      applier_.mailbox().Push(
          RegisterRegion{region, self, p->storage().apply_state(), p->applied_term});
    }
  }
  status_dirty_ = true;
  return p;
}

void Store::DestroyPeer(Peer& peer, const std::string& why, const metapb::RegionEpoch* removed_at) {
  uint64_t region_id = peer.region_id();
  logger_->info("region {}: destroying peer {}: {}", region_id, peer.id(), why);
  FailReads(peer);
  for (auto& p : peer.proposals)
    p.cb(WriteResponse{{}, UndeterminedStatus("the region's peer here was destroyed"), {}});
  peer.proposals.clear();
  // Messages for the destroyed replica are told apart by epoch: one sent
  // before its removal is not newer than the epoch that removed it.
  metapb::Region tomb = peer.region();
  if (removed_at != nullptr && removed_at->conf_ver() > tomb.region_epoch().conf_ver()) {
    tomb.mutable_region_epoch()->set_conf_ver(removed_at->conf_ver());
  }
  apply_backlog_bytes_ -= std::min(apply_backlog_bytes_, [&] {
    uint64_t b = 0;
    for (auto& [i, n] : peer.apply_backlog) b += n;
    return b;
  }());
  dirty_.erase(region_id);
  status_dirty_ = true;
  UnpublishLocalRead(region_id);
  auto node = peers_.extract(region_id);
  if (!peer.IsInitialized()) {
    // Nothing of it on the apply side.
    FinishDestroy(std::move(node.mapped()), tomb);
    return;
  }
  // The applier may still hold entries of this region and write its apply
  // state and data: the region's state is cleared once it has dropped the
  // region and said so. Until then the region is reserved here: its messages
  // are dropped and its range is kept.
  destroying_.emplace(region_id, Destroying{std::move(node.mapped()), std::move(tomb)});
  applier_.mailbox().Push(DestroyRegion{region_id});
}

void Store::FinishDestroy(std::unique_ptr<Peer> peer, const metapb::Region& tomb) {
  uint64_t region_id = peer->region_id();
  storage::WriteBatch wb;
  peer->storage().Destroy(wb, peer->IsInitialized(), tomb, peer->id());
  Status s = engine_.Write(wb, storage::WriteOptions{.sync = true});
  TKV_CHECK(s.ok(), "store {}: destroying region {}: {}", deps_.store_id, region_id, s.ToString());
  if (peer->IsInitialized()) {
    auto it = ranges_.find(RangeKey(peer->region()));
    if (it != ranges_.end() && it->second == region_id) ranges_.erase(it);
  }
  tombstones_[region_id] = Tombstone{tomb, peer->id()};
  status_dirty_ = true;
}

const metapb::Region& Store::RegionOf(uint64_t region_id) const {
  if (auto it = peers_.find(region_id); it != peers_.end()) return it->second->region();
  return destroying_.at(region_id).peer->region();
}

bool Store::Overlaps(const metapb::Region& region) const {
  // Regions with an end above region's start, in order, until one starts at
  // or after region's end.
  for (auto it = ranges_.upper_bound({false, region.start_key()}); it != ranges_.end(); ++it) {
    if (it->second == region.id()) continue;
    const metapb::Region& other = RegionOf(it->second);
    if (!region.end_key().empty() && other.start_key() >= region.end_key()) break;
    if (!it->first.first && it->first.second == region.start_key())
      continue;  // ends exactly at our start
    return true;
  }
  return false;
}

void Store::UpdateRange(const metapb::Region& old_region, const metapb::Region& region) {
  if (old_region.peers_size() > 0) {
    auto it = ranges_.find(RangeKey(old_region));
    if (it != ranges_.end() && it->second == region.id()) ranges_.erase(it);
  }
  ranges_[RangeKey(region)] = region.id();
  status_dirty_ = true;
}

// ---- Other workers ----

bool Store::RunSnapshotWorkerOnce() {
  std::vector<SnapshotSource> sources = snap_inbox_.Drain(1);
  if (sources.empty()) return false;
  SnapshotSource& src = sources[0];
  raft_serverpb::RaftSnapshotData data;
  *data.mutable_region() = src.region;
  for (Cf cf : storage::kDataCfs) {
    storage::IterOptions opts;
    opts.lower_bound = src.region.start_key();
    if (!src.region.end_key().empty()) opts.upper_bound = src.region.end_key();
    auto it = src.engine_snapshot->NewIterator(cf, opts);
    auto* cf_data = data.add_cfs();
    cf_data->set_cf(std::string(storage::CfName(cf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto* kv = cf_data->add_kvs();
      kv->set_key(it->key().data(), it->key().size());
      kv->set_value(it->value().data(), it->value().size());
    }
    TKV_CHECK(it->status().ok(), "building a snapshot: {}", it->status().ToString());
  }
  data.set_checksum(SnapshotChecksum(data));
  eraftpb::Snapshot snap;
  snap.set_data(data.SerializeAsString());
  auto* meta = snap.mutable_metadata();
  meta->set_index(src.index);
  meta->set_term(src.term);
  *meta->mutable_conf_state() = ConfStateOf(src.region);
  logger_->info("region {}: built a snapshot at index {} ({} bytes)", src.region.id(), src.index,
                snap.data().size());
  inbox_.Push(SnapshotGeneratedIn{src.region.id(), std::move(snap)});
  return true;
}

bool Store::RunGcWorkerOnce() {
  std::vector<GcWork> work = gc_inbox_.Drain(16);
  if (work.empty()) return false;
  storage::WriteBatch wb;
  for (GcWork& w : work) {
    if (auto* gc = std::get_if<GcTask>(&w)) {
      wb.DeleteRange(Cf::kMeta, keys::RaftLogKey(gc->region_id, gc->first),
                     keys::RaftLogKey(gc->region_id, gc->last + 1));
    } else if (auto* sc = std::get_if<SplitCheckTask>(&w)) {
      inbox_.Push(CheckSplit(*sc));
    }
  }
  if (!wb.empty()) {
    Status s = engine_.Write(wb, {});
    if (!s.ok()) logger_->error("store {}: raft log gc: {}", deps_.store_id, s.ToString());
  }
  return true;
}

Store::SplitCheckIn Store::CheckSplit(const SplitCheckTask& task) {
  const metapb::Region& region = task.region;
  storage::IterOptions opts;
  opts.lower_bound = region.start_key();
  if (!region.end_key().empty()) opts.upper_bound = region.end_key();
  uint64_t total = 0, biggest = 0;
  Cf biggest_cf = Cf::kDefault;
  for (Cf cf : storage::kDataCfs) {
    uint64_t bytes = 0;
    auto it = task.snapshot->NewIterator(cf, opts);
    for (it->SeekToFirst(); it->Valid(); it->Next()) bytes += it->key().size() + it->value().size();
    total += bytes;
    if (bytes > biggest) {
      biggest = bytes;
      biggest_cf = cf;
    }
  }
  SplitCheckIn out{region.id(), region.region_epoch(), "", total};
  if ((!task.force && total <= deps_.config.region_max_size) || biggest == 0) return out;
  // Where the biggest family crosses its share of the split size (of half
  // the region, when the split was asked for).
  uint64_t target = task.force ? biggest / 2 : deps_.config.region_split_size * biggest / total;
  uint64_t bytes = 0;
  auto it = task.snapshot->NewIterator(biggest_cf, opts);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    bytes += it->key().size() + it->value().size();
    // Never between two versions of a transactional key (txn/keys.h).
    std::string key(TrimToEncodedPrefix(it->key()));
    if (bytes >= target && key > region.start_key()) {
      out.split_key = std::move(key);
      break;
    }
  }
  return out;
}

// ---- Status ----

void Store::RefreshStatus() {
  std::vector<RegionStatus> out;
  out.reserve(peers_.size());
  for (auto& [id, peer] : peers_) {
    const raft::Raft& r = peer->raft().raft();
    RegionStatus s;
    s.region = peer->region();
    s.peer_id = peer->id();
    s.leader = peer->IsLeader();
    s.term = r.term();
    s.leader_id = r.lead();
    s.commit = r.log().committed();
    s.applied = peer->applied_index;
    s.truncated_index = peer->storage().apply_state().truncated_state().index();
    s.approximate_size = peer->approximate_size;
    out.push_back(std::move(s));
  }
  std::lock_guard lock(status_mu_);
  status_ = std::move(out);
  status_dirty_ = false;
  status_version_.fetch_add(1, std::memory_order_release);
}

std::vector<RegionStatus> Store::Regions() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

}  // namespace tinykv::raftstore
