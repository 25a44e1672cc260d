#include "raftstore/apply.h"

#include <fmt/format.h>

#include <set>

#include "common/check.h"
#include "raftstore/keys.h"
#include "raftstore/peer_storage.h"

namespace tinykv::raftstore {

using storage::Cf;

struct Applier::Delegate {
  metapb::Region region;
  metapb::Peer self;
  raft_serverpb::RaftApplyState apply_state;
  uint64_t applied_term = 0;
  std::deque<Proposal> proposals;
  // This peer applied its own removal: later entries are not applied here.
  bool removed = false;
};

struct Applier::Context {
  storage::WriteBatch wb;
  std::vector<std::pair<WriteCallback, WriteResponse>> callbacks;
  std::vector<ApplyResult> results;
  // Regions created by splits in this round (their state is in wb, not yet
  // in the engine).
  std::set<uint64_t> created;
  // A membership change or split is in wb: written with sync, so that a
  // region's epoch never goes back after a crash (other replicas, the
  // scheduler and clients have already seen it).
  bool sync = false;
};

namespace {

std::optional<Cf> DataCf(const std::string& name) {
  if (name.empty() || name == "default") return Cf::kDefault;
  if (name == "lock") return Cf::kLock;
  if (name == "write") return Cf::kWrite;
  return std::nullopt;
}

void PutRegionState(storage::WriteBatch& wb, const metapb::Region& region,
                    raft_serverpb::PeerState state = raft_serverpb::Normal,
                    uint64_t removed_peer_id = 0) {
  raft_serverpb::RegionLocalState s;
  s.set_state(state);
  *s.mutable_region() = region;
  s.set_removed_peer_id(removed_peer_id);
  wb.Put(Cf::kMeta, keys::RegionStateKey(region.id()), s.SerializeAsString());
}

WriteResponse RegionErrorResponse(errorpb::Error e) {
  WriteResponse r;
  r.region_error = std::move(e);
  return r;
}

}  // namespace

Applier::Applier(uint64_t store_id, storage::Engine& engine, ApplySink& sink,
                 std::shared_ptr<spdlog::logger> logger)
    : store_id_(store_id), engine_(engine), sink_(sink), logger_(std::move(logger)) {}

Applier::~Applier() = default;

bool Applier::RunOnce() {
  std::vector<ApplyMsg> msgs = mailbox_.Drain(256);
  if (msgs.empty()) return false;
  Context ctx;
  for (ApplyMsg& msg : msgs) {
    if (auto* task = std::get_if<ApplyTask>(&msg)) {
      HandleTask(*task, ctx);
    } else if (auto* reg = std::get_if<RegisterRegion>(&msg)) {
      auto d = std::make_unique<Delegate>();
      d->region = reg->region;
      d->self = reg->self;
      d->apply_state = reg->apply_state;
      d->applied_term = reg->applied_term;
      auto old = delegates_.find(reg->region.id());
      if (old != delegates_.end()) {
        // Re-registered by a snapshot. A proposal that waited here may have
        // been committed by the group and be inside the snapshot: unknown.
        for (auto& p : old->second->proposals) {
          ctx.callbacks.emplace_back(
              std::move(p.cb),
              WriteResponse{{}, UndeterminedStatus("this peer was replaced by a snapshot"), {}});
        }
      }
      delegates_[reg->region.id()] = std::move(d);
    } else if (auto* gen = std::get_if<GenerateSnapshot>(&msg)) {
      auto it = delegates_.find(gen->region_id);
      if (it == delegates_.end() || it->second->removed) continue;
      Flush(ctx);  // the engine snapshot must include everything applied
      const Delegate& d = *it->second;
      sink_.OnSnapshotSource(
          SnapshotSource{d.region, d.apply_state.applied_index(), d.applied_term,
                         std::shared_ptr<storage::Snapshot>(engine_.NewSnapshot())});
    } else if (auto* destroy = std::get_if<DestroyRegion>(&msg)) {
      auto it = delegates_.find(destroy->region_id);
      if (it != delegates_.end()) {
        for (auto& p : it->second->proposals) {
          ctx.callbacks.emplace_back(
              std::move(p.cb),
              WriteResponse{{}, UndeterminedStatus("the region was removed from this store"), {}});
        }
        delegates_.erase(it);
      }
      ApplyResult done;
      done.region_id = destroy->region_id;
      done.destroyed = true;
      ctx.results.push_back(std::move(done));
    }
  }
  Flush(ctx);
  return true;
}

void Applier::AbortAll(const std::string& why) {
  for (auto& [id, d] : delegates_) {
    for (auto& p : d->proposals) p.cb(WriteResponse{{}, UndeterminedStatus(why), {}});
    d->proposals.clear();
  }
}

void Applier::Flush(Context& ctx) {
  if (!ctx.wb.empty()) {
    Status s = engine_.Write(ctx.wb, storage::WriteOptions{.sync = ctx.sync});
    // Applying cannot go on with a broken engine; the log is durable and a
    // restart applies again.
    TKV_CHECK(s.ok(), "store {}: apply write failed: {}", store_id_, s.ToString());
    ctx.wb.Clear();
  }
  ctx.sync = false;
  ctx.created.clear();
  for (auto& [cb, resp] : ctx.callbacks) cb(std::move(resp));
  ctx.callbacks.clear();
  for (auto& r : ctx.results) sink_.OnApplyResult(std::move(r));
  ctx.results.clear();
}

void Applier::HandleTask(ApplyTask& task, Context& ctx) {
  auto it = delegates_.find(task.region_id);
  if (it == delegates_.end() || it->second->removed) {
    for (auto& p : task.proposals) {
      ctx.callbacks.emplace_back(
          std::move(p.cb),
          WriteResponse{{}, UndeterminedStatus("the region was removed from this store"), {}});
    }
    return;
  }
  Delegate& d = *it->second;
  for (auto& p : task.proposals) d.proposals.push_back(std::move(p));
  ApplyResult result;
  result.region_id = task.region_id;
  for (const eraftpb::Entry& e : task.entries) {
    if (d.removed) break;
    ApplyEntry(d, e, ctx, result);
  }
  ctx.wb.Put(Cf::kMeta, keys::ApplyStateKey(d.region.id()), d.apply_state.SerializeAsString());
  result.applied_index = d.apply_state.applied_index();
  result.applied_term = d.applied_term;
  ctx.results.push_back(std::move(result));
}

WriteCallback Applier::TakeProposal(Delegate& d, const eraftpb::Entry& e, uint64_t proposal_id,
                                    Context& ctx) {
  // Proposals before this index never made it into the log at their index;
  // nor did those of an older term than this entry's (terms never go down
  // along the log, so an older term's entry cannot follow this one).
  while (!d.proposals.empty() &&
         (d.proposals.front().index < e.index() || d.proposals.front().term < e.term())) {
    ctx.callbacks.emplace_back(std::move(d.proposals.front().cb),
                               RegionErrorResponse(StaleCommandError()));
    d.proposals.pop_front();
  }
  if (d.proposals.empty() || d.proposals.front().index != e.index()) return nullptr;
  Proposal p = std::move(d.proposals.front());
  d.proposals.pop_front();
  if (p.term == e.term() && p.id == proposal_id) return std::move(p.cb);
  // Another leader's entry took this index: ours will never be applied.
  ctx.callbacks.emplace_back(std::move(p.cb), RegionErrorResponse(StaleCommandError()));
  return nullptr;
}

void Applier::ApplyEntry(Delegate& d, const eraftpb::Entry& e, Context& ctx, ApplyResult& result) {
  if (e.index() <= d.apply_state.applied_index())
    return;  // already applied (re-sent after a restart)
  TKV_CHECK(e.index() == d.apply_state.applied_index() + 1, "region {}: applying {} after {}",
            d.region.id(), e.index(), d.apply_state.applied_index());
  WriteCallback cb;
  WriteResponse resp;
  if (e.entry_type() == eraftpb::EntryConfChange) {
    eraftpb::ConfChange cc;
    raft_cmdpb::RaftCmdRequest req;
    TKV_CHECK(cc.ParseFromString(e.data()) && req.ParseFromString(cc.context()),
              "region {}: corrupted configuration change at {}", d.region.id(), e.index());
    cb = TakeProposal(d, e, req.header().proposal_id(), ctx);
    resp = ExecChangePeer(d, cc, req, ctx, result);
  } else if (e.data().empty()) {
    cb = TakeProposal(d, e, 0, ctx);  // a leader's empty entry: stales older proposals
  } else {
    raft_cmdpb::RaftCmdRequest req;
    TKV_CHECK(req.ParseFromString(e.data()), "region {}: corrupted entry at {}", d.region.id(),
              e.index());
    cb = TakeProposal(d, e, req.header().proposal_id(), ctx);
    resp = ExecCommand(d, req, ctx, result);
  }
  d.apply_state.set_applied_index(e.index());
  d.applied_term = e.term();
  if (cb) ctx.callbacks.emplace_back(std::move(cb), std::move(resp));
}

WriteResponse Applier::ExecCommand(Delegate& d, const raft_cmdpb::RaftCmdRequest& req, Context& ctx,
                                   ApplyResult& result) {
  // Checked again at apply: the region may have changed since the proposal.
  if (auto err = CheckEpoch(req, d.region)) return RegionErrorResponse(std::move(*err));
  WriteResponse resp;
  if (req.has_admin_request()) {
    const auto& admin = req.admin_request();
    resp.admin.set_cmd_type(admin.cmd_type());
    switch (admin.cmd_type()) {
      case raft_cmdpb::CompactLog: {
        const auto& c = admin.compact_log();
        if (c.compact_index() <= d.apply_state.truncated_state().index() ||
            c.compact_index() > d.apply_state.applied_index()) {
          return resp;  // stale or premature: nothing to do
        }
        d.apply_state.mutable_truncated_state()->set_index(c.compact_index());
        d.apply_state.mutable_truncated_state()->set_term(c.compact_term());
        result.results.push_back(CompactLogResult{d.apply_state.truncated_state()});
        return resp;
      }
      case raft_cmdpb::Split:
        return ExecSplit(d, admin.split(), ctx, result);
      default:
        resp.status = Status::InvalidArgument(fmt::format(
            "admin command {} cannot be applied", raft_cmdpb::AdminCmdType_Name(admin.cmd_type())));
        return resp;
    }
  }
  // All keys are checked before anything is written: a command applies whole or not at all.
  for (const auto& r : req.requests()) {
    const std::string& key = r.cmd_type() == raft_cmdpb::Put ? r.put().key() : r.delete_().key();
    if (!KeyInRegion(key, d.region)) return RegionErrorResponse(KeyNotInRegionError(key, d.region));
    const std::string& cf = r.cmd_type() == raft_cmdpb::Put ? r.put().cf() : r.delete_().cf();
    if (!DataCf(cf)) {
      resp.status = Status::InvalidArgument("unknown column family '" + cf + "'");
      return resp;
    }
  }
  for (const auto& r : req.requests()) {
    if (r.cmd_type() == raft_cmdpb::Put) {
      ctx.wb.Put(*DataCf(r.put().cf()), r.put().key(), r.put().value());
      result.written_bytes += r.put().key().size() + r.put().value().size();
    } else if (r.cmd_type() == raft_cmdpb::Delete) {
      ctx.wb.Delete(*DataCf(r.delete_().cf()), r.delete_().key());
      result.written_bytes += r.delete_().key().size();
    }
  }
  return resp;
}

WriteResponse Applier::ExecChangePeer(Delegate& d, const eraftpb::ConfChange& cc,
                                      const raft_cmdpb::RaftCmdRequest& req, Context& ctx,
                                      ApplyResult& result) {
  if (auto err = CheckEpoch(req, d.region)) return RegionErrorResponse(std::move(*err));
  // Refused the same way on every replica, and Raft is not told about it.
  if (Status s = CheckChangePeer(req.admin_request().change_peer(), d.region); !s.ok()) {
    return WriteResponse{{}, std::move(s), {}};
  }
  const metapb::Peer& target = req.admin_request().change_peer().peer();
  metapb::Region region = d.region;
  auto* peers = region.mutable_peers();
  auto it = std::find_if(peers->begin(), peers->end(),
                         [&](const metapb::Peer& p) { return p.id() == target.id(); });
  bool changed = false;
  switch (cc.change_type()) {
    case eraftpb::AddNode:
      if (it == peers->end()) {
        metapb::Peer p = target;
        p.set_role(metapb::Voter);
        *peers->Add() = p;
        changed = true;
      } else if (it->role() == metapb::Learner) {
        it->set_role(metapb::Voter);
        changed = true;
      }
      break;
    case eraftpb::AddLearnerNode:
      if (it == peers->end()) {
        metapb::Peer p = target;
        p.set_role(metapb::Learner);
        *peers->Add() = p;
        changed = true;
      }
      break;
    case eraftpb::RemoveNode:
      if (it != peers->end()) {
        peers->erase(it);
        changed = true;
        if (target.id() == d.self.id()) d.removed = true;
      }
      break;
    default:
      break;
  }
  if (changed) {
    region.mutable_region_epoch()->set_conf_ver(region.region_epoch().conf_ver() + 1);
    // Removing this replica marks it Tombstone in the same write: a crash
    // before the store destroys it leaves a region state that says so, and
    // the restart finishes the job.
    PutRegionState(ctx.wb, region, d.removed ? raft_serverpb::Tombstone : raft_serverpb::Normal,
                   d.removed ? d.self.id() : 0);
    ctx.sync = true;
    d.region = region;
  }
  // Reported even when nothing changed: Raft's own membership follows the
  // same rules and ignores the duplicate too.
  result.results.push_back(ChangePeerResult{cc, region});
  WriteResponse resp;
  resp.admin.set_cmd_type(raft_cmdpb::ChangePeer);
  *resp.admin.add_regions() = region;
  return resp;
}

WriteResponse Applier::ExecSplit(Delegate& d, const raft_cmdpb::SplitRequest& split, Context& ctx,
                                 ApplyResult& result) {
  WriteResponse resp;
  resp.admin.set_cmd_type(raft_cmdpb::Split);
  const std::string& key = split.split_key();
  if (key.empty() || key <= d.region.start_key() || !KeyInRegion(key, d.region)) {
    return RegionErrorResponse(KeyNotInRegionError(key, d.region));
  }
  if (static_cast<int>(split.new_peer_ids_size()) != d.region.peers_size()) {
    resp.status = Status::InvalidArgument(fmt::format(
        "split needs {} new peer ids, got {}", d.region.peers_size(), split.new_peer_ids_size()));
    return resp;
  }
  metapb::Region left = d.region;
  metapb::Region right = d.region;
  left.mutable_region_epoch()->set_version(left.region_epoch().version() + 1);
  right.mutable_region_epoch()->set_version(left.region_epoch().version());
  left.set_end_key(key);
  right.set_start_key(key);
  right.set_id(split.new_region_id());
  for (int i = 0; i < right.peers_size(); ++i)
    right.mutable_peers(i)->set_id(split.new_peer_ids(i));
  PutRegionState(ctx.wb, left);
  ctx.sync = true;
  // The right region may already exist here (created by a snapshot from its
  // own group, which moved on): its newer state must not be overwritten.
  bool exists = delegates_.count(right.id()) || ctx.created.count(right.id());
  if (!exists) {
    auto state = engine_.Get(Cf::kMeta, keys::RegionStateKey(right.id()));
    TKV_CHECK(state.ok(), "store {}: {}", store_id_, state.status().ToString());
    exists = state->has_value();
  }
  if (!exists) {
    // An uninitialized peer of the new region (created here by its group's
    // messages) may have persisted a vote: keep it, or this store could vote
    // twice in one term.
    auto voted = ReadMeta<raft_serverpb::RaftLocalState>(engine_, keys::RaftStateKey(right.id()));
    TKV_CHECK(voted.ok(), "store {}: {}", store_id_, voted.status().ToString());
    std::optional<eraftpb::HardState> hs;
    if (voted->has_value()) hs = (*voted)->hard_state();
    PeerStorage::WriteInitialState(right, ctx.wb, hs);
    ctx.created.insert(right.id());
    auto nd = std::make_unique<Delegate>();
    nd->region = right;
    for (const auto& p : right.peers()) {
      if (p.store_id() == store_id_) nd->self = p;
    }
    nd->apply_state.set_applied_index(kRaftInitLogIndex);
    nd->apply_state.mutable_truncated_state()->set_index(kRaftInitLogIndex);
    nd->apply_state.mutable_truncated_state()->set_term(kRaftInitLogTerm);
    nd->applied_term = kRaftInitLogTerm;
    delegates_[right.id()] = std::move(nd);
  }
  d.region = left;
  result.results.push_back(SplitResult{left, right, !exists});
  *resp.admin.add_regions() = left;
  *resp.admin.add_regions() = right;
  return resp;
}

}  // namespace tinykv::raftstore
