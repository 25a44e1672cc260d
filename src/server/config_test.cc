#include "server/config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>

#include "server/scheduler_config.h"
#include "testing/temp_dir.h"

namespace tinykv::server {
namespace {

using namespace std::chrono_literals;

TEST(ConfigTest, DefaultsAreValid) {
  Config c;
  c.standalone = true;
  EXPECT_TRUE(ValidateConfig(c).ok());
  EXPECT_EQ(c.max_key_size, 4096u);
  EXPECT_EQ(c.max_value_size, 8u << 20);
}

TEST(ConfigTest, ParsesEveryKey) {
  auto c = ParseConfig(R"(
[server]
addr = "127.0.0.1:0"
data-dir = "/tmp/x"
standalone = true
max-message-size = "32MiB"
shutdown-timeout = "3s"

[storage]
sync-write = false
block-cache-size = "64MiB"
max-pending-write-size = 1048576

[limits]
max-key-size = "1KiB"
max-value-size = "1MiB"
max-scan-limit = 500

[log]
level = "debug"
file = "/tmp/x.log"
)",
                       "test.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->addr, "127.0.0.1:0");
  EXPECT_EQ(c->data_dir, "/tmp/x");
  EXPECT_TRUE(c->standalone);
  EXPECT_EQ(c->max_message_size, 32u << 20);
  EXPECT_EQ(c->shutdown_timeout, 3000ms);
  EXPECT_FALSE(c->sync_write);
  EXPECT_EQ(c->block_cache_size, 64u << 20);
  EXPECT_EQ(c->max_pending_write_size, 1u << 20);
  EXPECT_EQ(c->max_key_size, 1024u);
  EXPECT_EQ(c->max_value_size, 1u << 20);
  EXPECT_EQ(c->max_scan_limit, 500u);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->log_file, "/tmp/x.log");
  EXPECT_TRUE(ValidateConfig(*c).ok());
}

TEST(ConfigTest, FileValuesOverrideOnlyWhatTheyName) {
  Config base;
  base.addr = "10.0.0.1:1";
  auto c = ParseConfig("[limits]\nmax-scan-limit = 7\n", "t", base);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->addr, "10.0.0.1:1");
  EXPECT_EQ(c->max_scan_limit, 7u);
}

TEST(ConfigTest, UnknownKeyIsAnError) {
  auto c = ParseConfig("[limits]\nmax-key-sise = 10\n", "t.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("limits.max-key-sise"), std::string::npos) << c.status();
}

TEST(ConfigTest, UnknownSectionAndTopLevelValueAreErrors) {
  EXPECT_FALSE(ParseConfig("[nope]\nx = 1\n", "t").ok());
  auto c = ParseConfig("addr = \"x:1\"\n", "t");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("must be a section"), std::string::npos) << c.status();
}

TEST(ConfigTest, WrongTypeNamesKeyAndLine) {
  auto c = ParseConfig("[server]\n\nstandalone = \"yes\"\n", "t.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("t.toml:3"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("server.standalone"), std::string::npos) << c.status();
}

TEST(ConfigTest, SyntaxErrorHasPosition) {
  auto c = ParseConfig("[server\n", "t.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("t.toml:1"), std::string::npos) << c.status();
}

TEST(ConfigTest, PoolSizesAreZeroOrOne) {
  for (std::string key : {"apply-pool-size", "store-pool-size"}) {
    auto validate = [&key](int n) {
      auto c = ParseConfig(fmt::format("[raftstore]\n{} = {}\n", key, n), "t");
      EXPECT_TRUE(c.ok()) << c.status();
      if (!c.ok()) return c.status();
      const auto& r = c->raftstore;
      EXPECT_EQ(key == "apply-pool-size" ? r.apply_pool_size : r.store_pool_size,
                static_cast<size_t>(n));
      c->scheduler = "127.0.0.1:2379";  // cluster mode: the raftstore settings count
      return ValidateConfig(*c);
    };
    EXPECT_TRUE(validate(0).ok()) << validate(0);
    EXPECT_TRUE(validate(1).ok()) << validate(1);
    Status s = validate(2);
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_NE(s.message().find("raftstore." + key), std::string::npos) << s;
  }
}

TEST(ConfigTest, GrpcConcurrencyIsOneToSixtyFour) {
  auto validate = [](int n) {
    auto c = ParseConfig(fmt::format("[server]\nstandalone = true\ngrpc-concurrency = {}\n", n), "t");
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return c.status();
    EXPECT_EQ(c->grpc_concurrency, static_cast<uint64_t>(n));
    return ValidateConfig(*c);
  };
  EXPECT_TRUE(validate(1).ok()) << validate(1);
  EXPECT_TRUE(validate(64).ok()) << validate(64);
  for (int bad : {0, 65}) {
    Status s = validate(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_NE(s.message().find("server.grpc-concurrency"), std::string::npos) << s;
  }
}

TEST(ConfigTest, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("4KiB"), 4096u);
  EXPECT_EQ(*ParseByteSize("4 KB"), 4096u);
  EXPECT_EQ(*ParseByteSize("8MiB"), 8u << 20);
  EXPECT_EQ(*ParseByteSize("1GB"), 1u << 30);
  EXPECT_FALSE(ParseByteSize("8 parsecs").ok());
  EXPECT_FALSE(ParseByteSize("MiB").ok());
  EXPECT_FALSE(ParseByteSize("-1").ok());
  EXPECT_FALSE(ParseByteSize("99999999999999GiB").ok());
  EXPECT_FALSE(ParseConfig("[limits]\nmax-key-size = -5\n", "t").ok());
}

TEST(ConfigTest, Durations) {
  EXPECT_EQ(*ParseDuration("250ms"), 250ms);
  EXPECT_EQ(*ParseDuration("10s"), 10000ms);
  EXPECT_EQ(*ParseDuration("2m"), 120000ms);
  EXPECT_FALSE(ParseDuration("10").ok());
  EXPECT_EQ(*ParseDuration("1h"), 3600000ms);
  EXPECT_FALSE(ParseDuration("1d").ok());
}

TEST(ConfigTest, ClusterModeNeedsItsMembers) {
  Config c;
  Status s = ValidateConfig(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("initial-cluster"), std::string::npos) << s;
  c.initial_cluster = "1=127.0.0.1:20161,2=127.0.0.1:20162,3=127.0.0.1:20163";
  c.store_id = 4;
  EXPECT_FALSE(ValidateConfig(c).ok());
  c.store_id = 2;
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  auto m = ParseInitialCluster(c.initial_cluster);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->size(), 3u);
  EXPECT_EQ(m->at(2), "127.0.0.1:20162");
  EXPECT_FALSE(ParseInitialCluster("1=a:1,1=b:2").ok());
  EXPECT_FALSE(ParseInitialCluster("x=a:1").ok());
  EXPECT_FALSE(ParseInitialCluster("1=nohostport").ok());
  c.raftstore.region_split_size = c.raftstore.region_max_size + 1;
  EXPECT_FALSE(ValidateConfig(c).ok());
}

TEST(ConfigTest, ParsesRaftstoreKeys) {
  auto c = ParseConfig(R"(
[server]
store-id = 3
initial-cluster = "3=127.0.0.1:1"
[raftstore]
raft-base-tick-interval = "50ms"
raft-election-timeout-ticks = 20
raft-log-gc-count-limit = 1000
region-max-size = "10MiB"
region-split-size = "5MiB"
snap-max-bytes-per-sec = "100MiB"
)",
                       "test.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store_id, 3u);
  EXPECT_EQ(c->raftstore.raft_base_tick_ms, 50u);
  EXPECT_EQ(c->raftstore.raft_election_ticks, 20);
  EXPECT_EQ(c->raftstore.raft_log_gc_count_limit, 1000u);
  EXPECT_EQ(c->raftstore.region_max_size, 10u << 20);
  EXPECT_EQ(c->snapshot_max_bytes_per_sec, 100u << 20);
  EXPECT_TRUE(ValidateConfig(*c).ok());
}

TEST(ConfigTest, ValidationCatchesBadValues) {
  Config c;
  c.standalone = true;
  c.max_key_size = 0;
  EXPECT_FALSE(ValidateConfig(c).ok());
  c = Config();
  c.standalone = true;
  c.addr = "localhost";
  EXPECT_FALSE(ValidateConfig(c).ok());
  c = Config();
  c.standalone = true;
  c.log_level = "loud";
  EXPECT_FALSE(ValidateConfig(c).ok());
  c = Config();
  c.standalone = true;
  c.max_scan_limit = 0;
  EXPECT_FALSE(ValidateConfig(c).ok());
}

TEST(ConfigTest, MessageSizeMustFitTheLargestPut) {
  Config c;
  c.standalone = true;
  c.max_value_size = 16u << 20;  // default message size is 16 MiB
  Status s = ValidateConfig(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("max-message-size"), std::string::npos) << s;
  c.max_message_size = 17u << 20;
  EXPECT_TRUE(ValidateConfig(c).ok());
}

// config/tinykv.toml documents the defaults: it must parse and match them.
TEST(ConfigTest, ExampleFileHoldsTheDefaults) {
  auto c = LoadConfigFile(TINYKV_EXAMPLE_CONFIG);
  ASSERT_TRUE(c.ok()) << c.status();
  Config d;
  EXPECT_EQ(c->addr, d.addr);
  EXPECT_EQ(c->data_dir, d.data_dir);
  EXPECT_EQ(c->standalone, d.standalone);
  EXPECT_EQ(c->max_message_size, d.max_message_size);
  EXPECT_EQ(c->shutdown_timeout, d.shutdown_timeout);
  EXPECT_EQ(c->grpc_concurrency, d.grpc_concurrency);
  EXPECT_EQ(c->sync_write, d.sync_write);
  EXPECT_EQ(c->block_cache_size, d.block_cache_size);
  EXPECT_EQ(c->max_pending_write_size, d.max_pending_write_size);
  EXPECT_EQ(c->max_key_size, d.max_key_size);
  EXPECT_EQ(c->max_value_size, d.max_value_size);
  EXPECT_EQ(c->max_scan_limit, d.max_scan_limit);
  EXPECT_EQ(c->log_level, d.log_level);
  EXPECT_EQ(c->log_file, d.log_file);
  EXPECT_EQ(c->store_id, d.store_id);
  EXPECT_EQ(c->cluster_id, d.cluster_id);
  EXPECT_EQ(c->initial_cluster, d.initial_cluster);
  EXPECT_EQ(c->raftstore.raft_base_tick_ms, d.raftstore.raft_base_tick_ms);
  EXPECT_EQ(c->raftstore.raft_election_ticks, d.raftstore.raft_election_ticks);
  EXPECT_EQ(c->raftstore.raft_heartbeat_ticks, d.raftstore.raft_heartbeat_ticks);
  EXPECT_EQ(c->raftstore.raft_log_gc_count_limit, d.raftstore.raft_log_gc_count_limit);
  EXPECT_EQ(c->raftstore.raft_log_gc_size_limit, d.raftstore.raft_log_gc_size_limit);
  EXPECT_EQ(c->raftstore.region_max_size, d.raftstore.region_max_size);
  EXPECT_EQ(c->raftstore.region_split_size, d.raftstore.region_split_size);
  EXPECT_EQ(c->max_snapshot_size, d.max_snapshot_size);
  EXPECT_EQ(c->max_batch_keys, d.max_batch_keys);
  EXPECT_EQ(c->scheduler, d.scheduler);
  EXPECT_EQ(c->advertise_addr, d.advertise_addr);
  EXPECT_EQ(c->store_heartbeat_interval, d.store_heartbeat_interval);
}

TEST(SchedulerConfigTest, ExampleFileParsesToTheDefaults) {
  auto c = LoadSchedulerConfigFile(TINYKV_EXAMPLE_SCHEDULER_CONFIG);
  ASSERT_TRUE(c.ok()) << c.status();
  SchedulerServerConfig d;
  EXPECT_EQ(c->addr, d.addr);
  EXPECT_EQ(c->data_dir, d.data_dir);
  EXPECT_EQ(c->max_message_size, d.max_message_size);
  const auto &a = c->schedule, &b = d.schedule;
  EXPECT_EQ(a.max_replicas, b.max_replicas);
  EXPECT_EQ(a.max_store_down_time_ms, b.max_store_down_time_ms);
  EXPECT_EQ(a.store_disconnect_time_ms, b.store_disconnect_time_ms);
  EXPECT_EQ(a.schedule_interval_ms, b.schedule_interval_ms);
  EXPECT_EQ(a.patrol_regions_per_round, b.patrol_regions_per_round);
  EXPECT_EQ(a.leader_schedule_limit, b.leader_schedule_limit);
  EXPECT_EQ(a.region_schedule_limit, b.region_schedule_limit);
  EXPECT_EQ(a.replica_schedule_limit, b.replica_schedule_limit);
  EXPECT_EQ(a.leader_balance_threshold, b.leader_balance_threshold);
  EXPECT_EQ(a.min_balance_region_size, b.min_balance_region_size);
  EXPECT_EQ(a.leader_operator_timeout_ms, b.leader_operator_timeout_ms);
  EXPECT_EQ(a.region_operator_timeout_ms, b.region_operator_timeout_ms);
  EXPECT_EQ(a.prepare_region_fraction, b.prepare_region_fraction);
  EXPECT_EQ(a.prepare_timeout_ms, b.prepare_timeout_ms);
  EXPECT_EQ(a.tso_save_interval_ms, b.tso_save_interval_ms);
  EXPECT_EQ(a.id_batch, b.id_batch);
  EXPECT_EQ(c->log_level, d.log_level);
  EXPECT_TRUE(ValidateSchedulerConfig(*c).ok());
}

TEST(SchedulerConfigTest, BadValuesAreRefused) {
  EXPECT_FALSE(ParseSchedulerConfig("[schedule]\nmax-replicas = -1\n", "t").ok());
  EXPECT_FALSE(ParseSchedulerConfig("[schedule]\nmax-replica = 3\n", "t").ok());  // typo
  auto c = ParseSchedulerConfig(
      "[schedule]\nmax-store-down-time = \"1s\"\nstore-disconnect-time = \"5s\"\n", "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(ValidateSchedulerConfig(*c).ok());  // down before disconnected
  auto z = ParseSchedulerConfig("[schedule]\nmax-replicas = 0\n", "t");
  ASSERT_TRUE(z.ok());
  EXPECT_FALSE(ValidateSchedulerConfig(*z).ok());
}

TEST(ConfigTest, SchedulerModeNeedsAnAddressAndExcludesAFixedMembership) {
  Config c;
  c.scheduler = "127.0.0.1:2379";
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  c.initial_cluster = "1=127.0.0.1:1";
  c.store_id = 1;
  EXPECT_FALSE(ValidateConfig(c).ok());
  c.initial_cluster.clear();
  c.scheduler = "no-port";
  EXPECT_FALSE(ValidateConfig(c).ok());
}

TEST(ConfigTest, LoadFromFile) {
  testing::TempDir dir;
  std::ofstream(dir.Join("c.toml")) << "[server]\naddr = \"127.0.0.1:9\"\n";
  auto c = LoadConfigFile(dir.Join("c.toml"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->addr, "127.0.0.1:9");
  EXPECT_EQ(LoadConfigFile(dir.Join("missing.toml")).status().code(), Code::kIOError);
}

}  // namespace
}  // namespace tinykv::server
