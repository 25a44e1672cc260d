#include "server/scheduler_config.h"

#include <fmt/format.h>

#include "common/log.h"
#include "server/toml_config.h"

namespace tinykv::server {
namespace {

using namespace toml_config;  // NOLINT: the parsers read better unqualified
using C = SchedulerServerConfig;
using S = scheduler::SchedulerConfig;

template <typename T, typename Parse>
Setter<C> Sch(Parse parse, T S::*member) {
  return Nested<C>(parse, &C::schedule, member);
}

const Fields<C>& SchedulerFields() {
  static const auto* fields = new Fields<C>{
      {"server.addr", Field(AsString, &C::addr)},
      {"server.data-dir", Field(AsString, &C::data_dir)},
      {"server.max-message-size", Field(AsSize, &C::max_message_size)},
      {"schedule.max-replicas", Sch(AsU64, &S::max_replicas)},
      {"schedule.max-store-down-time", Sch(AsMs, &S::max_store_down_time_ms)},
      {"schedule.store-disconnect-time", Sch(AsMs, &S::store_disconnect_time_ms)},
      {"schedule.schedule-interval", Sch(AsMs, &S::schedule_interval_ms)},
      {"schedule.patrol-regions-per-round", Sch(AsU64, &S::patrol_regions_per_round)},
      {"schedule.leader-schedule-limit", Sch(AsU64, &S::leader_schedule_limit)},
      {"schedule.region-schedule-limit", Sch(AsU64, &S::region_schedule_limit)},
      {"schedule.replica-schedule-limit", Sch(AsU64, &S::replica_schedule_limit)},
      {"schedule.leader-balance-threshold", Sch(AsU64, &S::leader_balance_threshold)},
      {"schedule.min-balance-region-size", Sch(AsSize, &S::min_balance_region_size)},
      {"schedule.leader-operator-timeout", Sch(AsMs, &S::leader_operator_timeout_ms)},
      {"schedule.region-operator-timeout", Sch(AsMs, &S::region_operator_timeout_ms)},
      {"schedule.prepare-region-fraction", Sch(AsDouble, &S::prepare_region_fraction)},
      {"schedule.prepare-timeout", Sch(AsMs, &S::prepare_timeout_ms)},
      {"tso.save-interval", Sch(AsMs, &S::tso_save_interval_ms)},
      {"id.batch", Sch(AsU64, &S::id_batch)},
      {"log.level", Field(AsString, &C::log_level)},
      {"log.file", Field(AsString, &C::log_file)},
  };
  return *fields;
}

}  // namespace

Result<SchedulerServerConfig> ParseSchedulerConfig(std::string_view toml_text,
                                                   const std::string& origin,
                                                   SchedulerServerConfig base) {
  return Parse(toml_text, origin, std::move(base), SchedulerFields());
}

Result<SchedulerServerConfig> LoadSchedulerConfigFile(const std::string& path,
                                                      SchedulerServerConfig base) {
  TKV_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseSchedulerConfig(text, path, std::move(base));
}

Status ValidateSchedulerConfig(const SchedulerServerConfig& c) {
  auto invalid = [](std::string msg) { return Status::InvalidArgument(std::move(msg)); };
  if (c.addr.empty() || c.addr.rfind(':') == std::string::npos)
    return invalid(fmt::format("server.addr '{}' must be HOST:PORT", c.addr));
  if (c.data_dir.empty()) return invalid("server.data-dir must not be empty");
  if (c.max_message_size < (64u << 10) || c.max_message_size > (1u << 30))
    return invalid("server.max-message-size must be between 64KiB and 1GiB");
  const auto& s = c.schedule;
  if (s.max_replicas == 0) return invalid("schedule.max-replicas must be at least 1");
  if (s.schedule_interval_ms == 0) return invalid("schedule.schedule-interval must be positive");
  if (s.store_disconnect_time_ms == 0 || s.max_store_down_time_ms < s.store_disconnect_time_ms) {
    return invalid(
        "schedule.max-store-down-time must be at least schedule.store-disconnect-time (> 0)");
  }
  if (s.prepare_region_fraction < 0 || s.prepare_region_fraction > 1)
    return invalid("schedule.prepare-region-fraction must be between 0 and 1");
  if (s.tso_save_interval_ms < 10) return invalid("tso.save-interval must be at least 10ms");
  if (s.id_batch == 0) return invalid("id.batch must be at least 1");
  if (s.leader_operator_timeout_ms == 0 || s.region_operator_timeout_ms == 0)
    return invalid("operator timeouts must be positive");
  return ValidateLogLevel(c.log_level);
}

}  // namespace tinykv::server
