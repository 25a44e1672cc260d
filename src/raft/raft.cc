#include "raft/raft.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "common/check.h"

namespace tinykv::raft {

using eraftpb::Message;
using eraftpb::MessageType;

namespace {

Message Local(MessageType t) {
  Message m;
  m.set_msg_type(t);
  return m;
}

MessageType VoteResponseType(MessageType t) {
  if (t == eraftpb::MsgRequestVote) return eraftpb::MsgRequestVoteResponse;
  if (t == eraftpb::MsgRequestPreVote) return eraftpb::MsgRequestPreVoteResponse;
  TKV_PANIC("not a vote message: {}", eraftpb::MessageType_Name(t));
}

// Messages whose term the sender chooses (a pre-vote asks for a future term).
bool CarriesOwnTerm(MessageType t) {
  return t == eraftpb::MsgRequestVote || t == eraftpb::MsgRequestPreVote ||
         t == eraftpb::MsgRequestVoteResponse || t == eraftpb::MsgRequestPreVoteResponse;
}

}  // namespace

Status Config::Validate() const {
  auto invalid = [](const std::string& m) { return Status::InvalidArgument("raft config: " + m); };
  if (id == kNone) return invalid("id must not be 0");
  if (heartbeat_tick <= 0) return invalid("heartbeat_tick must be greater than 0");
  if (election_tick <= heartbeat_tick)
    return invalid("election_tick must be greater than heartbeat_tick");
  if (max_inflight_msgs == 0) return invalid("max_inflight_msgs must be greater than 0");
  if (read_only_option == ReadOnlyOption::kLeaseBased && !check_quorum) {
    return invalid("lease-based reads need check_quorum");
  }
  if (start_in_lease && !check_quorum) return invalid("start_in_lease needs check_quorum");
  std::set<uint64_t> seen;
  for (uint64_t v : voters) {
    if (v == kNone || !seen.insert(v).second)
      return invalid("voters must be distinct and non-zero");
  }
  for (uint64_t l : learners) {
    if (l == kNone || !seen.insert(l).second) {
      return invalid("learners must be distinct, non-zero and not voters");
    }
  }
  return Status::OK();
}

const char* StateRoleName(StateRole r) {
  switch (r) {
    case StateRole::kFollower:
      return "follower";
    case StateRole::kCandidate:
      return "candidate";
    case StateRole::kLeader:
      return "leader";
    case StateRole::kPreCandidate:
      return "pre-candidate";
  }
  return "?";
}

bool IsLocalMessage(MessageType t) {
  return t == eraftpb::MsgHup || t == eraftpb::MsgBeat || t == eraftpb::MsgPropose ||
         t == eraftpb::MsgUnreachable || t == eraftpb::MsgSnapStatus ||
         t == eraftpb::MsgCheckQuorum;
}

bool IsResponseMessage(MessageType t) {
  return t == eraftpb::MsgAppendResponse || t == eraftpb::MsgRequestVoteResponse ||
         t == eraftpb::MsgHeartbeatResponse || t == eraftpb::MsgUnreachable ||
         t == eraftpb::MsgRequestPreVoteResponse;
}

Raft::Raft(const Config& config, Storage* storage)
    : id_(config.id),
      tag_(config.tag.empty() ? fmt::format("[raft {}]", config.id) : config.tag),
      log_(storage, config.max_committed_size_per_ready == 0 ? kNoLimit
                                                             : config.max_committed_size_per_ready),
      tracker_(config.max_inflight_msgs),
      read_only_option_(config.read_only_option),
      check_quorum_(config.check_quorum),
      broadcast_commit_(config.broadcast_commit),
      pre_vote_(config.pre_vote),
      heartbeat_timeout_(config.heartbeat_tick),
      election_timeout_(config.election_tick),
      max_msg_size_(config.max_size_per_msg),
      max_uncommitted_size_(config.max_uncommitted_size),
      rng_(config.random_seed ^ (config.id * 0x9e3779b97f4a7c15ULL)),
      logger_(config.logger ? config.logger.get() : spdlog::default_logger_raw()) {
  Status valid = config.Validate();
  TKV_CHECK(valid.ok(), "{}", valid.ToString());

  RaftState state = storage->InitialState();
  eraftpb::ConfState cs = state.conf_state;
  if (!config.voters.empty() || !config.learners.empty()) {
    TKV_CHECK(cs.nodes().empty() && cs.learners().empty(),
              "{} cannot take its membership both from Config and from Storage", tag_);
    for (uint64_t v : config.voters) cs.add_nodes(v);
    for (uint64_t l : config.learners) cs.add_learners(l);
  }
  tracker_.Reset(cs, log_.LastIndex() + 1);
  is_learner_ = tracker_.IsLearner(id_);

  const eraftpb::HardState& hs = state.hard_state;
  if (hs.term() != 0 || hs.vote() != 0 || hs.commit() != 0) {
    TKV_CHECK(hs.commit() >= log_.committed() && hs.commit() <= log_.LastIndex(),
              "{} state.commit {} is out of range [{}, {}]", tag_, hs.commit(), log_.committed(),
              log_.LastIndex());
    log_.CommitTo(hs.commit());
    term_ = hs.term();
    vote_ = hs.vote();
  }
  if (config.applied > 0) {
    TKV_CHECK(config.applied <= log_.committed(), "{} applied {} is above committed {}", tag_,
              config.applied, log_.committed());
    log_.ApplyingTo(std::max(config.applied, log_.applying()));
    log_.AppliedTo(config.applied);
  }
  BecomeFollower(term_, kNone);
  start_lease_ = config.start_in_lease;
  logger_->debug(
      "{} new raft: term={} commit={} applied={} last_index={} last_term={} voters={} learners={}",
      tag_, term_, log_.committed(), log_.applied(), log_.LastIndex(), log_.LastTerm(),
      fmt::join(tracker_.voters(), ","), fmt::join(tracker_.learners(), ","));
}

eraftpb::HardState Raft::HardState() const {
  eraftpb::HardState hs;
  hs.set_term(term_);
  hs.set_vote(vote_);
  hs.set_commit(log_.committed());
  return hs;
}

bool Raft::Promotable() const {
  const Progress* pr = tracker_.Get(id_);
  return pr != nullptr && !pr->is_learner && !log_.PendingSnapshot();
}

std::vector<Message> Raft::TakeMessages() { return std::exchange(msgs_, {}); }
std::vector<Message> Raft::TakeMessagesAfterPersist() {
  return std::exchange(msgs_after_persist_, {});
}
std::vector<ReadState> Raft::TakeReadStates() { return std::exchange(read_states_, {}); }

// ---- Sending -------------------------------------------------------------------

void Raft::Send(Message m) {
  if (m.from() == kNone) m.set_from(id_);
  if (CarriesOwnTerm(m.msg_type())) {
    TKV_CHECK(m.term() != 0, "{} term should be set when sending {}", tag_,
              eraftpb::MessageType_Name(m.msg_type()));
  } else {
    TKV_CHECK(m.term() == 0, "{} term should not be set when sending {} (was {})", tag_,
              eraftpb::MessageType_Name(m.msg_type()), m.term());
    // A forwarded read request is answered by whoever is leader; it needs no term.
    if (m.msg_type() != eraftpb::MsgReadIndex) m.set_term(term_);
  }
  // What a leader sends depends on nothing it has yet to persist (its term
  // and vote were made durable before it could win). Everything else, votes
  // and acknowledgements above all, must wait until this node's new entries
  // and hard state are durable.
  (state_ == StateRole::kLeader ? msgs_ : msgs_after_persist_).push_back(std::move(m));
}

bool Raft::MaybeSendAppend(uint64_t to, bool send_if_empty) {
  Progress* pr = tracker_.Get(to);
  if (pr == nullptr || pr->IsPaused()) return false;
  // Nothing new to send: skip reading the log.
  if (!send_if_empty && pr->next > log_.LastIndex()) return false;
  Message m;
  m.set_to(to);
  auto term = log_.Term(pr->next - 1);
  auto entries = log_.Entries(pr->next, max_msg_size_);
  if (entries.has_value() && entries->empty() && !send_if_empty) return false;

  if (!term.has_value() || !entries.has_value()) {
    // The entries the follower needs are compacted: send a snapshot.
    if (!pr->recent_active) {
      logger_->debug("{} not sending snapshot to {}: not recently active", tag_, to);
      return false;
    }
    auto snap = log_.Snapshot();
    if (!snap.has_value()) {
      TKV_CHECK(snap.error() == Error::kSnapshotTemporarilyUnavailable, "{} snapshot: {}", tag_,
                ErrorName(snap.error()));
      logger_->debug("{} snapshot for {} is temporarily unavailable", tag_, to);
      return false;
    }
    TKV_CHECK(snap->metadata().index() != 0, "{} need a non-empty snapshot", tag_);
    uint64_t index = snap->metadata().index();
    m.set_msg_type(eraftpb::MsgSnapshot);
    *m.mutable_snapshot() = std::move(snap).value();
    logger_->debug("{} [first {} commit {}] sends snapshot [index {} term {}] to {} [match {}]",
                   tag_, log_.FirstIndex(), log_.committed(), index, m.snapshot().metadata().term(),
                   to, pr->match);
    pr->BecomeSnapshot(index);
  } else {
    m.set_msg_type(eraftpb::MsgAppend);
    m.set_index(pr->next - 1);
    m.set_log_term(*term);
    m.set_commit(log_.committed());
    for (auto& e : *entries) *m.add_entries() = std::move(e);
    if (m.entries_size() > 0) {
      switch (pr->state) {
        case ProgressState::kReplicate: {
          uint64_t last = m.entries(m.entries_size() - 1).index();
          pr->OptimisticUpdate(last);
          pr->inflights.Add(last);
          break;
        }
        case ProgressState::kProbe:
          pr->probe_sent = true;
          break;
        case ProgressState::kSnapshot:
          TKV_PANIC("{} sending append to {} in snapshot state", tag_, to);
      }
    }
  }
  Send(std::move(m));
  return true;
}

void Raft::SendHeartbeat(uint64_t to, const std::string& ctx) {
  // Never tell a follower to commit beyond what it is known to hold.
  const Progress* pr = tracker_.Get(to);
  Message m;
  m.set_to(to);
  m.set_msg_type(eraftpb::MsgHeartbeat);
  m.set_commit(std::min(pr->match, log_.committed()));
  m.set_context(ctx);
  Send(std::move(m));
}

void Raft::SendTimeoutNow(uint64_t to) {
  Message m;
  m.set_to(to);
  m.set_msg_type(eraftpb::MsgTimeoutNow);
  Send(std::move(m));
}

void Raft::BcastAppend() {
  for (auto& [id, pr] : tracker_.progress()) {
    if (id != id_) SendAppend(id);
  }
}

void Raft::BcastHeartbeat() { BcastHeartbeatWithCtx(read_only_.LastPendingContext()); }

void Raft::BcastHeartbeatWithCtx(const std::string& ctx) {
  for (auto& [id, pr] : tracker_.progress()) {
    if (id != id_) SendHeartbeat(id, ctx);
  }
}

// ---- State transitions ---------------------------------------------------------

void Raft::Reset(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNone;
  }
  lead_ = kNone;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  start_lease_ = false;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  tracker_.ResetVotes();
  // Nothing is known about the other members in a new term; this node holds
  // what it has persisted.
  tracker_.ResetProgress(log_.LastIndex() + 1, id_, log_.persisted());
  pending_conf_index_ = 0;
  uncommitted_size_ = 0;
  read_only_.Reset();
  pending_read_index_messages_.clear();
}

void Raft::ResetRandomizedElectionTimeout() {
  randomized_election_timeout_ =
      election_timeout_ + static_cast<int>(rng_.Uniform(election_timeout_));
}

void Raft::BecomeFollower(uint64_t term, uint64_t lead) {
  Reset(term);
  lead_ = lead;
  state_ = StateRole::kFollower;
  logger_->debug("{} became follower at term {} (leader {})", tag_, term_, lead_);
}

void Raft::BecomeCandidate() {
  TKV_CHECK(state_ != StateRole::kLeader, "{} invalid transition [leader -> candidate]", tag_);
  Reset(term_ + 1);
  vote_ = id_;
  state_ = StateRole::kCandidate;
  logger_->debug("{} became candidate at term {}", tag_, term_);
}

void Raft::BecomePreCandidate() {
  TKV_CHECK(state_ != StateRole::kLeader, "{} invalid transition [leader -> pre-candidate]", tag_);
  // Neither the term nor the vote changes: a pre-election is only a poll.
  tracker_.ResetVotes();
  lead_ = kNone;
  start_lease_ = false;
  state_ = StateRole::kPreCandidate;
  logger_->debug("{} became pre-candidate at term {}", tag_, term_);
}

void Raft::BecomeLeader() {
  TKV_CHECK(state_ != StateRole::kFollower, "{} invalid transition [follower -> leader]", tag_);
  Reset(term_);
  lead_ = id_;
  state_ = StateRole::kLeader;
  if (Progress* self = tracker_.Get(id_)) self->BecomeReplicate();
  // No membership change until everything before this term is applied: a
  // change the old leader left uncommitted must settle first.
  pending_conf_index_ = log_.LastIndex();
  // An empty entry of the new term: committing it commits everything before
  // it (§5.4.2) and lets ReadIndex serve.
  TKV_CHECK(AppendEntries({eraftpb::Entry()}), "{} empty entry was dropped", tag_);
  logger_->info("{} became leader at term {}", tag_, term_);
}

// ---- Ticks ---------------------------------------------------------------------

void Raft::Tick() {
  if (state_ == StateRole::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

void Raft::TickElection() {
  ++election_elapsed_;
  if (election_elapsed_ >= election_timeout_) start_lease_ = false;
  if (Promotable() && PastElectionTimeout()) {
    election_elapsed_ = 0;
    (void)Step(Local(eraftpb::MsgHup));
  }
}

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= election_timeout_) {
    election_elapsed_ = 0;
    if (check_quorum_) (void)Step(Local(eraftpb::MsgCheckQuorum));
    // A transfer that did not finish within an election timeout is abandoned.
    if (state_ == StateRole::kLeader && lead_transferee_ != kNone) AbortLeaderTransfer();
  }
  if (state_ != StateRole::kLeader) return;
  if (heartbeat_elapsed_ >= heartbeat_timeout_) {
    heartbeat_elapsed_ = 0;
    (void)Step(Local(eraftpb::MsgBeat));
  }
}

// ---- Elections -----------------------------------------------------------------

bool Raft::HasUnappliedConfChanges() const {
  if (log_.applied() >= log_.committed()) return false;
  auto entries =
      log_.Slice(std::max(log_.applied() + 1, log_.FirstIndex()), log_.committed() + 1, kNoLimit);
  if (!entries.has_value()) return false;
  return std::any_of(entries->begin(), entries->end(), [](const eraftpb::Entry& e) {
    return e.entry_type() == eraftpb::EntryConfChange;
  });
}

void Raft::Hup(CampaignType t) {
  if (state_ == StateRole::kLeader) {
    logger_->debug("{} ignoring MsgHup because already leader", tag_);
    return;
  }
  if (!Promotable()) {
    logger_->warn("{} is unpromotable and can not campaign", tag_);
    return;
  }
  // The membership it would campaign with may be about to change.
  if (HasUnappliedConfChanges()) {
    logger_->warn("{} cannot campaign at term {}: configuration changes are pending apply", tag_,
                  term_);
    return;
  }
  logger_->debug("{} is starting a new election at term {}", tag_, term_);
  Campaign(t);
}

void Raft::Campaign(CampaignType t) {
  uint64_t term;
  MessageType vote_msg;
  if (t == CampaignType::kPreElection) {
    BecomePreCandidate();
    vote_msg = eraftpb::MsgRequestPreVote;
    term = term_ + 1;  // the term it would campaign in
  } else {
    BecomeCandidate();
    vote_msg = eraftpb::MsgRequestVote;
    term = term_;
  }
  if (Poll(id_, VoteResponseType(vote_msg), true) == VoteResult::kWon) {
    // A single-voter group wins at once.
    if (t == CampaignType::kPreElection) {
      Campaign(CampaignType::kElection);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (uint64_t id : tracker_.voters()) {
    if (id == id_) continue;
    Message m;
    m.set_to(id);
    m.set_term(term);
    m.set_msg_type(vote_msg);
    m.set_index(log_.LastIndex());
    m.set_log_term(log_.LastTerm());
    if (t == CampaignType::kTransfer) m.set_context(kCampaignTransfer);
    Send(std::move(m));
  }
}

VoteResult Raft::Poll(uint64_t id, MessageType t, bool granted) {
  logger_->debug("{} received {} {} from {} at term {}", tag_, eraftpb::MessageType_Name(t),
                 granted ? "grant" : "rejection", id, term_);
  tracker_.RecordVote(id, granted);
  return tracker_.TallyVotes();
}

void Raft::HandleVoteRequest(const Message& m) {
  MessageType resp = VoteResponseType(m.msg_type());
  // We can vote for m.from if we already did, or if we have not voted and
  // know no leader in this term; a pre-vote for a later term is always open.
  bool can_vote = vote_ == m.from() || (vote_ == kNone && lead_ == kNone) ||
                  (m.msg_type() == eraftpb::MsgRequestPreVote && m.term() > term_);
  Message r;
  r.set_to(m.from());
  r.set_msg_type(resp);
  if (can_vote && log_.IsUpToDate(m.index(), m.log_term())) {
    logger_->debug("{} [term {}] grants {} to {} at term {}", tag_, term_,
                   eraftpb::MessageType_Name(m.msg_type()), m.from(), m.term());
    // The response carries the term asked for, so that a pre-candidate
    // recognises it; the real vote is at our (now equal) term.
    r.set_term(m.term());
    Send(std::move(r));
    if (m.msg_type() == eraftpb::MsgRequestVote) {
      election_elapsed_ = 0;
      start_lease_ = false;
      vote_ = m.from();
    }
  } else {
    logger_->debug("{} [term {} vote {}] rejects {} from {} at term {}", tag_, term_, vote_,
                   eraftpb::MessageType_Name(m.msg_type()), m.from(), m.term());
    r.set_term(term_);
    r.set_reject(true);
    Send(std::move(r));
  }
}

// ---- Step ----------------------------------------------------------------------

Error Raft::Step(const Message& m) {
  if (m.term() == 0) {
    // Local message.
  } else if (m.term() > term_) {
    if (m.msg_type() == eraftpb::MsgRequestVote || m.msg_type() == eraftpb::MsgRequestPreVote) {
      bool force = m.context() == kCampaignTransfer;
      bool in_lease = check_quorum_ && (lead_ != kNone || start_lease_) &&
                      election_elapsed_ < election_timeout_;
      if (!force && in_lease) {
        // We heard from a live leader within the election timeout: a node
        // that wants a new term is the one that is cut off.
        logger_->debug("{} [term {}] ignored {} from {} at term {}: lease is not expired", tag_,
                       term_, eraftpb::MessageType_Name(m.msg_type()), m.from(), m.term());
        return Error::kOk;
      }
    }
    if (m.msg_type() == eraftpb::MsgRequestPreVote) {
      // Never change our term in response to a pre-vote.
    } else if (m.msg_type() == eraftpb::MsgRequestPreVoteResponse && !m.reject()) {
      // A granted pre-vote carries the term we asked for; the term rises
      // only when the real election starts.
    } else {
      logger_->debug("{} [term {}] received {} with higher term {} from {}", tag_, term_,
                     eraftpb::MessageType_Name(m.msg_type()), m.term(), m.from());
      bool from_leader = m.msg_type() == eraftpb::MsgAppend ||
                         m.msg_type() == eraftpb::MsgHeartbeat ||
                         m.msg_type() == eraftpb::MsgSnapshot;
      BecomeFollower(m.term(), from_leader ? m.from() : kNone);
    }
  } else if (m.term() < term_) {
    if (m.msg_type() == eraftpb::MsgHeartbeat || m.msg_type() == eraftpb::MsgAppend) {
      // A stale leader: tell it our term so that it steps down.
      Message r;
      r.set_to(m.from());
      r.set_msg_type(eraftpb::MsgAppendResponse);
      Send(std::move(r));
    } else if (m.msg_type() == eraftpb::MsgRequestPreVote) {
      // Rejecting with our term lets the pre-candidate catch up to it.
      Message r;
      r.set_to(m.from());
      r.set_term(term_);
      r.set_msg_type(eraftpb::MsgRequestPreVoteResponse);
      r.set_reject(true);
      Send(std::move(r));
    } else {
      logger_->debug("{} [term {}] ignored {} from {} with lower term {}", tag_, term_,
                     eraftpb::MessageType_Name(m.msg_type()), m.from(), m.term());
    }
    return Error::kOk;
  }

  switch (m.msg_type()) {
    case eraftpb::MsgHup:
      Hup(pre_vote_ ? CampaignType::kPreElection : CampaignType::kElection);
      return Error::kOk;
    case eraftpb::MsgRequestVote:
    case eraftpb::MsgRequestPreVote:
      HandleVoteRequest(m);
      return Error::kOk;
    default:
      break;
  }
  switch (state_) {
    case StateRole::kLeader:
      return StepLeader(m);
    case StateRole::kCandidate:
    case StateRole::kPreCandidate:
      return StepCandidate(m);
    case StateRole::kFollower:
      return StepFollower(m);
  }
  return Error::kOk;
}

Error Raft::StepLeader(const Message& m) {
  switch (m.msg_type()) {
    case eraftpb::MsgBeat:
      BcastHeartbeat();
      return Error::kOk;
    case eraftpb::MsgCheckQuorum:
      if (!tracker_.QuorumActive(id_)) {
        logger_->warn("{} stepped down to follower since quorum is not active", tag_);
        BecomeFollower(term_, kNone);
      }
      for (auto& [id, pr] : tracker_.progress()) {
        if (id != id_) pr.recent_active = false;
      }
      return Error::kOk;
    case eraftpb::MsgPropose:
      return LeaderPropose(m);
    case eraftpb::MsgReadIndex:
      LeaderReadIndex(m);
      return Error::kOk;
    default:
      break;
  }

  Progress* pr = tracker_.Get(m.from());
  if (pr == nullptr) {
    logger_->debug("{} no progress available for {}", tag_, m.from());
    return Error::kOk;
  }
  switch (m.msg_type()) {
    case eraftpb::MsgAppendResponse:
      LeaderAppendResponse(m, *pr);
      break;
    case eraftpb::MsgHeartbeatResponse:
      LeaderHeartbeatResponse(m, *pr);
      break;
    case eraftpb::MsgSnapStatus:
      if (pr->state != ProgressState::kSnapshot) break;
      if (m.reject()) pr->pending_snapshot = 0;  // failed: do not assume the follower has it
      pr->BecomeProbe();
      // Done: wait for the follower's append response. Failed: wait for a
      // heartbeat response before trying again.
      pr->probe_sent = true;
      break;
    case eraftpb::MsgUnreachable:
      // Appends in flight were probably lost: go back to probing.
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      break;
    case eraftpb::MsgTransferLeader:
      LeaderTransferLeader(m);
      break;
    default:
      break;
  }
  return Error::kOk;
}

Error Raft::LeaderPropose(const Message& m) {
  TKV_CHECK(m.entries_size() > 0, "{} stepped empty MsgPropose", tag_);
  if (tracker_.Get(id_) == nullptr) {
    // Removed from the group while leader: it must not grow the log.
    return Error::kProposalDropped;
  }
  if (lead_transferee_ != kNone) {
    logger_->debug("{} [term {}] transfer leadership to {} is in progress; dropping proposal", tag_,
                   term_, lead_transferee_);
    return Error::kProposalDropped;
  }
  std::vector<eraftpb::Entry> entries(m.entries().begin(), m.entries().end());
  std::optional<uint64_t> conf_index;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].entry_type() != eraftpb::EntryConfChange) continue;
    if (conf_index || pending_conf_index_ > log_.applied()) {
      logger_->info(
          "{} dropping configuration change: another one (index {}) is not applied yet (applied "
          "{})",
          tag_, pending_conf_index_, log_.applied());
      return Error::kProposalDropped;
    }
    conf_index = log_.LastIndex() + i + 1;
  }
  if (!AppendEntries(std::move(entries))) return Error::kProposalDropped;
  if (conf_index) pending_conf_index_ = *conf_index;
  BcastAppend();
  return Error::kOk;
}

bool Raft::AppendEntries(std::vector<eraftpb::Entry> entries) {
  uint64_t li = log_.LastIndex();
  uint64_t size = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].set_term(term_);
    entries[i].set_index(li + 1 + i);
    size += EntrySize(entries[i]);
  }
  if (max_uncommitted_size_ > 0 && uncommitted_size_ > 0 &&
      uncommitted_size_ + size > max_uncommitted_size_) {
    logger_->debug("{} appending {} bytes would exceed the uncommitted limit {}; dropping proposal",
                   tag_, size, max_uncommitted_size_);
    return false;
  }
  uncommitted_size_ += size;
  log_.Append(entries);
  // The leader counts itself toward the commit quorum only once the driver
  // reports these entries persisted (OnPersisted).
  return true;
}

bool Raft::MaybeCommit() { return log_.MaybeCommit(tracker_.CommittedIndex(), term_); }

void Raft::AfterCommitAdvance() {
  ReleasePendingReadIndexMessages();
  if (broadcast_commit_) BcastAppend();
}

void Raft::LeaderAppendResponse(const Message& m, Progress& pr) {
  pr.recent_active = true;
  if (m.reject()) {
    logger_->debug("{} received append rejection (hint index {} term {}) from {} for index {}",
                   tag_, m.reject_hint(), m.log_term(), m.from(), m.index());
    // Skip back past the follower's divergent term in one step.
    uint64_t next_probe = m.reject_hint();
    if (m.log_term() > 0) next_probe = log_.FindConflictByTerm(m.reject_hint(), m.log_term()).first;
    if (pr.MaybeDecrTo(m.index(), next_probe)) {
      if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
      SendAppend(m.from());
    }
    return;
  }
  bool was_paused = pr.IsPaused();
  if (!pr.MaybeUpdate(m.index())) return;
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.BecomeReplicate();
      break;
    case ProgressState::kSnapshot:
      // The follower applied the snapshot (or caught up otherwise).
      if (pr.match >= pr.pending_snapshot) {
        pr.BecomeProbe();
        pr.BecomeReplicate();
      }
      break;
    case ProgressState::kReplicate:
      pr.inflights.FreeLE(m.index());
      break;
  }
  if (MaybeCommit()) {
    AfterCommitAdvance();
  } else if (was_paused) {
    SendAppend(m.from());
  }
  // Send whatever else the window allows.
  while (MaybeSendAppend(m.from(), false)) {
  }
  if (m.from() == lead_transferee_ && pr.match == log_.LastIndex()) {
    logger_->info("{} sent TimeoutNow to {} after it caught up", tag_, m.from());
    SendTimeoutNow(m.from());
  }
}

void Raft::LeaderHeartbeatResponse(const Message& m, Progress& pr) {
  pr.recent_active = true;
  pr.probe_sent = false;
  // Free one slot so that a full window does not block the follower forever
  // when an append was lost.
  if (pr.state == ProgressState::kReplicate && pr.inflights.Full()) pr.inflights.FreeFirstOne();
  if (pr.match < log_.LastIndex()) SendAppend(m.from());

  if (read_only_option_ != ReadOnlyOption::kSafe || m.context().empty()) return;
  const std::set<uint64_t>* acks = read_only_.RecvAck(m.from(), m.context());
  if (acks == nullptr || !tracker_.HasQuorum(*acks)) return;
  for (auto& req : read_only_.Advance(m.context())) RespondToReadIndex(req.message, req.index);
}

void Raft::LeaderTransferLeader(const Message& m) {
  uint64_t transferee = m.from();
  if (tracker_.IsLearner(transferee)) {
    logger_->debug("{} ignored transfer of leadership to learner {}", tag_, transferee);
    return;
  }
  if (lead_transferee_ != kNone) {
    if (lead_transferee_ == transferee) {
      logger_->debug("{} transfer of leadership to {} is already in progress", tag_, transferee);
      return;
    }
    logger_->info("{} aborted transfer of leadership to {}", tag_, lead_transferee_);
    AbortLeaderTransfer();
  }
  if (transferee == id_) return;  // already leader; cancels any transfer
  logger_->info("{} starts to transfer leadership to {}", tag_, transferee);
  // The transfer must finish within one election timeout.
  election_elapsed_ = 0;
  lead_transferee_ = transferee;
  if (tracker_.Get(transferee)->match == log_.LastIndex()) {
    SendTimeoutNow(transferee);
  } else {
    SendAppend(transferee);  // catch it up first
  }
}

Error Raft::StepCandidate(const Message& m) {
  // Only responses of the kind of election we run count; a pre-vote
  // response that arrives after the real election began is stale.
  MessageType my_response = state_ == StateRole::kPreCandidate ? eraftpb::MsgRequestPreVoteResponse
                                                               : eraftpb::MsgRequestVoteResponse;
  switch (m.msg_type()) {
    case eraftpb::MsgPropose:
      logger_->debug("{} no leader at term {}; dropping proposal", tag_, term_);
      return Error::kProposalDropped;
    case eraftpb::MsgReadIndex:
    case eraftpb::MsgTransferLeader:
      return Error::kProposalDropped;
    case eraftpb::MsgAppend:
      BecomeFollower(m.term(), m.from());
      HandleAppendEntries(m);
      break;
    case eraftpb::MsgHeartbeat:
      BecomeFollower(m.term(), m.from());
      HandleHeartbeat(m);
      break;
    case eraftpb::MsgSnapshot:
      BecomeFollower(m.term(), m.from());
      HandleSnapshot(m);
      break;
    case eraftpb::MsgRequestVoteResponse:
    case eraftpb::MsgRequestPreVoteResponse: {
      if (m.msg_type() != my_response) break;
      switch (Poll(m.from(), m.msg_type(), !m.reject())) {
        case VoteResult::kWon:
          if (state_ == StateRole::kPreCandidate) {
            Campaign(CampaignType::kElection);
          } else {
            BecomeLeader();
            BcastAppend();
          }
          break;
        case VoteResult::kLost:
          // A pre-candidate goes back to follower at its unchanged term.
          BecomeFollower(term_, kNone);
          break;
        case VoteResult::kPending:
          break;
      }
      break;
    }
    default:
      break;  // MsgTimeoutNow and the rest are ignored
  }
  return Error::kOk;
}

Error Raft::StepFollower(const Message& m) {
  switch (m.msg_type()) {
    case eraftpb::MsgPropose:
      // Proposals are not forwarded: the driver proposes on the leader only.
      logger_->debug("{} not leader at term {} (leader {}); dropping proposal", tag_, term_, lead_);
      return Error::kProposalDropped;
    case eraftpb::MsgAppend:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleAppendEntries(m);
      break;
    case eraftpb::MsgHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleHeartbeat(m);
      break;
    case eraftpb::MsgSnapshot:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleSnapshot(m);
      break;
    case eraftpb::MsgTransferLeader:
    case eraftpb::MsgReadIndex: {
      if (lead_ == kNone) {
        logger_->debug("{} no leader at term {}; dropping {}", tag_, term_,
                       eraftpb::MessageType_Name(m.msg_type()));
        return Error::kProposalDropped;
      }
      Message fwd = m;
      fwd.set_to(lead_);
      fwd.set_term(0);
      Send(std::move(fwd));
      break;
    }
    case eraftpb::MsgTimeoutNow:
      logger_->info("{} [term {}] received TimeoutNow from {}: campaigning to take leadership",
                    tag_, term_, m.from());
      // Leader transfer: skip the pre-vote, the leader itself asked.
      Hup(CampaignType::kTransfer);
      break;
    case eraftpb::MsgReadIndexResp:
      read_states_.push_back(ReadState{m.index(), m.context()});
      break;
    default:
      break;
  }
  return Error::kOk;
}

// ---- Follower handlers ---------------------------------------------------------

void Raft::HandleAppendEntries(const Message& m) {
  Message r;
  r.set_to(m.from());
  r.set_msg_type(eraftpb::MsgAppendResponse);
  if (m.index() < log_.committed()) {
    // Everything up to commit is known to match.
    r.set_index(log_.committed());
    Send(std::move(r));
    return;
  }
  std::vector<eraftpb::Entry> entries(m.entries().begin(), m.entries().end());
  if (auto last_new = log_.MaybeAppend(m.index(), m.log_term(), m.commit(), entries)) {
    r.set_index(*last_new);
    Send(std::move(r));
    return;
  }
  // Our log does not have (index, log_term). Hint where it may match: the
  // last index at or below m.index whose term is not above m.log_term.
  auto [hint_index, hint_term] =
      log_.FindConflictByTerm(std::min(m.index(), log_.LastIndex()), m.log_term());
  logger_->debug("{} [log term {} index {}] rejected append [log term {} index {}] from {}", tag_,
                 log_.TermOrZero(m.index()), m.index(), m.log_term(), m.index(), m.from());
  r.set_index(m.index());
  r.set_reject(true);
  r.set_reject_hint(hint_index);
  r.set_log_term(hint_term);
  Send(std::move(r));
}

void Raft::HandleHeartbeat(const Message& m) {
  log_.CommitTo(m.commit());
  Message r;
  r.set_to(m.from());
  r.set_msg_type(eraftpb::MsgHeartbeatResponse);
  r.set_context(m.context());
  Send(std::move(r));
}

void Raft::HandleSnapshot(const Message& m) {
  const auto& meta = m.snapshot().metadata();
  Message r;
  r.set_to(m.from());
  r.set_msg_type(eraftpb::MsgAppendResponse);
  if (Restore(m.snapshot())) {
    logger_->info("{} [commit {}] restored snapshot [index {} term {}]", tag_, log_.committed(),
                  meta.index(), meta.term());
    r.set_index(log_.LastIndex());
  } else {
    logger_->debug("{} [commit {}] ignored snapshot [index {} term {}]", tag_, log_.committed(),
                   meta.index(), meta.term());
    r.set_index(log_.committed());
  }
  Send(std::move(r));
}

bool Raft::Restore(const eraftpb::Snapshot& s) {
  const auto& meta = s.metadata();
  if (meta.index() <= log_.committed()) return false;
  if (state_ != StateRole::kFollower) {
    // Only a leader of the current term sends snapshots, and hearing from one
    // makes us a follower first; anything else is unexpected.
    logger_->warn("{} non-follower attempted to restore snapshot", tag_);
    BecomeFollower(term_ + 1, kNone);
    return false;
  }
  const auto& cs = meta.conf_state();
  bool member = std::find(cs.nodes().begin(), cs.nodes().end(), id_) != cs.nodes().end() ||
                std::find(cs.learners().begin(), cs.learners().end(), id_) != cs.learners().end();
  if (!member) {
    logger_->warn("{} attempted to restore a snapshot whose configuration does not include it",
                  tag_);
    return false;
  }
  if (log_.MatchTerm(meta.index(), meta.term())) {
    // We already have the snapshot's last entry: just move commit forward.
    log_.CommitTo(meta.index());
    return false;
  }
  log_.Restore(s);
  tracker_.Reset(cs, log_.LastIndex() + 1);
  is_learner_ = tracker_.IsLearner(id_);
  return true;
}

// ---- Reads ---------------------------------------------------------------------

bool Raft::CommittedEntryInCurrentTerm() const {
  return log_.TermOrZero(log_.committed()) == term_;
}

void Raft::LeaderReadIndex(const Message& m) {
  // Until an entry of its own term commits, a new leader does not know the
  // latest commit index (Raft thesis §6.4): hold the request.
  if (!CommittedEntryInCurrentTerm()) {
    pending_read_index_messages_.push_back(m);
    return;
  }
  SendReadIndexResponse(m);
}

void Raft::SendReadIndexResponse(const Message& req) {
  bool sole_voter = tracker_.voters().size() == 1 && tracker_.IsVoter(id_);
  if (sole_voter || read_only_option_ == ReadOnlyOption::kLeaseBased) {
    RespondToReadIndex(req, log_.committed());
    return;
  }
  read_only_.AddRequest(log_.committed(), req);
  (void)read_only_.RecvAck(id_, req.context());
  BcastHeartbeatWithCtx(req.context());
}

void Raft::RespondToReadIndex(const Message& req, uint64_t index) {
  if (req.from() == kNone || req.from() == id_) {
    read_states_.push_back(ReadState{index, req.context()});
    return;
  }
  Message r;
  r.set_to(req.from());
  r.set_msg_type(eraftpb::MsgReadIndexResp);
  r.set_index(index);
  r.set_context(req.context());
  Send(std::move(r));
}

void Raft::ReleasePendingReadIndexMessages() {
  if (pending_read_index_messages_.empty() || !CommittedEntryInCurrentTerm()) return;
  for (const Message& m : std::exchange(pending_read_index_messages_, {})) SendReadIndexResponse(m);
}

// ---- Driver feedback -------------------------------------------------------------

void Raft::OnPersisted(uint64_t index, uint64_t term) {
  log_.StableTo(index, term);
  if (state_ != StateRole::kLeader) return;
  Progress* self = tracker_.Get(id_);
  if (self != nullptr && self->MaybeUpdate(log_.persisted()) && MaybeCommit()) AfterCommitAdvance();
}

void Raft::OnSnapshotPersisted(uint64_t index) { log_.StableSnapTo(index); }

void Raft::OnApplying(uint64_t index, uint64_t bytes) {
  log_.ApplyingTo(index);
  if (state_ == StateRole::kLeader) uncommitted_size_ -= std::min(bytes, uncommitted_size_);
}

// ---- Membership ----------------------------------------------------------------

eraftpb::ConfState Raft::ApplyConfChange(const eraftpb::ConfChange& cc) {
  uint64_t id = cc.node_id();
  Progress* pr = tracker_.Get(id);
  switch (cc.change_type()) {
    case eraftpb::AddNode:
      if (pr == nullptr) {
        tracker_.AddMember(id, false, log_.LastIndex() + 1);
      } else if (pr->is_learner) {
        tracker_.PromoteLearner(id);
      }
      break;
    case eraftpb::AddLearnerNode:
      if (pr == nullptr) {
        tracker_.AddMember(id, true, log_.LastIndex() + 1);
      } else if (!pr->is_learner) {
        logger_->warn("{} ignored configuration change: {} is a voter and cannot become a learner",
                      tag_, id);
      }
      break;
    case eraftpb::RemoveNode:
      if (pr != nullptr) tracker_.RemoveMember(id);
      if (lead_transferee_ == id) AbortLeaderTransfer();
      break;
    default:
      logger_->warn("{} ignored unknown configuration change type {}", tag_,
                    static_cast<int>(cc.change_type()));
      break;
  }
  logger_->debug("{} applied configuration change {} {}", tag_,
                 eraftpb::ConfChangeType_Name(cc.change_type()), id);
  is_learner_ = tracker_.IsLearner(id_);
  // A smaller quorum may commit what the old one could not, and may already
  // have confirmed reads waiting for a member that is gone.
  if (state_ == StateRole::kLeader && !tracker_.voters().empty()) {
    if (MaybeCommit()) AfterCommitAdvance();
    std::string ctx = read_only_.NewestWithQuorum(
        [this](const std::set<uint64_t>& acks) { return tracker_.HasQuorum(acks); });
    if (!ctx.empty()) {
      for (auto& req : read_only_.Advance(ctx)) RespondToReadIndex(req.message, req.index);
    }
  }
  return tracker_.ToConfState();
}

}  // namespace tinykv::raft
