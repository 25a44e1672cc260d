#include "server/config.h"

#include <fmt/format.h>

#include <charconv>

#include "common/log.h"
#include "server/toml_config.h"

namespace tinykv::server {
namespace {

using namespace toml_config;  // NOLINT: the parsers read better unqualified
using Setter = toml_config::Setter<Config>;

// A key of the [raftstore] section.
template <typename T, typename Parse>
Setter Rs(Parse parse, T raftstore::RaftstoreConfig::*member) {
  return toml_config::Nested<Config>(parse, &Config::raftstore, member);
}

// Every key the file may hold, as "section.key".
const toml_config::Fields<Config>& ConfigFields() {
  static const auto* fields = new toml_config::Fields<Config>{
      {"server.addr", Field(AsString, &Config::addr)},
      {"server.data-dir", Field(AsString, &Config::data_dir)},
      {"server.standalone", Field(AsBool, &Config::standalone)},
      {"server.store-id", Field(AsU64, &Config::store_id)},
      {"server.cluster-id", Field(AsU64, &Config::cluster_id)},
      {"server.initial-cluster", Field(AsString, &Config::initial_cluster)},
      {"server.scheduler", Field(AsString, &Config::scheduler)},
      {"server.advertise-addr", Field(AsString, &Config::advertise_addr)},
      {"server.store-heartbeat-interval", Field(AsDuration, &Config::store_heartbeat_interval)},
      {"raftstore.raft-base-tick-interval",
       Rs(AsMs, &raftstore::RaftstoreConfig::raft_base_tick_ms)},
      {"raftstore.raft-election-timeout-ticks",
       Rs(AsU64, &raftstore::RaftstoreConfig::raft_election_ticks)},
      {"raftstore.raft-heartbeat-ticks",
       Rs(AsU64, &raftstore::RaftstoreConfig::raft_heartbeat_ticks)},
      {"raftstore.lease-read", Rs(AsBool, &raftstore::RaftstoreConfig::lease_read)},
      {"raftstore.raft-broadcast-commit",
       Rs(AsBool, &raftstore::RaftstoreConfig::raft_broadcast_commit)},
      {"raftstore.raft-store-max-leader-lease",
       Rs(AsMs, &raftstore::RaftstoreConfig::raft_max_leader_lease_ms)},
      {"raftstore.raft-max-inflight-msgs",
       Rs(AsU64, &raftstore::RaftstoreConfig::raft_max_inflight_msgs)},
      {"raftstore.raft-max-size-per-msg",
       Rs(AsSize, &raftstore::RaftstoreConfig::raft_max_size_per_msg)},
      {"raftstore.raft-entry-max-size",
       Rs(AsSize, &raftstore::RaftstoreConfig::raft_entry_max_size)},
      {"raftstore.raft-log-gc-tick-interval",
       Rs(AsMs, &raftstore::RaftstoreConfig::raft_log_gc_tick_ms)},
      {"raftstore.raft-log-gc-count-limit",
       Rs(AsU64, &raftstore::RaftstoreConfig::raft_log_gc_count_limit)},
      {"raftstore.raft-log-gc-size-limit",
       Rs(AsSize, &raftstore::RaftstoreConfig::raft_log_gc_size_limit)},
      {"raftstore.split-region-check-tick-interval",
       Rs(AsMs, &raftstore::RaftstoreConfig::split_check_tick_ms)},
      {"raftstore.region-max-size", Rs(AsSize, &raftstore::RaftstoreConfig::region_max_size)},
      {"raftstore.region-split-size", Rs(AsSize, &raftstore::RaftstoreConfig::region_split_size)},
      {"raftstore.max-pending-proposals",
       Rs(AsU64, &raftstore::RaftstoreConfig::max_pending_proposals)},
      {"raftstore.max-apply-backlog-size",
       Rs(AsSize, &raftstore::RaftstoreConfig::max_apply_backlog_bytes)},
      {"raftstore.apply-pool-size", Rs(AsU64, &raftstore::RaftstoreConfig::apply_pool_size)},
      {"raftstore.store-pool-size", Rs(AsU64, &raftstore::RaftstoreConfig::store_pool_size)},
      {"raftstore.snap-generate-concurrency",
       Rs(AsU64, &raftstore::RaftstoreConfig::snap_generate_concurrency)},
      {"raftstore.region-heartbeat-interval",
       Rs(AsMs, &raftstore::RaftstoreConfig::region_heartbeat_tick_ms)},
      {"raftstore.raft-queue-limit", Field(AsSize, &Config::raft_queue_limit)},
      {"raftstore.snap-chunk-size", Field(AsSize, &Config::snapshot_chunk_size)},
      {"raftstore.snap-max-bytes-per-sec", Field(AsSize, &Config::snapshot_max_bytes_per_sec)},
      {"raftstore.max-snapshot-size", Field(AsSize, &Config::max_snapshot_size)},
      {"server.max-message-size", Field(AsSize, &Config::max_message_size)},
      {"server.shutdown-timeout", Field(AsDuration, &Config::shutdown_timeout)},
      {"server.grpc-concurrency", Field(AsU64, &Config::grpc_concurrency)},
      {"storage.sync-write", Field(AsBool, &Config::sync_write)},
      {"storage.block-cache-size", Field(AsSize, &Config::block_cache_size)},
      {"storage.max-pending-write-size", Field(AsSize, &Config::max_pending_write_size)},
      {"limits.max-key-size", Field(AsSize, &Config::max_key_size)},
      {"limits.max-value-size", Field(AsSize, &Config::max_value_size)},
      {"limits.max-scan-limit",
       [](const toml::node& n, Config& c) -> Status {
         auto v = n.value_exact<int64_t>();
         if (!v || *v < 0 || *v > UINT32_MAX) return Status::InvalidArgument("expected a count");
         c.max_scan_limit = static_cast<uint32_t>(*v);
         return Status::OK();
       }},
      {"limits.max-batch-keys",
       [](const toml::node& n, Config& c) -> Status {
         auto v = n.value_exact<int64_t>();
         if (!v || *v < 0 || *v > UINT32_MAX) return Status::InvalidArgument("expected a count");
         c.max_batch_keys = static_cast<uint32_t>(*v);
         return Status::OK();
       }},
      {"log.level", Field(AsString, &Config::log_level)},
      {"log.file", Field(AsString, &Config::log_file)},
  };
  return *fields;
}

}  // namespace

Result<std::map<uint64_t, std::string>> ParseInitialCluster(std::string_view text) {
  std::map<uint64_t, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view item =
        text.substr(pos, comma == std::string_view::npos ? text.npos : comma - pos);
    pos = comma == std::string_view::npos ? text.size() : comma + 1;
    size_t eq = item.find('=');
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + (eq == item.npos ? 0 : eq), id);
    if (eq == item.npos || ec != std::errc() || end != item.data() + eq || id == 0 ||
        item.substr(eq + 1).find(':') == std::string_view::npos) {
      return Status::InvalidArgument(
          fmt::format("initial-cluster entry '{}' must be STORE_ID=HOST:PORT", item));
    }
    if (!out.emplace(id, std::string(item.substr(eq + 1))).second) {
      return Status::InvalidArgument(fmt::format("initial-cluster names store {} twice", id));
    }
  }
  return out;
}

Result<Config> ParseConfig(std::string_view toml_text, const std::string& origin, Config base) {
  return toml_config::Parse(toml_text, origin, std::move(base), ConfigFields());
}

Result<Config> LoadConfigFile(const std::string& path, Config base) {
  TKV_ASSIGN_OR_RETURN(std::string text, toml_config::ReadFile(path));
  return ParseConfig(text, path, std::move(base));
}

Status ValidateConfig(const Config& c) {
  auto invalid = [](std::string msg) { return Status::InvalidArgument(std::move(msg)); };
  if (c.addr.empty() || c.addr.rfind(':') == std::string::npos) {
    return invalid(fmt::format("server.addr '{}' must be HOST:PORT", c.addr));
  }
  if (c.data_dir.empty()) return invalid("server.data-dir must not be empty");
  if (c.grpc_concurrency < 1 || c.grpc_concurrency > 64) {
    return invalid(fmt::format("server.grpc-concurrency {} must be 1 to 64", c.grpc_concurrency));
  }
  if (c.max_key_size == 0) return invalid("limits.max-key-size must be at least 1");
  if (c.max_value_size == 0) return invalid("limits.max-value-size must be at least 1");
  if (c.max_scan_limit == 0) return invalid("limits.max-scan-limit must be at least 1");
  if (c.max_batch_keys == 0) return invalid("limits.max-batch-keys must be at least 1");
  // A put of the largest key and value, plus the request's framing.
  constexpr size_t kEnvelope = 4096;
  if (c.max_message_size < c.max_key_size + c.max_value_size + kEnvelope) {
    return invalid(fmt::format(
        "server.max-message-size ({}) must exceed limits.max-key-size + limits.max-value-size "
        "+ 4KiB ({}), or the largest valid put could not be sent",
        c.max_message_size, c.max_key_size + c.max_value_size + kEnvelope));
  }
  if (c.max_message_size > (1u << 30))
    return invalid("server.max-message-size must be at most 1GiB");
  TKV_RETURN_IF_ERROR(ValidateLogLevel(c.log_level));
  if (!c.standalone) {
    if (c.scheduler.empty() && c.initial_cluster.empty()) {
      return invalid(
          "cluster mode needs server.scheduler (--scheduler HOST:PORT), or a fixed membership "
          "(--initial-cluster ID=HOST:PORT,... and --store-id); or run --standalone");
    }
    if (!c.scheduler.empty() && !c.initial_cluster.empty()) {
      return invalid("server.scheduler and server.initial-cluster exclude each other");
    }
    if (!c.scheduler.empty()) {
      if (c.scheduler.rfind(':') == std::string::npos)
        return invalid(fmt::format("server.scheduler '{}' must be HOST:PORT", c.scheduler));
      if (!c.advertise_addr.empty() && c.advertise_addr.rfind(':') == std::string::npos) {
        return invalid(
            fmt::format("server.advertise-addr '{}' must be HOST:PORT", c.advertise_addr));
      }
      if (c.store_heartbeat_interval.count() <= 0)
        return invalid("server.store-heartbeat-interval must be positive");
    } else {
      auto members = ParseInitialCluster(c.initial_cluster);
      if (!members.ok()) return members.status();
      if (members->count(c.store_id) == 0) {
        return invalid(
            fmt::format("server.store-id {} is not in server.initial-cluster", c.store_id));
      }
      if (c.cluster_id == 0) return invalid("server.cluster-id must not be 0");
    }
    const auto& r = c.raftstore;
    if (r.raft_base_tick_ms == 0)
      return invalid("raftstore.raft-base-tick-interval must be positive");
    if (r.raft_heartbeat_ticks <= 0 || r.raft_election_ticks <= r.raft_heartbeat_ticks) {
      return invalid(
          "raftstore.raft-election-timeout-ticks must exceed raftstore.raft-heartbeat-ticks (> 0)");
    }
    if (r.apply_pool_size > 1)
      return invalid("raftstore.apply-pool-size must be 0 (apply on the poller) or 1");
    if (r.store_pool_size > 1)
      return invalid("raftstore.store-pool-size must be 0 (poll on the gRPC thread) or 1");
    if (!r.LeaseIsSafe()) {
      return invalid(
          "raftstore.raft-store-max-leader-lease must be shorter than the election timeout less "
          "one tick ((raft-election-timeout-ticks - 1) * raft-base-tick-interval)");
    }
    if (r.region_split_size > r.region_max_size) {
      return invalid("raftstore.region-split-size must not exceed raftstore.region-max-size");
    }
    if (r.raft_entry_max_size + kEnvelope > c.max_message_size) {
      return invalid("raftstore.raft-entry-max-size must leave room in server.max-message-size");
    }
    if (c.snapshot_chunk_size == 0 || c.snapshot_chunk_size + kEnvelope > c.max_message_size) {
      return invalid(
          "raftstore.snap-chunk-size must be positive and fit in server.max-message-size");
    }
  }
  return Status::OK();
}

}  // namespace tinykv::server
