#include "raft/raw_node.h"

#include "common/check.h"

namespace tinykv::raft {

namespace {

bool SameHardState(const eraftpb::HardState& a, const eraftpb::HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}

}  // namespace

Result<std::unique_ptr<RawNode>> RawNode::Create(const Config& config, Storage* storage) {
  TKV_RETURN_IF_ERROR(config.Validate());
  return std::unique_ptr<RawNode>(new RawNode(std::make_unique<Raft>(config, storage)));
}

RawNode::RawNode(std::unique_ptr<Raft> raft)
    : raft_(std::move(raft)), prev_soft_(CurrentSoftState()), prev_hard_(raft_->HardState()) {}

void RawNode::Tick() { raft_->Tick(); }

Error RawNode::Campaign() {
  eraftpb::Message m;
  m.set_msg_type(eraftpb::MsgHup);
  return raft_->Step(m);
}

Error RawNode::Propose(std::string data) {
  eraftpb::Message m;
  m.set_msg_type(eraftpb::MsgPropose);
  m.set_from(raft_->id());
  m.add_entries()->set_data(std::move(data));
  return raft_->Step(m);
}

Error RawNode::ProposeConfChange(const eraftpb::ConfChange& cc) {
  eraftpb::Message m;
  m.set_msg_type(eraftpb::MsgPropose);
  m.set_from(raft_->id());
  eraftpb::Entry* e = m.add_entries();
  e->set_entry_type(eraftpb::EntryConfChange);
  e->set_data(cc.SerializeAsString());
  return raft_->Step(m);
}

eraftpb::ConfState RawNode::ApplyConfChange(const eraftpb::ConfChange& cc) {
  return raft_->ApplyConfChange(cc);
}

Error RawNode::Step(const eraftpb::Message& m) {
  if (IsLocalMessage(m.msg_type())) return Error::kStepLocalMessage;
  if (IsResponseMessage(m.msg_type()) && raft_->tracker().Get(m.from()) == nullptr) {
    return Error::kStepPeerNotFound;
  }
  return raft_->Step(m);
}

bool RawNode::HasReady() const {
  if (ready_outstanding_) return false;
  if (!(CurrentSoftState() == prev_soft_)) return true;
  if (!SameHardState(raft_->HardState(), prev_hard_)) return true;
  const RaftLog& log = raft_->log();
  return log.PendingSnapshot().has_value() || !log.UnstableEntries().empty() ||
         log.HasNextCommittedEntries() || raft_->HasMessages() || raft_->HasReadStates();
}

Ready RawNode::GetReady() {
  TKV_CHECK(!ready_outstanding_, "GetReady() before Advance() of the previous Ready");
  Ready rd;
  const RaftLog& log = raft_->log();
  SoftState soft = CurrentSoftState();
  if (!(soft == prev_soft_)) {
    rd.soft_state = soft;
    prev_soft_ = soft;
  }
  eraftpb::HardState hs = raft_->HardState();
  if (!SameHardState(hs, prev_hard_)) {
    rd.must_sync = hs.term() != prev_hard_.term() || hs.vote() != prev_hard_.vote();
    rd.hard_state = hs;
    prev_hard_ = hs;
  }
  rd.entries = log.UnstableEntries();
  if (log.PendingSnapshot()) rd.snapshot = *log.PendingSnapshot();
  rd.must_sync = rd.must_sync || !rd.entries.empty() || rd.snapshot.has_value();
  rd.committed_entries = log.NextCommittedEntries();
  rd.messages = raft_->TakeMessages();
  rd.persisted_messages = raft_->TakeMessagesAfterPersist();
  rd.read_states = raft_->TakeReadStates();
  if (!rd.committed_entries.empty()) {
    uint64_t bytes = 0;
    for (const auto& e : rd.committed_entries) bytes += EntrySize(e);
    raft_->OnApplying(rd.committed_entries.back().index(), bytes);
  }
  ready_outstanding_ = true;
  return rd;
}

void RawNode::Advance(const Ready& rd) {
  TKV_CHECK(ready_outstanding_, "Advance() without an outstanding Ready");
  if (rd.snapshot) raft_->OnSnapshotPersisted(rd.snapshot->metadata().index());
  if (!rd.entries.empty()) raft_->OnPersisted(rd.entries.back().index(), rd.entries.back().term());
  ready_outstanding_ = false;
}

void RawNode::AdvanceApply(uint64_t applied) { raft_->mutable_log().AppliedTo(applied); }

void RawNode::BroadcastCommit() {
  if (raft_->state() == StateRole::kLeader) raft_->BcastAppend();
}

void RawNode::TransferLeader(uint64_t transferee) {
  eraftpb::Message m;
  m.set_msg_type(eraftpb::MsgTransferLeader);
  m.set_from(transferee);
  (void)raft_->Step(m);
}

Error RawNode::ReadIndex(std::string ctx) {
  eraftpb::Message m;
  m.set_msg_type(eraftpb::MsgReadIndex);
  m.set_context(std::move(ctx));
  return raft_->Step(m);
}

void RawNode::ReportUnreachable(uint64_t id) {
  eraftpb::Message m;
  m.set_msg_type(eraftpb::MsgUnreachable);
  m.set_from(id);
  (void)raft_->Step(m);
}

void RawNode::ReportSnapshot(uint64_t id, SnapshotStatus status) {
  eraftpb::Message m;
  m.set_msg_type(eraftpb::MsgSnapStatus);
  m.set_from(id);
  m.set_reject(status == SnapshotStatus::kFailure);
  (void)raft_->Step(m);
}

RaftStatus RawNode::GetStatus() const {
  RaftStatus s;
  s.id = raft_->id();
  s.hard_state = raft_->HardState();
  s.soft_state = CurrentSoftState();
  s.applied = raft_->log().applied();
  s.lead_transferee = raft_->lead_transferee();
  if (raft_->state() == StateRole::kLeader) {
    for (const auto& [id, pr] : raft_->tracker().progress()) {
      s.progress[id] = ProgressStatus{pr.match,
                                      pr.next,
                                      pr.state,
                                      pr.pending_snapshot,
                                      pr.recent_active,
                                      pr.is_learner,
                                      pr.inflights.Count(),
                                      pr.IsPaused()};
    }
  }
  return s;
}

}  // namespace tinykv::raft
