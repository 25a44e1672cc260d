#include "cluster.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "common/check.h"
#include "raftstore/keys.h"
#include "raftstore/peer_storage.h"

namespace tinykv::cluster {

using raftstore::RegionHeartbeat;
using raftstore::WriteResponse;

namespace {

bool EpochOlder(const metapb::RegionEpoch& a, const metapb::RegionEpoch& b) {
  return a.version() < b.version() || a.conf_ver() < b.conf_ver();
}

bool KeyIn(const std::string& key, const metapb::Region& r) {
  return key >= r.start_key() && (r.end_key().empty() || key < r.end_key());
}

std::shared_ptr<spdlog::logger> TestLogger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    const char* v = std::getenv("TINYKV_TEST_VERBOSE");
    if (v && *v) {
      // TINYKV_TEST_VERBOSE=debug (or trace) for more than the info level.
      auto l = std::make_shared<spdlog::logger>("cluster",
                                                std::make_shared<spdlog::sinks::stderr_sink_mt>());
      l->set_level(spdlog::level::from_str(v) == spdlog::level::off ? spdlog::level::info
                                                                    : spdlog::level::from_str(v));
      return l;
    }
    return std::make_shared<spdlog::logger>("cluster");  // no sinks: silent
  }();
  return logger;
}

}  // namespace

RaftstoreConfig TestRaftstoreConfig() {
  RaftstoreConfig c;
  c.raft_base_tick_ms = 50;
  c.raft_election_ticks = 10;
  c.raft_heartbeat_ticks = 2;
  c.raft_log_gc_tick_ms = 50;
  c.raft_log_gc_count_limit = 1u << 30;  // scenarios set their own
  c.split_check_tick_ms = 100;
  c.region_heartbeat_tick_ms = 100;
  c.region_max_size = 1ull << 40;
  c.region_split_size = 1ull << 40;
  return c;
}

// ---- FakeScheduler ----

void FakeScheduler::AskSplit(const metapb::Region& region,
                             std::function<void(Result<raftstore::SplitIds>)> done) {
  ++ask_split_calls_;
  if (fail_ask_split_ > 0) {
    --fail_ask_split_;
    return done(Status::Unavailable("the scheduler is unreachable (test)"));
  }
  raftstore::SplitIds ids;
  ids.new_region_id = AllocId();
  for (int i = 0; i < region.peers_size(); ++i) ids.new_peer_ids.push_back(AllocId());
  done(std::move(ids));
}

void FakeScheduler::ReportRegion(const RegionHeartbeat& hb) {
  auto it = regions_.find(hb.region.id());
  if (it != regions_.end() &&
      EpochOlder(hb.region.region_epoch(), it->second.region.region_epoch()))
    return;
  regions_[hb.region.id()] = hb;
  // A split's reports may arrive in any order: drop regions the new one covers.
  for (auto other = regions_.begin(); other != regions_.end();) {
    const metapb::Region& o = other->second.region;
    bool overlaps = other->first != hb.region.id() &&
                    (hb.region.end_key().empty() || o.start_key() < hb.region.end_key()) &&
                    (o.end_key().empty() || hb.region.start_key() < o.end_key());
    if (overlaps && EpochOlder(o.region_epoch(), hb.region.region_epoch())) {
      other = regions_.erase(other);
    } else {
      ++other;
    }
  }
}

std::optional<RegionHeartbeat> FakeScheduler::RegionByKey(const std::string& key) const {
  for (const auto& [id, hb] : regions_) {
    if (KeyIn(key, hb.region)) return hb;
  }
  return std::nullopt;
}

std::optional<RegionHeartbeat> FakeScheduler::RegionById(uint64_t id) const {
  auto it = regions_.find(id);
  if (it == regions_.end()) return std::nullopt;
  return it->second;
}

void FakeScheduler::ForgetLeader(uint64_t region_id) {
  auto it = regions_.find(region_id);
  if (it != regions_.end()) it->second.leader.Clear();
}

std::vector<metapb::Region> FakeScheduler::AllRegions() const {
  std::vector<metapb::Region> out;
  for (const auto& [id, hb] : regions_) out.push_back(hb.region);
  return out;
}

// ---- SimNetwork ----

void SimNetwork::Partition(const std::vector<std::set<uint64_t>>& groups) {
  group_of_.clear();
  for (size_t g = 0; g < groups.size(); ++g) {
    for (uint64_t s : groups[g]) group_of_[s] = static_cast<int>(g);
  }
}

bool SimNetwork::Connected(uint64_t a, uint64_t b) const {
  auto ga = group_of_.find(a), gb = group_of_.find(b);
  if (ga == group_of_.end() || gb == group_of_.end()) return true;
  return ga->second == gb->second;
}

void SimNetwork::Send(uint64_t from_store, raft_serverpb::RaftMessage msg) {
  uint64_t to = msg.to_peer().store_id();
  if (!Connected(from_store, to) || rng_.Chance(options_.drop)) return Failed(from_store, msg);
  uint64_t now = cluster_.NowMs();
  uint64_t span = options_.max_delay_ms - options_.min_delay_ms + 1;
  if (rng_.Chance(options_.duplicate)) {
    queue_.push(
        InFlight{now + options_.min_delay_ms + rng_.Uniform(span), seq_++, from_store, msg});
  }
  queue_.push(InFlight{now + options_.min_delay_ms + rng_.Uniform(span), seq_++, from_store,
                       std::move(msg)});
}

void SimNetwork::Failed(uint64_t from_store, const raft_serverpb::RaftMessage& msg) {
  raftstore::Store* s = cluster_.store(from_store);
  if (s == nullptr) return;
  if (msg.message().msg_type() == eraftpb::MsgSnapshot) {
    s->ReportSnapshot(msg.region_id(), msg.to_peer().id(), false);
  } else {
    s->ReportUnreachable(msg.region_id(), msg.to_peer().id());
  }
}

bool SimNetwork::DeliverDue(uint64_t now) {
  bool any = false;
  while (!queue_.empty() && queue_.top().at <= now) {
    InFlight f = std::move(const_cast<InFlight&>(queue_.top()));
    queue_.pop();
    any = true;
    uint64_t to = f.msg.to_peer().store_id();
    raftstore::Store* target = cluster_.store(to);
    if (target == nullptr || !Connected(f.from_store, to)) {
      Failed(f.from_store, f.msg);
      continue;
    }
    bool snapshot = f.msg.message().msg_type() == eraftpb::MsgSnapshot;
    uint64_t region_id = f.msg.region_id(), to_peer = f.msg.to_peer().id();
    target->OnRaftMessage(std::move(f.msg));
    if (snapshot) {
      if (raftstore::Store* sender = cluster_.store(f.from_store))
        sender->ReportSnapshot(region_id, to_peer, true);
    }
  }
  return any;
}

std::optional<uint64_t> SimNetwork::NextDeliveryMs() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.top().at;
}

// ---- Cluster ----

Cluster::Cluster(ClusterOptions options)
    : options_(std::move(options)), rng_(options_.seed), network_(*this, rng_), scheduler_(1000) {
  network_.SetOptions(options_.network);
}

Cluster::~Cluster() {
  // Tearing down a test: pending callbacks are dropped, not called (they may
  // refer to objects of the test that are already gone).
  for (auto& [id, node] : nodes_) node.store.reset();
}

void Cluster::Start() {
  metapb::Region first;
  first.set_id(1);
  first.mutable_region_epoch()->set_conf_ver(1);
  first.mutable_region_epoch()->set_version(1);
  for (int i = 1; i <= options_.stores; ++i) {
    auto* p = first.add_peers();
    p->set_id(i);
    p->set_store_id(i);
  }
  for (uint64_t id = 1; id <= static_cast<uint64_t>(options_.stores); ++id) {
    Node& node = nodes_[id];
    node.engine = std::make_unique<storage::MemEngine>();
    Status s = raftstore::Store::Bootstrap(*node.engine, 1, id, first);
    TKV_CHECK(s.ok(), "{}", s.ToString());
    StartStore(id);
  }
}

void Cluster::StartStore(uint64_t store_id) {
  Node& node = nodes_.at(store_id);
  TKV_CHECK(node.store == nullptr, "store {} is running", store_id);
  node.transport = std::make_unique<SimTransport>(network_, store_id);
  raftstore::StoreDeps deps;
  deps.store_id = store_id;
  deps.config = options_.raftstore;
  deps.engine = node.engine.get();
  deps.transport = node.transport.get();
  deps.scheduler = &scheduler_;
  deps.clock = &clock_;
  deps.logger = TestLogger();
  node.store = std::make_unique<raftstore::Store>(deps);
  node.checked_status_version = 0;
  Status s = node.store->Start();
  TKV_CHECK(s.ok(), "store {}: {}", store_id, s.ToString());
}

void Cluster::StopStore(uint64_t store_id) {
  Node& node = nodes_.at(store_id);
  if (node.store == nullptr) return;
  node.store->Stop();
  node.store.reset();
  node.engine->SimulateCrash();
}

bool Cluster::IsRunning(uint64_t store_id) const { return nodes_.at(store_id).store != nullptr; }

raftstore::Store* Cluster::store(uint64_t store_id) {
  auto it = nodes_.find(store_id);
  return it == nodes_.end() ? nullptr : it->second.store.get();
}

void Cluster::After(uint64_t delay_ms, std::function<void()> fn) {
  timers_.push(Timer{clock_.NowMs() + delay_ms, timer_seq_++, std::move(fn)});
}

void Cluster::Propose(uint64_t store_id, raft_cmdpb::RaftCmdRequest req,
                      raftstore::WriteCallback cb) {
  raftstore::Store* s = store(store_id);
  if (s == nullptr) {
    After(0, [cb = std::move(cb)] {
      cb(WriteResponse{{}, Status::Unavailable("store is down"), {}});
    });
    return;
  }
  s->Propose(std::move(req), std::move(cb));
}

void Cluster::Read(uint64_t store_id, raft_cmdpb::RaftRequestHeader header,
                   raftstore::ReadCallback cb) {
  raftstore::Store* s = store(store_id);
  if (s == nullptr) {
    After(0, [cb = std::move(cb)] {
      cb(raftstore::ReadResponse{{}, Status::Unavailable("store is down"), nullptr, {}, 0});
    });
    return;
  }
  s->Read(std::move(header), std::move(cb));
}

void Cluster::Step() {
  uint64_t now = clock_.NowMs();
  enum class Kind { kPoller, kApplier, kSnapshot, kGc, kNetwork, kTimer };
  std::vector<std::pair<Kind, uint64_t>> runnable;
  for (auto& [id, node] : nodes_) {
    raftstore::Store* s = node.store.get();
    if (s == nullptr) continue;
    if (s->PollerHasWork()) runnable.emplace_back(Kind::kPoller, id);
    if (s->ApplierHasWork()) runnable.emplace_back(Kind::kApplier, id);
    if (s->SnapshotWorkerHasWork()) runnable.emplace_back(Kind::kSnapshot, id);
    if (s->GcWorkerHasWork()) runnable.emplace_back(Kind::kGc, id);
  }
  auto next_msg = network_.NextDeliveryMs();
  if (next_msg && *next_msg <= now) runnable.emplace_back(Kind::kNetwork, 0);
  if (!timers_.empty() && timers_.top().at <= now) runnable.emplace_back(Kind::kTimer, 0);
  if (runnable.empty()) {
    // Nothing to do now: jump to the next event.
    uint64_t next = now + options_.raftstore.raft_base_tick_ms;
    for (auto& [id, node] : nodes_) {
      if (node.store) next = std::min(next, node.store->NextTickMs());
    }
    if (next_msg) next = std::min(next, *next_msg);
    if (!timers_.empty()) next = std::min(next, timers_.top().at);
    clock_.Advance(std::max<uint64_t>(next, now + 1) - now);
    return;
  }
  auto [kind, id] = runnable[rng_.Uniform(runnable.size())];
  switch (kind) {
    case Kind::kPoller:
      store(id)->RunOnce();
      break;
    case Kind::kApplier:
      store(id)->applier().RunOnce();
      break;
    case Kind::kSnapshot:
      store(id)->RunSnapshotWorkerOnce();
      break;
    case Kind::kGc:
      store(id)->RunGcWorkerOnce();
      break;
    case Kind::kNetwork:
      network_.DeliverDue(now);
      break;
    case Kind::kTimer: {
      Timer t = std::move(const_cast<Timer&>(timers_.top()));
      timers_.pop();
      t.fn();
      break;
    }
  }
  if (kind == Kind::kPoller && ++steps_since_check_ >= 1) {
    steps_since_check_ = 0;
    CheckInvariants();
  }
}

bool Cluster::RunUntil(const std::function<bool()>& pred, uint64_t timeout_ms) {
  uint64_t deadline = clock_.NowMs() + timeout_ms;
  while (!pred()) {
    if (clock_.NowMs() > deadline || violation_) return pred();
    Step();
  }
  return true;
}

void Cluster::RunFor(uint64_t ms) {
  uint64_t until = clock_.NowMs() + ms;
  while (clock_.NowMs() < until && !violation_) Step();
}

std::map<uint64_t, std::vector<raftstore::RegionStatus>> Cluster::AllRegions() const {
  std::map<uint64_t, std::vector<raftstore::RegionStatus>> out;
  for (const auto& [id, node] : nodes_) {
    if (node.store) out[id] = node.store->Regions();
  }
  return out;
}

void Cluster::CheckInvariants() {
  if (violation_) return;
  for (auto& [store_id, node] : nodes_) {
    // Only what changed since the last check.
    if (!node.store || node.store->StatusVersion() == node.checked_status_version) continue;
    node.checked_status_version = node.store->StatusVersion();
    std::vector<raftstore::RegionStatus> regions = node.store->Regions();
    std::vector<const metapb::Region*> ranges;
    for (const auto& r : regions) {
      // At most one leader per region and term.
      if (r.leader) {
        auto [it, inserted] = leader_of_.emplace(std::make_pair(r.region.id(), r.term), store_id);
        if (!inserted && it->second != store_id) {
          violation_ = fmt::format("region {} has leaders on stores {} and {} in term {}",
                                   r.region.id(), it->second, store_id, r.term);
          return;
        }
      }
      if (r.region.peers_size() == 0) continue;  // uninitialized
      ranges.push_back(&r.region);
      // Epochs never go back.
      auto key = std::make_pair(store_id, r.region.id());
      auto seen = epoch_seen_.find(key);
      if (seen != epoch_seen_.end() && EpochOlder(r.region.region_epoch(), seen->second)) {
        violation_ = fmt::format("store {} region {}: epoch went back", store_id, r.region.id());
        return;
      }
      epoch_seen_[key] = r.region.region_epoch();
    }
    // Region ranges on a store are disjoint.
    std::sort(ranges.begin(), ranges.end(), [](const metapb::Region* a, const metapb::Region* b) {
      return a->start_key() < b->start_key();
    });
    for (size_t i = 1; i < ranges.size(); ++i) {
      const metapb::Region& prev = *ranges[i - 1];
      if (prev.end_key().empty() || prev.end_key() > ranges[i]->start_key()) {
        violation_ = fmt::format("store {}: regions {} and {} overlap", store_id, prev.id(),
                                 ranges[i]->id());
        return;
      }
    }
  }
}

// ---- SimClient ----

std::optional<SimClient::Route> SimClient::RouteFor(const std::string& key,
                                                    std::optional<uint64_t> region_id) {
  auto hb = region_id ? cluster_.scheduler().RegionById(*region_id)
                      : cluster_.scheduler().RegionByKey(key);
  if (!hb) return std::nullopt;
  Route route{hb->region, hb->leader};
  auto hint = leader_hint_.find(hb->region.id());
  if (hint != leader_hint_.end()) {
    for (const auto& p : hb->region.peers()) {
      if (p.id() == hint->second.id()) route.leader = p;
    }
  }
  if (route.leader.id() == 0) {
    // No known leader: try a random replica; it will name the leader.
    if (hb->region.peers_size() == 0) return std::nullopt;
    route.leader =
        hb->region.peers(static_cast<int>(cluster_.rng().Uniform(hb->region.peers_size())));
  }
  return route;
}

uint64_t SimClient::OnRegionError(const errorpb::Error& e, const Route& route) {
  uint64_t region_id = route.region.id();
  last_error_ = fmt::format("at {} ms, region {} via peer {}: {}", cluster_.NowMs(), region_id,
                            route.leader.id(), e.ShortDebugString());
  if (e.has_not_leader()) {
    if (e.not_leader().has_leader() && e.not_leader().leader().id() != 0) {
      leader_hint_[region_id] = e.not_leader().leader();
      return 1;
    }
    leader_hint_.erase(region_id);
    cluster_.scheduler().ForgetLeader(region_id);
    return 50;
  }
  leader_hint_.erase(region_id);
  if (e.has_server_is_busy()) return std::max<uint64_t>(e.server_is_busy().backoff_ms(), 50);
  return 20;
}

void SimClient::Put(const std::string& key, const std::string& value,
                    std::function<void(Status)> done, const std::string& cf) {
  raft_cmdpb::Request req;
  req.set_cmd_type(raft_cmdpb::Put);
  req.mutable_put()->set_cf(cf);
  req.mutable_put()->set_key(key);
  req.mutable_put()->set_value(value);
  Write(std::move(req), std::move(done), 0);
}

void SimClient::Delete(const std::string& key, std::function<void(Status)> done,
                       const std::string& cf) {
  raft_cmdpb::Request req;
  req.set_cmd_type(raft_cmdpb::Delete);
  req.mutable_delete_()->set_cf(cf);
  req.mutable_delete_()->set_key(key);
  Write(std::move(req), std::move(done), 0);
}

namespace {
constexpr int kMaxAttempts = 2000;
constexpr uint64_t kAttemptTimeoutMs = 3000;
}  // namespace

void SimClient::Write(raft_cmdpb::Request req, std::function<void(Status)> done, int attempt) {
  if (attempt > kMaxAttempts) return done(Status::DeadlineExceeded("too many attempts"));
  const std::string& key =
      req.cmd_type() == raft_cmdpb::Put ? req.put().key() : req.delete_().key();
  auto route = RouteFor(key);
  if (!route) {
    last_error_ = fmt::format("at {} ms: no route to key {}", cluster_.NowMs(), key);
    cluster_.After(50, [this, req, done, attempt] { Write(req, done, attempt + 1); });
    return;
  }
  raft_cmdpb::RaftCmdRequest cmd;
  auto* h = cmd.mutable_header();
  h->set_region_id(route->region.id());
  *h->mutable_peer() = route->leader;
  *h->mutable_region_epoch() = route->region.region_epoch();
  *cmd.add_requests() = req;
  // The first of the callback and the timeout wins; the other is ignored.
  auto finished = std::make_shared<bool>(false);
  cluster_.After(kAttemptTimeoutMs, [this, finished, req, done, attempt, r = *route] {
    if (*finished) return;
    *finished = true;
    last_error_ = fmt::format("at {} ms, write attempt {} to region {} via peer {} timed out",
                              cluster_.NowMs(), attempt, r.region.id(), r.leader.id());
    Write(req, done, attempt + 1);  // idempotent: safe to send again
  });
  Route r = *route;
  cluster_.Propose(
      route->leader.store_id(), std::move(cmd),
      [this, finished, req, done, attempt, r](WriteResponse resp) {
        if (*finished) return;
        *finished = true;
        if (resp.region_error) {
          uint64_t backoff = OnRegionError(*resp.region_error, r);
          if (resp.region_error->has_raft_entry_too_large())
            return done(Status::InvalidArgument("entry too large"));
          cluster_.After(backoff, [this, req, done, attempt] { Write(req, done, attempt + 1); });
          return;
        }
        if (!resp.status.ok()) {
          if (resp.status.code() == Code::kDeadlineExceeded ||
              resp.status.code() == Code::kUnavailable) {
            cluster_.After(50, [this, req, done, attempt] { Write(req, done, attempt + 1); });
            return;
          }
          return done(resp.status);
        }
        done(Status::OK());
      });
}

void SimClient::Get(const std::string& key,
                    std::function<void(Result<std::optional<std::string>>)> done) {
  std::string end = key + std::string(1, '\0');
  Scan(key, end, [key, done](Result<std::vector<std::pair<std::string, std::string>>> r) {
    if (!r.ok()) return done(r.status());
    if (r->empty()) return done(std::optional<std::string>());
    done(std::optional<std::string>((*r)[0].second));
  });
}

void SimClient::Scan(
    const std::string& start, const std::string& end,
    std::function<void(Result<std::vector<std::pair<std::string, std::string>>>)> done) {
  ScanFrom(start, end, {}, std::move(done), 0);
}

void SimClient::ScanFrom(
    std::string start, std::string end, std::vector<std::pair<std::string, std::string>> acc,
    std::function<void(Result<std::vector<std::pair<std::string, std::string>>>)> done,
    int attempt) {
  if (attempt > kMaxAttempts) return done(Status::DeadlineExceeded("too many attempts"));
  auto route = RouteFor(start);
  auto retry = [this, start, end, acc, done, attempt](uint64_t delay) {
    cluster_.After(delay, [this, start, end, acc, done, attempt] {
      ScanFrom(start, end, acc, done, attempt + 1);
    });
  };
  if (!route) {
    last_error_ = fmt::format("at {} ms: no route to key {}", cluster_.NowMs(), start);
    return retry(50);
  }
  raft_cmdpb::RaftRequestHeader h;
  h.set_region_id(route->region.id());
  *h.mutable_peer() = route->leader;
  *h.mutable_region_epoch() = route->region.region_epoch();
  auto finished = std::make_shared<bool>(false);
  cluster_.After(kAttemptTimeoutMs, [this, finished, retry, attempt, r = *route] {
    if (*finished) return;
    *finished = true;
    last_error_ = fmt::format("at {} ms, read attempt {} to region {} via peer {} timed out",
                              cluster_.NowMs(), attempt, r.region.id(), r.leader.id());
    retry(0);
  });
  Route r = *route;
  cluster_.Read(
      route->leader.store_id(), h,
      [this, finished, start, end, acc, done, retry, r](raftstore::ReadResponse resp) mutable {
        if (*finished) return;
        *finished = true;
        if (resp.region_error) return retry(OnRegionError(*resp.region_error, r));
        if (!resp.status.ok()) return retry(50);
        const metapb::Region& region = resp.region;
        if (!KeyIn(start, region)) return retry(20);
        storage::IterOptions opts;
        opts.lower_bound = start;
        std::string upper = region.end_key();
        if (!end.empty() && (upper.empty() || end < upper)) upper = end;
        if (!upper.empty()) opts.upper_bound = upper;
        auto it = resp.snapshot->NewIterator(storage::Cf::kDefault, opts);
        for (it->SeekToFirst(); it->Valid(); it->Next()) acc.emplace_back(it->key(), it->value());
        bool last = region.end_key().empty() || (!end.empty() && end <= region.end_key());
        if (last) return done(std::move(acc));
        std::string next = region.end_key();
        cluster_.After(0, [this, next, end, acc, done] { ScanFrom(next, end, acc, done, 0); });
      });
}

void SimClient::Admin(uint64_t region_id, raft_cmdpb::AdminRequest admin,
                      std::function<void(raftstore::WriteResponse)> done) {
  AdminAttempt(region_id, std::move(admin), std::move(done), 0);
}

void SimClient::AdminAttempt(uint64_t region_id, raft_cmdpb::AdminRequest admin,
                             std::function<void(raftstore::WriteResponse)> done, int attempt) {
  auto retry = [this, region_id, admin, done, attempt](uint64_t delay) {
    cluster_.After(delay, [this, region_id, admin, done, attempt] {
      AdminAttempt(region_id, admin, done, attempt + 1);
    });
  };
  if (attempt > kMaxAttempts)
    return done(WriteResponse{{}, Status::DeadlineExceeded("too many attempts"), {}});
  auto route = RouteFor("", region_id);
  if (!route) {
    last_error_ = fmt::format("at {} ms: no route to region {}", cluster_.NowMs(), region_id);
    return retry(50);
  }
  raft_cmdpb::RaftCmdRequest cmd;
  auto* h = cmd.mutable_header();
  h->set_region_id(region_id);
  *h->mutable_peer() = route->leader;
  *h->mutable_region_epoch() = route->region.region_epoch();
  *cmd.mutable_admin_request() = admin;
  auto finished = std::make_shared<bool>(false);
  cluster_.After(kAttemptTimeoutMs, [this, finished, retry, attempt, r = *route] {
    if (*finished) return;
    *finished = true;
    last_error_ = fmt::format("at {} ms, admin attempt {} to region {} via peer {} timed out",
                              cluster_.NowMs(), attempt, r.region.id(), r.leader.id());
    retry(0);
  });
  Route r = *route;
  cluster_.Propose(route->leader.store_id(), std::move(cmd),
                   [this, finished, done, retry, r](WriteResponse resp) {
                     if (*finished) return;
                     *finished = true;
                     if (resp.region_error) return retry(OnRegionError(*resp.region_error, r));
                     if (!resp.status.ok() && (resp.status.code() == Code::kDeadlineExceeded ||
                                               resp.status.code() == Code::kUnavailable)) {
                       return retry(50);
                     }
                     done(std::move(resp));
                   });
}

Status SimClient::MustPut(const std::string& key, const std::string& value, uint64_t timeout_ms) {
  return MustPutCf("", key, value, timeout_ms);
}

Status SimClient::MustDelete(const std::string& key, uint64_t timeout_ms) {
  return MustDeleteCf("", key, timeout_ms);
}

Status SimClient::MustPutCf(const std::string& cf, const std::string& key, const std::string& value,
                            uint64_t timeout_ms) {
  std::optional<Status> result;
  Put(
      key, value, [&](Status s) { result = s; }, cf);
  if (!cluster_.RunUntil([&] { return result.has_value(); }, timeout_ms))
    return Status::DeadlineExceeded("put");
  return *result;
}

Status SimClient::MustDeleteCf(const std::string& cf, const std::string& key, uint64_t timeout_ms) {
  std::optional<Status> result;
  Delete(
      key, [&](Status s) { result = s; }, cf);
  if (!cluster_.RunUntil([&] { return result.has_value(); }, timeout_ms))
    return Status::DeadlineExceeded("delete");
  return *result;
}

Result<std::optional<std::string>> SimClient::MustGet(const std::string& key, uint64_t timeout_ms) {
  std::optional<Result<std::optional<std::string>>> result;
  Get(key, [&](Result<std::optional<std::string>> r) { result = std::move(r); });
  if (!cluster_.RunUntil([&] { return result.has_value(); }, timeout_ms))
    return Status::DeadlineExceeded("get");
  return std::move(*result);
}

Result<std::vector<std::pair<std::string, std::string>>> SimClient::MustScan(
    const std::string& start, const std::string& end, uint64_t timeout_ms) {
  std::optional<Result<std::vector<std::pair<std::string, std::string>>>> result;
  Scan(start, end,
       [&](Result<std::vector<std::pair<std::string, std::string>>> r) { result = std::move(r); });
  if (!cluster_.RunUntil([&] { return result.has_value(); }, timeout_ms))
    return Status::DeadlineExceeded("scan");
  return std::move(*result);
}

// ---- Helpers ----

metapb::Peer MakePeer(uint64_t id, uint64_t store_id) {
  metapb::Peer p;
  p.set_id(id);
  p.set_store_id(store_id);
  return p;
}

uint64_t LeaderStoreOf(Cluster& c, uint64_t region_id) {
  uint64_t best = 0, best_term = 0;
  for (auto& [store, regions] : c.AllRegions()) {
    for (auto& r : regions) {
      if (r.region.id() == region_id && r.leader && r.term >= best_term) {
        best = store;
        best_term = r.term;
      }
    }
  }
  return best;
}

std::string DescribeCluster(Cluster& c) {
  std::string out = fmt::format("at {} ms:\n", c.NowMs());
  for (auto& [store, regions] : c.AllRegions()) {
    for (auto& r : regions) {
      std::string peers;
      for (const auto& p : r.region.peers()) peers += fmt::format(" {}@{}", p.id(), p.store_id());
      out += fmt::format(
          "  store {} region {} peer {}{} term {} leader {} commit {} applied {} epoch {}/{} "
          "peers[{} ]\n",
          store, r.region.id(), r.peer_id, r.leader ? " (leader)" : "", r.term, r.leader_id,
          r.commit, r.applied, r.region.region_epoch().conf_ver(),
          r.region.region_epoch().version(), peers);
    }
  }
  return out;
}

namespace {

std::optional<std::string> EngineGet(Cluster& c, uint64_t store, const std::string& key,
                                     storage::Cf cf) {
  auto v = c.engine(store).Get(cf, key);
  TKV_CHECK(v.ok(), "{}", v.status().ToString());
  return *v;
}

}  // namespace

bool WaitEngineEquals(Cluster& c, uint64_t store, const std::string& key, const std::string& value,
                      storage::Cf cf, uint64_t timeout_ms) {
  return c.RunUntil([&] { return EngineGet(c, store, key, cf) == value; }, timeout_ms);
}

bool WaitEngineNone(Cluster& c, uint64_t store, const std::string& key, storage::Cf cf,
                    uint64_t timeout_ms) {
  return c.RunUntil([&] { return !EngineGet(c, store, key, cf).has_value(); }, timeout_ms);
}

namespace {

template <class T>
std::optional<T> MetaOn(Cluster& c, uint64_t store, const std::string& key) {
  auto s = raftstore::ReadMeta<T>(c.engine(store), key);
  TKV_CHECK(s.ok(), "{}", s.status().ToString());
  return *s;
}

}  // namespace

std::optional<raft_serverpb::RegionLocalState> RegionStateOn(Cluster& c, uint64_t store,
                                                             uint64_t region_id) {
  return MetaOn<raft_serverpb::RegionLocalState>(c, store,
                                                 raftstore::keys::RegionStateKey(region_id));
}

std::optional<raft_serverpb::RaftApplyState> ApplyStateOn(Cluster& c, uint64_t store,
                                                          uint64_t region_id) {
  return MetaOn<raft_serverpb::RaftApplyState>(c, store, raftstore::keys::ApplyStateKey(region_id));
}

bool MustTransferLeader(Cluster& c, SimClient& client, uint64_t region_id, const metapb::Peer& peer,
                        uint64_t timeout_ms) {
  uint64_t deadline = c.NowMs() + timeout_ms;
  while (c.NowMs() < deadline) {
    if (LeaderStoreOf(c, region_id) == peer.store_id()) return true;
    raft_cmdpb::AdminRequest admin;
    admin.set_cmd_type(raft_cmdpb::TransferLeader);
    *admin.mutable_transfer_leader()->mutable_peer() = peer;
    bool done = false;
    client.Admin(region_id, admin, [&](raftstore::WriteResponse) { done = true; });
    c.RunUntil([&] { return done; }, 5'000);
    c.RunUntil([&] { return LeaderStoreOf(c, region_id) == peer.store_id(); }, 1'000);
  }
  return LeaderStoreOf(c, region_id) == peer.store_id();
}

namespace {

bool HasPeer(const raft_serverpb::RegionLocalState& s, const metapb::Peer& peer) {
  if (s.state() != raft_serverpb::Normal) return false;
  for (const auto& p : s.region().peers()) {
    if (p.id() == peer.id()) return true;
  }
  return false;
}

bool ChangePeer(Cluster& c, SimClient& client, uint64_t region_id, eraftpb::ConfChangeType type,
                const metapb::Peer& peer, const std::function<bool()>& observed,
                uint64_t timeout_ms) {
  uint64_t deadline = c.NowMs() + timeout_ms;
  while (c.NowMs() < deadline) {
    raft_cmdpb::AdminRequest admin;
    admin.set_cmd_type(raft_cmdpb::ChangePeer);
    admin.mutable_change_peer()->set_change_type(type);
    *admin.mutable_change_peer()->mutable_peer() = peer;
    bool done = false;
    client.Admin(region_id, admin, [&](raftstore::WriteResponse) { done = true; });
    c.RunUntil([&] { return done; }, 5'000);
    if (c.RunUntil(observed, 2'000)) return true;
  }
  return observed();
}

}  // namespace

bool MustAddPeer(Cluster& c, SimClient& client, uint64_t region_id, const metapb::Peer& peer,
                 uint64_t timeout_ms) {
  return ChangePeer(
      c, client, region_id, eraftpb::AddNode, peer,
      [&] {
        auto s = RegionStateOn(c, peer.store_id(), region_id);
        return s && HasPeer(*s, peer);
      },
      timeout_ms);
}

bool MustRemovePeer(Cluster& c, SimClient& client, uint64_t region_id, const metapb::Peer& peer,
                    uint64_t timeout_ms) {
  return ChangePeer(
      c, client, region_id, eraftpb::RemoveNode, peer,
      [&] {
        auto s = RegionStateOn(c, peer.store_id(), region_id);
        return !s || !HasPeer(*s, peer);
      },
      timeout_ms);
}

}  // namespace tinykv::cluster
