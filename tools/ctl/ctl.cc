#include "ctl.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <map>
#include <sstream>
#include <thread>

#include "client/raw_client.h"
#include "client/store_client.h"
#include "client/txn_client.h"
#include "common/bytes.h"

namespace tinykv::ctl {
namespace {

using nlohmann::json;

struct Options {
  std::string addr = "127.0.0.1:20160";
  std::string scheduler;
  bool json = false;
  bool hex = false;
  double timeout_s = 10;
  // Command arguments.
  std::string cf = "default";
  std::string key;
  std::string end;
  std::string value;
  std::string value_file;
  uint32_t limit = 100;
  uint64_t region_id = 0;
  uint64_t store_id = 0;
  int region_limit = 1000;
};

// Where raw commands go: one store, or a cluster through its scheduler.
class RawBackend {
 public:
  virtual ~RawBackend() = default;
  virtual Result<std::optional<std::string>> Get(const std::string& cf, const std::string& key) = 0;
  virtual Status Put(const std::string& cf, const std::string& key, const std::string& value) = 0;
  virtual Status Delete(const std::string& cf, const std::string& key) = 0;
  virtual Result<std::vector<client::KvPair>> Scan(const std::string& cf, const std::string& start,
                                                   const std::string& end, uint32_t limit) = 0;
  virtual Status BatchPut(const std::string& cf, const std::vector<client::KvPair>& pairs) {
    for (const auto& kv : pairs) TKV_RETURN_IF_ERROR(Put(cf, kv.key, kv.value));
    return Status::OK();
  }
  virtual Result<std::vector<client::KvPair>> BatchGet(const std::string& cf,
                                                       const std::vector<std::string>& keys) {
    std::vector<client::KvPair> out;
    for (const auto& k : keys) {
      TKV_ASSIGN_OR_RETURN(auto v, Get(cf, k));
      if (v) out.push_back({k, std::move(*v)});
    }
    return out;
  }
};

class StoreBackend final : public RawBackend {
 public:
  StoreBackend(const std::string& addr, std::chrono::milliseconds timeout)
      : client_(addr, client::StoreClientOptions{.timeout = timeout}) {}
  Result<std::optional<std::string>> Get(const std::string& cf, const std::string& key) override {
    return client_.RawGet(cf, key);
  }
  Status Put(const std::string& cf, const std::string& key, const std::string& value) override {
    return client_.RawPut(cf, key, value);
  }
  Status Delete(const std::string& cf, const std::string& key) override {
    return client_.RawDelete(cf, key);
  }
  Result<std::vector<client::KvPair>> Scan(const std::string& cf, const std::string& start,
                                           const std::string& end, uint32_t limit) override {
    TKV_ASSIGN_OR_RETURN(auto kvs, client_.RawScan(cf, start, limit));
    if (!end.empty()) {
      std::erase_if(kvs, [&](const client::KvPair& kv) { return kv.key >= end; });
    }
    return kvs;
  }

 private:
  client::StoreClient client_;
};

class ClusterBackend final : public RawBackend {
 public:
  explicit ClusterBackend(client::RawClient& c) : c_(c) {}
  Result<std::optional<std::string>> Get(const std::string& cf, const std::string& key) override {
    return c_.Get(key, cf);
  }
  Status Put(const std::string& cf, const std::string& key, const std::string& value) override {
    return c_.Put(key, value, cf);
  }
  Status Delete(const std::string& cf, const std::string& key) override { return c_.Delete(key, cf); }
  Result<std::vector<client::KvPair>> Scan(const std::string& cf, const std::string& start,
                                           const std::string& end, uint32_t limit) override {
    return c_.Scan(start, end, limit, cf);
  }
  Status BatchPut(const std::string& cf, const std::vector<client::KvPair>& pairs) override {
    return c_.BatchPut(pairs, cf);
  }
  Result<std::vector<client::KvPair>> BatchGet(const std::string& cf,
                                               const std::vector<std::string>& keys) override {
    return c_.BatchGet(keys, cf);
  }

 private:
  client::RawClient& c_;
};

// A table for people: columns padded to their widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      for (size_t i = 0; i < r.size(); ++i) {
        if (width.size() <= i) width.push_back(0);
        width[i] = std::max(width[i], r[i].size());
      }
    }
    for (const auto& r : rows_) {
      std::string line;
      for (size_t i = 0; i < r.size(); ++i) {
        line += r[i];
        if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
      }
      out << line << "\n";
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string HumanBytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

class Command {
 public:
  Command(const Options& o, std::ostream& out, std::ostream& err) : o_(o), out_(out), err_(err) {}

  std::string Encode(std::string_view bytes) const {
    return o_.hex ? ToHex(bytes) : EscapeBytes(bytes);
  }

  Result<std::string> Decode(const std::string& text, const char* what) const {
    auto r = o_.hex ? FromHex(text) : UnescapeBytes(text);
    if (!r.ok()) return r.status().WithContext(what);
    return r;
  }

  int Error(const Status& s) {
    err_ << "tinykv-ctl: " << s.ToString() << "\n";
    if (o_.json) {
      out_ << json{{"error", {{"code", std::string(CodeName(s.code()))}, {"message", s.message()}}}}
                  .dump()
           << "\n";
    }
    return kExitError;
  }

  int Ok() {
    out_ << (o_.json ? json{{"ok", true}}.dump() : std::string("OK")) << "\n";
    return kExitOk;
  }

  std::chrono::milliseconds Timeout() const {
    return std::chrono::milliseconds(static_cast<int64_t>(o_.timeout_s * 1000));
  }

  // The cluster client (--scheduler).
  Result<client::RawClient*> Cluster() {
    if (o_.scheduler.empty()) {
      return Status::InvalidArgument("this command needs --scheduler HOST:PORT (a cluster)");
    }
    if (!cluster_) {
      client::RawClientOptions opts;
      opts.timeout = Timeout();
      opts.scheduler.timeout = Timeout();
      TKV_ASSIGN_OR_RETURN(cluster_, client::RawClient::Connect(o_.scheduler, opts));
    }
    return cluster_.get();
  }

  Result<RawBackend*> Backend() {
    if (!backend_) {
      if (!o_.scheduler.empty()) {
        TKV_ASSIGN_OR_RETURN(auto* c, Cluster());
        backend_ = std::make_unique<ClusterBackend>(*c);
      } else {
        backend_ = std::make_unique<StoreBackend>(o_.addr, Timeout());
      }
    }
    return backend_.get();
  }

  // ---- raw ----

  int Get() {
    auto key = Decode(o_.key, "KEY");
    if (!key.ok()) return Error(key.status());
    auto b = Backend();
    if (!b.ok()) return Error(b.status());
    return PrintValue(*key, (*b)->Get(o_.cf, *key));
  }

  // What a get found: the value (exit 0), or nothing (exit 1).
  int PrintValue(const std::string& key, const Result<std::optional<std::string>>& v) {
    if (!v.ok()) return Error(v.status());
    if (!v->has_value()) {
      if (o_.json) out_ << json{{"key", Encode(key)}, {"found", false}}.dump() << "\n";
      err_ << "tinykv-ctl: not found\n";
      return kExitNotFound;
    }
    if (o_.json) {
      out_ << json{{"key", Encode(key)}, {"found", true}, {"value", Encode(**v)}}.dump() << "\n";
    } else {
      out_ << Encode(**v) << "\n";
    }
    return kExitOk;
  }

  int Put(bool value_given) {
    auto key = Decode(o_.key, "KEY");
    if (!key.ok()) return Error(key.status());
    if (value_given == !o_.value_file.empty()) {
      return Error(
          Status::InvalidArgument("give either VALUE or --value-file, not both or neither"));
    }
    std::string value;
    if (!o_.value_file.empty()) {
      auto read = ReadValueFile(o_.value_file);
      if (!read.ok()) return Error(read.status());
      value = std::move(read).value();
    } else {
      auto decoded = Decode(o_.value, "VALUE");
      if (!decoded.ok()) return Error(decoded.status());
      value = std::move(decoded).value();
    }
    auto b = Backend();
    if (!b.ok()) return Error(b.status());
    Status s = (*b)->Put(o_.cf, *key, value);
    return s.ok() ? Ok() : Error(s);
  }

  int Delete() {
    auto key = Decode(o_.key, "KEY");
    if (!key.ok()) return Error(key.status());
    auto b = Backend();
    if (!b.ok()) return Error(b.status());
    Status s = (*b)->Delete(o_.cf, *key);
    return s.ok() ? Ok() : Error(s);
  }

  int Scan() {
    auto start = Decode(o_.key, "START");
    if (!start.ok()) return Error(start.status());
    auto end = Decode(o_.end, "--end");
    if (!end.ok()) return Error(end.status());
    auto b = Backend();
    if (!b.ok()) return Error(b.status());
    auto kvs = (*b)->Scan(o_.cf, *start, *end, o_.limit);
    if (!kvs.ok()) return Error(kvs.status());
    PrintPairs(*kvs);
    return kExitOk;
  }

  // Lines of stdin, KEY<TAB>VALUE (put) or KEY (get), in batches.
  static constexpr size_t kBatchLines = 512;

  int BatchPut() {
    auto b = Backend();
    if (!b.ok()) return Error(b.status());
    std::vector<client::KvPair> batch;
    size_t line_no = 0, written = 0;
    std::string line;
    auto flush = [&]() -> Status {
      if (batch.empty()) return Status::OK();
      Status s = (*b)->BatchPut(o_.cf, batch);
      if (!s.ok()) return s.WithContext(fmt::format("after {} keys written", written));
      written += batch.size();
      batch.clear();
      return Status::OK();
    };
    while (std::getline(std::cin, line)) {
      ++line_no;
      if (line.empty()) continue;
      size_t tab = line.find('\t');
      if (tab == std::string::npos) {
        return Error(Status::InvalidArgument(
            fmt::format("stdin line {}: expected KEY<TAB>VALUE", line_no)));
      }
      auto key = Decode(line.substr(0, tab), "KEY");
      if (!key.ok()) return Error(key.status().WithContext(fmt::format("stdin line {}", line_no)));
      auto value = Decode(line.substr(tab + 1), "VALUE");
      if (!value.ok())
        return Error(value.status().WithContext(fmt::format("stdin line {}", line_no)));
      batch.push_back({std::move(*key), std::move(*value)});
      if (batch.size() >= kBatchLines) {
        if (Status s = flush(); !s.ok()) return Error(s);
      }
    }
    if (Status s = flush(); !s.ok()) return Error(s);
    if (o_.json) {
      out_ << json{{"ok", true}, {"written", written}}.dump() << "\n";
    } else {
      out_ << "OK " << written << " keys\n";
    }
    return kExitOk;
  }

  int BatchGet() {
    auto b = Backend();
    if (!b.ok()) return Error(b.status());
    std::vector<std::string> keys;
    std::string line;
    size_t line_no = 0, missing = 0;
    json found = json::array();
    auto flush = [&]() -> Status {
      if (keys.empty()) return Status::OK();
      TKV_ASSIGN_OR_RETURN(auto kvs, (*b)->BatchGet(o_.cf, keys));
      std::map<std::string, std::string> got;
      for (auto& kv : kvs) got[kv.key] = std::move(kv.value);
      for (const auto& k : keys) {
        auto it = got.find(k);
        if (it == got.end()) {
          ++missing;
          err_ << "tinykv-ctl: not found: " << Encode(k) << "\n";
        } else if (o_.json) {
          found.push_back({{"key", Encode(k)}, {"value", Encode(it->second)}});
        } else {
          out_ << Encode(k) << "\t" << Encode(it->second) << "\n";
        }
      }
      keys.clear();
      return Status::OK();
    };
    while (std::getline(std::cin, line)) {
      ++line_no;
      if (line.empty()) continue;
      auto key = Decode(line, "KEY");
      if (!key.ok()) return Error(key.status().WithContext(fmt::format("stdin line {}", line_no)));
      keys.push_back(std::move(*key));
      if (keys.size() >= kBatchLines) {
        if (Status s = flush(); !s.ok()) return Error(s);
      }
    }
    if (Status s = flush(); !s.ok()) return Error(s);
    if (o_.json) out_ << json{{"kvs", found}, {"missing", missing}}.dump() << "\n";
    return missing == 0 ? kExitOk : kExitNotFound;
  }

  int Health() {
    client::StoreClient c(o_.addr, client::StoreClientOptions{.timeout = Timeout()});
    Status s = c.Health();
    if (!s.ok()) return Error(s);
    out_ << (o_.json ? json{{"status", "SERVING"}}.dump() : std::string("SERVING")) << "\n";
    return kExitOk;
  }

  // ---- cluster ----

  json RegionJson(const metapb::Region& r, const metapb::Peer& leader) const {
    json peers = json::array();
    for (const auto& p : r.peers()) peers.push_back({{"id", p.id()}, {"store_id", p.store_id()}});
    return json{{"id", r.id()},
                {"start_key", Encode(r.start_key())},
                {"end_key", Encode(r.end_key())},
                {"conf_ver", r.region_epoch().conf_ver()},
                {"version", r.region_epoch().version()},
                {"peers", peers},
                {"leader_store_id", leader.store_id()}};
  }

  // Stores of a region's peers, the leader's marked with '*'.
  static std::string PeerList(const metapb::Region& r, const metapb::Peer& leader) {
    std::string out;
    for (const auto& p : r.peers()) {
      if (!out.empty()) out += ",";
      out += std::to_string(p.store_id());
      if (p.id() == leader.id()) out += "*";
    }
    return out;
  }

  std::string Range(const metapb::Region& r) const {
    return fmt::format("[{}, {})", r.start_key().empty() ? "-inf" : Encode(r.start_key()),
                       r.end_key().empty() ? "+inf" : Encode(r.end_key()));
  }

  int ClusterStatus() {
    auto c = Cluster();
    if (!c.ok()) return Error(c.status());
    auto st = (*c)->scheduler().GetClusterStatus(o_.region_limit);
    if (!st.ok()) return Error(st.status());
    if (o_.json) {
      json stores = json::array();
      for (const auto& s : st->stores()) {
        stores.push_back({{"id", s.store().id()},
                          {"address", s.store().address()},
                          {"state", metapb::StoreState_Name(s.store().state())},
                          {"down", s.down()},
                          {"disconnected", s.disconnected()},
                          {"capacity", s.stats().capacity()},
                          {"available", s.stats().available()},
                          {"region_count", s.region_count()},
                          {"leader_count", s.leader_count()},
                          {"region_size", s.region_size()},
                          {"last_heartbeat_age_ms", s.last_heartbeat_age_ms()}});
      }
      json regions = json::array();
      for (const auto& r : st->regions()) {
        json j = RegionJson(r.region(), r.leader());
        j["approximate_size"] = r.approximate_size();
        json pending = json::array();
        for (const auto& p : r.pending_peers()) pending.push_back(p.id());
        j["pending_peers"] = pending;
        j["operator"] = r.operator_desc();
        regions.push_back(j);
      }
      out_ << json{{"cluster_id", (*c)->scheduler().cluster_id()},
                   {"max_replicas", st->cluster().max_peer_count()},
                   {"stores", stores},
                   {"region_count", st->region_count()},
                   {"regions", regions}}
                  .dump()
           << "\n";
      return kExitOk;
    }
    out_ << fmt::format("cluster {}  scheduler {}  max-replicas {}\n\n",
                        (*c)->scheduler().cluster_id(), o_.scheduler,
                        st->cluster().max_peer_count());
    Table stores({"STORE", "ADDRESS", "STATE", "CAPACITY", "AVAILABLE", "REGIONS", "LEADERS",
                  "REGION SIZE", "LAST HEARTBEAT"});
    for (const auto& s : st->stores()) {
      std::string state = metapb::StoreState_Name(s.store().state());
      if (s.store().state() == metapb::Up && s.down()) state = "Down";
      else if (s.store().state() == metapb::Up && s.disconnected()) state = "Disconnected";
      stores.Add({std::to_string(s.store().id()), s.store().address(), state,
                  HumanBytes(s.stats().capacity()), HumanBytes(s.stats().available()),
                  std::to_string(s.region_count()), std::to_string(s.leader_count()),
                  HumanBytes(s.region_size()),
                  s.last_heartbeat_age_ms() == 0
                      ? "-"
                      : fmt::format("{:.1f}s ago", s.last_heartbeat_age_ms() / 1000.0)});
    }
    stores.Print(out_);
    out_ << fmt::format("\n{} regions{}\n", st->region_count(),
                        st->regions_size() < static_cast<int>(st->region_count())
                            ? fmt::format(" (first {} shown)", st->regions_size())
                            : "");
    Table regions({"REGION", "RANGE", "EPOCH", "STORES (*leader)", "SIZE", "OPERATOR"});
    for (const auto& r : st->regions()) {
      const auto& e = r.region().region_epoch();
      regions.Add({std::to_string(r.region().id()), Range(r.region()),
                   fmt::format("{}/{}", e.conf_ver(), e.version()),
                   PeerList(r.region(), r.leader()), HumanBytes(r.approximate_size()),
                   r.operator_desc().empty() ? "-" : r.operator_desc()});
    }
    regions.Print(out_);
    return kExitOk;
  }

  // Waits until `stores` stores are up and every region has its replicas
  // (as many as there are stores, up to max-replicas) and a leader.
  int Wait(int stores, double timeout_s) {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
    std::string last;
    while (true) {
      std::string state;
      auto c = Cluster();
      Result<schedulerpb::GetClusterStatusResponse> st = c.ok()
                                                            ? (*c)->scheduler().GetClusterStatus(0)
                                                            : Result<schedulerpb::GetClusterStatusResponse>(c.status());
      if (!st.ok()) {
        state = st.status().code() == Code::kUnavailable ? "the scheduler is not answering yet"
                                                         : st.status().ToString();
      } else {
        int up = 0;
        for (const auto& s : st->stores()) {
          up += s.store().state() == metapb::Up && !s.disconnected() &&
                s.last_heartbeat_age_ms() > 0;
        }
        int want = std::min<int>(stores, static_cast<int>(st->cluster().max_peer_count()));
        int ready = 0;
        for (const auto& r : st->regions()) {
          ready += r.region().peers_size() == want && r.leader().id() != 0 &&
                   r.pending_peers_size() == 0;
        }
        if (up >= stores && st->regions_size() > 0 && ready == st->regions_size()) {
          err_ << fmt::format("cluster ready: {} stores up, {} regions with {} replicas\n", up,
                              ready, want);
          return Ok();
        }
        state = fmt::format("{}/{} stores up, {}/{} regions with {} replicas and a leader", up,
                            stores, ready, st->regions_size(), want);
      }
      if (state != last) {
        err_ << "waiting for the cluster: " << state << "\n";
        last = state;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return Error(Status::DeadlineExceeded("the cluster is not ready: " + state));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  int Region() {
    auto c = Cluster();
    if (!c.ok()) return Error(c.status());
    Result<std::optional<client::RegionRoute>> route = Status::Internal("unset");
    if (o_.region_id != 0) {
      route = (*c)->scheduler().GetRegionById(o_.region_id);
    } else {
      auto key = Decode(o_.key, "KEY");
      if (!key.ok()) return Error(key.status());
      route = (*c)->scheduler().GetRegion(*key);
    }
    if (!route.ok()) return Error(route.status());
    if (!route->has_value()) return Error(Status::NotFound("no region found"));
    const auto& [region, leader] = **route;
    if (o_.json) {
      out_ << RegionJson(region, leader).dump() << "\n";
      return kExitOk;
    }
    out_ << fmt::format("region {}  range {}  epoch {}/{}  stores {}  leader on store {}\n",
                        region.id(), Range(region), region.region_epoch().conf_ver(),
                        region.region_epoch().version(), PeerList(region, leader),
                        leader.store_id() == 0 ? "?" : std::to_string(leader.store_id()));
    return kExitOk;
  }

  int AddOperator(const std::string& kind) {
    auto c = Cluster();
    if (!c.ok()) return Error(c.status());
    schedulerpb::AddOperatorRequest req;
    req.set_region_id(o_.region_id);
    if (kind == "add-peer") {
      req.set_add_peer_store_id(o_.store_id);
    } else if (kind == "remove-peer") {
      req.set_remove_peer_store_id(o_.store_id);
    } else if (kind == "transfer-leader") {
      req.set_transfer_leader_store_id(o_.store_id);
    } else {
      auto* split = req.mutable_split();
      if (!o_.key.empty()) {
        auto key = Decode(o_.key, "KEY");
        if (!key.ok()) return Error(key.status());
        split->add_keys(*key);
      }
    }
    auto desc = (*c)->scheduler().AddOperator(req);
    if (!desc.ok()) return Error(desc.status());
    if (o_.json) {
      out_ << json{{"ok", true}, {"operator", *desc}}.dump() << "\n";
    } else {
      out_ << "started: " << *desc << "\n";
    }
    return kExitOk;
  }

  int ShowOperator() {
    auto c = Cluster();
    if (!c.ok()) return Error(c.status());
    auto op = (*c)->scheduler().GetOperator(o_.region_id);
    if (!op.ok()) return Error(op.status());
    std::string status = schedulerpb::OperatorStatus_Name(op->status());
    if (o_.json) {
      out_ << json{{"region_id", op->region_id()}, {"desc", op->desc()}, {"kind", op->kind()},
                   {"status", status}}
                  .dump()
           << "\n";
    } else {
      out_ << fmt::format("region {}: {} ({})\n", op->region_id(), op->desc(), status);
    }
    return kExitOk;
  }

  // ---- txn ----

  Result<client::TxnClient*> Txns() {
    if (o_.scheduler.empty()) {
      return Status::InvalidArgument(
          "transactions need --scheduler HOST:PORT (a cluster: timestamps come from its TSO)");
    }
    TKV_ASSIGN_OR_RETURN(auto* c, Cluster());
    if (!txns_) {
      client::TxnOptions t;
      t.timeout = Timeout();
      txns_ = std::make_unique<client::TxnClient>(*c, t);
    }
    return txns_.get();
  }

  Result<std::unique_ptr<client::Txn>> BeginTxn() {
    TKV_ASSIGN_OR_RETURN(auto* t, Txns());
    return t->Begin();
  }

  int TxnGet() {
    auto key = Decode(o_.key, "KEY");
    if (!key.ok()) return Error(key.status());
    auto txn = BeginTxn();
    if (!txn.ok()) return Error(txn.status());
    return PrintValue(*key, (*txn)->Get(*key));
  }

  // One-statement write transactions: put (value set) or delete.
  int TxnWrite(bool is_put, bool value_given) {
    auto key = Decode(o_.key, "KEY");
    if (!key.ok()) return Error(key.status());
    std::string value;
    if (is_put) {
      if (!value_given) return Error(Status::InvalidArgument("give VALUE"));
      auto decoded = Decode(o_.value, "VALUE");
      if (!decoded.ok()) return Error(decoded.status());
      value = std::move(decoded).value();
    }
    auto txn = BeginTxn();
    if (!txn.ok()) return Error(txn.status());
    if (is_put) {
      (*txn)->Put(*key, value);
    } else {
      (*txn)->Delete(*key);
    }
    Status s = (*txn)->Commit();
    if (!s.ok()) return Error(s);
    if (o_.json) {
      out_ << json{{"ok", true}, {"start_ts", (*txn)->start_ts()}, {"commit_ts", (*txn)->commit_ts()}}
                  .dump()
           << "\n";
    } else {
      out_ << "OK\n";
    }
    return kExitOk;
  }

  int TxnScan() {
    auto start = Decode(o_.key, "START");
    if (!start.ok()) return Error(start.status());
    auto end = Decode(o_.end, "--end");
    if (!end.ok()) return Error(end.status());
    auto txn = BeginTxn();
    if (!txn.ok()) return Error(txn.status());
    auto kvs = (*txn)->Scan(*start, *end, o_.limit);
    if (!kvs.ok()) return Error(kvs.status());
    PrintPairs(*kvs);
    return kExitOk;
  }

  // Lines of `in`: begin, get KEY, put KEY VALUE, delete KEY,
  // scan START [END [LIMIT]], commit, rollback; '#' starts a comment.
  // Stops at the first error (rolling back an open transaction).
  int TxnScript(std::istream& in) {
    // Connect before reading any input: a wrong --scheduler fails at once.
    if (auto t = Txns(); !t.ok()) return Error(t.status());
    std::unique_ptr<client::Txn> txn;
    std::string line;
    size_t line_no = 0;
    auto fail = [&](const Status& s) {
      if (txn) (void)txn->Rollback();
      return Error(s.WithContext(fmt::format("stdin line {}", line_no)));
    };
    while (std::getline(in, line)) {
      ++line_no;
      std::istringstream words(line);
      std::vector<std::string> w;
      for (std::string x; words >> x;) {
        if (x[0] == '#') break;
        w.push_back(std::move(x));
      }
      if (w.empty()) continue;
      const std::string& cmd = w[0];
      auto arg = [&](size_t i, const char* what) -> Result<std::string> {
        if (w.size() <= i) return Status::InvalidArgument(fmt::format("{}: missing {}", cmd, what));
        return Decode(w[i], what);
      };
      if (cmd == "begin") {
        if (txn) return fail(Status::InvalidArgument("begin inside a transaction"));
        auto b = BeginTxn();
        if (!b.ok()) return fail(b.status());
        txn = std::move(*b);
        Line({{"begin", txn->start_ts()}}, fmt::format("BEGIN {}", txn->start_ts()));
        continue;
      }
      if (!txn) return fail(Status::InvalidArgument(fmt::format("{} outside a transaction (begin first)", cmd)));
      if (cmd == "get") {
        auto key = arg(1, "KEY");
        if (!key.ok()) return fail(key.status());
        auto v = txn->Get(*key);
        if (!v.ok()) return fail(v.status());
        if (v->has_value()) {
          Line({{"key", Encode(*key)}, {"found", true}, {"value", Encode(**v)}}, Encode(**v));
        } else {
          Line({{"key", Encode(*key)}, {"found", false}}, "(not found)");
        }
      } else if (cmd == "put") {
        auto key = arg(1, "KEY");
        if (!key.ok()) return fail(key.status());
        auto value = arg(2, "VALUE");
        if (!value.ok()) return fail(value.status());
        txn->Put(*key, *value);
      } else if (cmd == "delete") {
        auto key = arg(1, "KEY");
        if (!key.ok()) return fail(key.status());
        txn->Delete(*key);
      } else if (cmd == "scan") {
        auto start = arg(1, "START");
        if (!start.ok()) return fail(start.status());
        std::string end;
        uint32_t limit = o_.limit;
        if (w.size() > 2) {
          auto e = arg(2, "END");
          if (!e.ok()) return fail(e.status());
          end = *e;
        }
        if (w.size() > 3) {
          try {
            limit = static_cast<uint32_t>(std::stoul(w[3]));
          } catch (const std::exception&) {
            return fail(Status::InvalidArgument("scan: LIMIT is not a number"));
          }
        }
        auto kvs = txn->Scan(*start, end, limit);
        if (!kvs.ok()) return fail(kvs.status());
        PrintPairs(*kvs);
      } else if (cmd == "commit") {
        Status s = txn->Commit();
        if (!s.ok()) {
          txn.reset();  // Commit cleans up after itself
          return fail(s);
        }
        Line({{"commit", txn->commit_ts()}}, fmt::format("COMMIT {}", txn->commit_ts()));
        txn.reset();
      } else if (cmd == "rollback") {
        Status s = txn->Rollback();
        txn.reset();
        if (!s.ok()) return fail(s);
        Line({{"rollback", true}}, "ROLLBACK");
      } else {
        return fail(Status::InvalidArgument(fmt::format(
            "unknown statement '{}' (begin, get, put, delete, scan, commit, rollback)", cmd)));
      }
    }
    if (txn) return fail(Status::InvalidArgument("the input ended inside a transaction; rolled back"));
    return kExitOk;
  }

  void Line(const json& j, const std::string& text) {
    out_ << (o_.json ? j.dump() : text) << "\n";
  }

  void PrintPairs(const std::vector<client::KvPair>& kvs) {
    if (o_.json) {
      json arr = json::array();
      for (const auto& kv : kvs) arr.push_back({{"key", Encode(kv.key)}, {"value", Encode(kv.value)}});
      out_ << json{{"kvs", arr}}.dump() << "\n";
    } else {
      for (const auto& kv : kvs) out_ << Encode(kv.key) << "\t" << Encode(kv.value) << "\n";
    }
  }

  int DeleteStore() {
    auto c = Cluster();
    if (!c.ok()) return Error(c.status());
    auto s = (*c)->scheduler().RemoveStore(o_.store_id);
    if (!s.ok()) return Error(s.status());
    if (o_.json) {
      out_ << json{{"ok", true}, {"store_id", s->id()}, {"state", metapb::StoreState_Name(s->state())}}
                  .dump()
           << "\n";
    } else {
      out_ << fmt::format(
          "store {} is {}: its replicas move to other stores; then it becomes a Tombstone\n",
          s->id(), metapb::StoreState_Name(s->state()));
    }
    return kExitOk;
  }

 private:
  static Result<std::string> ReadValueFile(const std::string& path) {
    if (path == "-") {
      return std::string(std::istreambuf_iterator<char>(std::cin),
                         std::istreambuf_iterator<char>());
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::IOError("cannot read " + path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  const Options& o_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<client::RawClient> cluster_;
  std::unique_ptr<client::TxnClient> txns_;
  std::unique_ptr<RawBackend> backend_;
};

}  // namespace

int RunCtl(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  Options o;
  CLI::App app{"tinykv-ctl: the TinyKV command-line client", "tinykv-ctl"};
  app.set_help_all_flag("--help-all", "help for every command");
  app.add_option("--scheduler", o.scheduler,
                 "a cluster's scheduler HOST:PORT (raw commands are routed by key)")
      ->envname("TINYKV_SCHEDULER");
  app.add_option("--addr", o.addr, "one store's address HOST:PORT (a standalone server)")
      ->envname("TINYKV_ADDR")
      ->capture_default_str();
  app.add_flag("--json", o.json, "machine-readable output");
  app.add_flag("--hex", o.hex, "keys and values in hex, in arguments and output");
  app.add_option("--timeout", o.timeout_s, "seconds to wait for each command, retries included")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.require_subcommand(1);

  CLI::App* raw = app.add_subcommand("raw", "raw key-value commands");
  raw->require_subcommand(1);
  auto add_cf = [&](CLI::App* c) {
    c->add_option("--cf", o.cf, "column family: default, lock or write")->capture_default_str();
  };
  CLI::App* get = raw->add_subcommand("get", "print the value of KEY (exit 1 if there is none)");
  get->add_option("KEY", o.key, "the key")->required();
  add_cf(get);
  CLI::App* put = raw->add_subcommand("put", "set KEY to VALUE");
  put->add_option("KEY", o.key, "the key")->required();
  CLI::Option* value_opt = put->add_option("VALUE", o.value, "the value");
  put->add_option("--value-file", o.value_file,
                  "read the value, as raw bytes, from this file ('-': stdin)");
  add_cf(put);
  CLI::App* del = raw->add_subcommand("delete", "delete KEY");
  del->add_option("KEY", o.key, "the key")->required();
  add_cf(del);
  CLI::App* scan =
      raw->add_subcommand("scan", "print up to --limit pairs from START on, in key order");
  scan->add_option("START", o.key, "first key (\"\" for the beginning)")->required();
  scan->add_option("--end", o.end, "stop before this key (default: no end)");
  scan->add_option("--limit", o.limit, "most pairs to print")->capture_default_str();
  add_cf(scan);
  CLI::App* batch_put = raw->add_subcommand(
      "batch-put", "write KEY<TAB>VALUE lines from stdin, in batches (per region atomic)");
  add_cf(batch_put);
  CLI::App* batch_get = raw->add_subcommand(
      "batch-get", "print KEY<TAB>VALUE for each KEY line of stdin (exit 1 if one is missing)");
  add_cf(batch_get);
  CLI::App* txn = app.add_subcommand("txn", "transactional commands (a cluster: --scheduler)");
  txn->require_subcommand(1);
  CLI::App* tget = txn->add_subcommand("get", "read KEY in a transaction (exit 1 if there is none)");
  tget->add_option("KEY", o.key, "the key")->required();
  CLI::App* tput = txn->add_subcommand("put", "set KEY to VALUE in a transaction of its own");
  tput->add_option("KEY", o.key, "the key")->required();
  CLI::Option* tvalue_opt = tput->add_option("VALUE", o.value, "the value");
  CLI::App* tdel = txn->add_subcommand("delete", "delete KEY in a transaction of its own");
  tdel->add_option("KEY", o.key, "the key")->required();
  CLI::App* tscan = txn->add_subcommand("scan", "print up to --limit pairs from START on, at one snapshot");
  tscan->add_option("START", o.key, "first key (\"\" for the beginning)")->required();
  tscan->add_option("--end", o.end, "stop before this key (default: no end)");
  tscan->add_option("--limit", o.limit, "most pairs to print")->capture_default_str();
  CLI::App* tscript = txn->add_subcommand(
      "script", "run begin/get/put/delete/scan/commit/rollback lines from stdin");
  CLI::App* health = app.add_subcommand("health", "check that the store at --addr serves");
  int wait_stores = 3;
  double wait_timeout = 60;
  CLI::App* wait = app.add_subcommand(
      "wait", "wait until the cluster has --stores stores up and every region its replicas");
  wait->add_option("--stores", wait_stores, "stores that must be up")->capture_default_str();
  wait->add_option("--for", wait_timeout, "seconds to wait at most")->capture_default_str();

  CLI::App* cluster = app.add_subcommand("cluster", "stores and regions of the cluster");
  cluster->add_option("--regions", o.region_limit, "most regions to list (0: all)")
      ->capture_default_str();
  CLI::App* region = app.add_subcommand("region", "the region holding KEY (or --id)");
  region->add_option("KEY", o.key, "a key");
  region->add_option("--id", o.region_id, "a region id instead of a key");

  CLI::App* op = app.add_subcommand("operator", "ask the scheduler to change a region");
  op->require_subcommand(1);
  std::string op_kind;
  for (const char* kind : {"add-peer", "remove-peer", "transfer-leader"}) {
    std::string help = std::string(kind) == "add-peer"          ? "add a replica on STORE"
                       : std::string(kind) == "remove-peer"     ? "remove the replica on STORE"
                                                                : "move the leadership to STORE";
    CLI::App* c = op->add_subcommand(kind, help);
    c->add_option("REGION", o.region_id, "region id")->required();
    c->add_option("STORE", o.store_id, "store id")->required();
    c->callback([&op_kind, kind] { op_kind = kind; });
  }
  CLI::App* split = op->add_subcommand("split", "split REGION at KEY (default: about the middle)");
  split->add_option("REGION", o.region_id, "region id")->required();
  split->add_option("KEY", o.key, "the first key of the new right half");
  split->callback([&op_kind] { op_kind = "split"; });
  CLI::App* show = op->add_subcommand("show", "the running (or last) operator of REGION");
  show->add_option("REGION", o.region_id, "region id")->required();

  CLI::App* store = app.add_subcommand("store", "store administration");
  store->require_subcommand(1);
  CLI::App* store_delete = store->add_subcommand(
      "delete", "decommission store ID: its replicas move away, then it is a tombstone");
  store_delete->add_option("ID", o.store_id, "store id")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitError;
  }

  Command cmd(o, out, err);
  if (*get) return cmd.Get();
  if (*put) return cmd.Put(value_opt->count() > 0);
  if (*del) return cmd.Delete();
  if (*scan) return cmd.Scan();
  if (*tget) return cmd.TxnGet();
  if (*tput) return cmd.TxnWrite(true, tvalue_opt->count() > 0);
  if (*tdel) return cmd.TxnWrite(false, false);
  if (*tscan) return cmd.TxnScan();
  if (*tscript) return cmd.TxnScript(std::cin);
  if (*health) return cmd.Health();
  if (*batch_put) return cmd.BatchPut();
  if (*batch_get) return cmd.BatchGet();
  if (*wait) return cmd.Wait(wait_stores, wait_timeout);
  if (*cluster) return cmd.ClusterStatus();
  if (*region) {
    if (o.key.empty() && o.region_id == 0) {
      return cmd.Error(Status::InvalidArgument("give KEY or --id"));
    }
    return cmd.Region();
  }
  if (*show) return cmd.ShowOperator();
  if (!op_kind.empty()) return cmd.AddOperator(op_kind);
  if (*store_delete) return cmd.DeleteStore();
  return kExitError;  // unreachable: CLI11 requires a subcommand
}

}  // namespace tinykv::ctl
