// tinykv-bench: a closed-loop, YCSB-style workload driver for TinyKV (raw or
// transactional) and for etcd, so that both are measured by the same code.
// See docs/benchmarks.md.
//
//   tinykv-bench --backend tinykv --scheduler 127.0.0.1:2379 --workload load
//   tinykv-bench --backend etcd --endpoints 127.0.0.1:2381,... --workload c --clients 64
//
// Workloads: load (insert keys 0, 1, 2, ... once each, shared out among the
// clients, until all --keys are written or --duration has passed),
// a (50% read, 50% update), b (95/5), c (read only), scan (scans of up to
// --scan-length keys). Each client is a thread with one request in flight.
// Prints a progress line each second and a final table (or --json).
#include <fmt/format.h>

#include <absl/synchronization/mutex.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "backend.h"
#include "histogram.h"
#include "workload.h"

namespace tinykv::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  BackendOptions backend;
  std::string endpoints;
  std::string workload = "a";
  std::string dist = "uniform";
  uint64_t keys = 100000;
  int key_width = 8;
  size_t value_size = 256;
  double duration_s = 10;
  uint64_t ops = 0;  // 0: run for duration_s
  double warmup_s = 2;
  int scan_length = 100;
  bool json = false;
  bool summary = false;
  bool quiet = false;
};

enum Op { kRead, kUpdate, kInsert, kScan, kNumOps };
const char* kOpNames[kNumOps] = {"read", "update", "insert", "scan"};

struct ClientStats {
  Histogram hist[kNumOps];
  uint64_t errors[kNumOps] = {};
  std::string last_error;
  std::mutex mu;  // the progress reporter reads while the client writes
};

double ReadFraction(const std::string& w) {
  if (w == "a") return 0.5;
  if (w == "b") return 0.95;
  if (w == "c") return 1.0;
  return 0;
}

int Run(const Options& o) {
  auto backend = MakeBackend(o.backend);
  if (!backend.ok()) {
    std::cerr << "tinykv-bench: " << backend.status().ToString() << "\n";
    return 2;
  }
  const bool load = o.workload == "load";
  const bool scan = o.workload == "scan";
  if (!load && !scan && ReadFraction(o.workload) == 0) {
    std::cerr << "tinykv-bench: unknown workload '" << o.workload << "' (load, a, b, c, scan)\n";
    return 2;
  }
  const std::string value(o.value_size, 'v');
  Zipfian zipf(o.keys);
  std::atomic<uint64_t> next_insert{0}, done_ops{0};
  std::atomic<bool> measuring{o.warmup_s <= 0 || load}, stop{false};
  const int n = o.backend.clients;
  std::vector<std::unique_ptr<ClientStats>> stats;
  for (int i = 0; i < n; ++i) stats.push_back(std::make_unique<ClientStats>());

  auto client = [&](int id) {
    std::mt19937_64 rng(static_cast<uint64_t>(id) * 0x9e3779b97f4a7c15ull + 1);
    ClientStats& st = *stats[id];
    while (!stop.load(std::memory_order_relaxed)) {
      Op op;
      uint64_t k;
      if (load) {
        k = next_insert.fetch_add(1);
        if (k >= o.keys) break;
        op = kInsert;
      } else {
        k = o.dist == "zipfian" ? zipf.Next(rng)
                                : std::uniform_int_distribution<uint64_t>(0, o.keys - 1)(rng);
        if (scan) {
          op = kScan;
        } else {
          op = std::uniform_real_distribution<double>(0, 1)(rng) < ReadFraction(o.workload)
                   ? kRead
                   : kUpdate;
        }
      }
      std::string key = KeyOf(k, o.key_width);
      auto t0 = Clock::now();
      Status s;
      switch (op) {
        case kRead:
          s = (*backend)->Get(id, key).status();
          break;
        case kScan: {
          int len = 1 + static_cast<int>(rng() % static_cast<uint64_t>(o.scan_length));
          s = (*backend)->Scan(id, key, len).status();
          break;
        }
        default:
          s = (*backend)->Put(id, key, value);
          break;
      }
      auto us = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
      if (!measuring.load(std::memory_order_relaxed)) continue;
      std::lock_guard lock(st.mu);
      if (s.ok()) {
        st.hist[op].Record(us);
      } else {
        ++st.errors[op];
        st.last_error = s.ToString();
      }
      if (o.ops > 0 && done_ops.fetch_add(1) + 1 >= o.ops) stop = true;
    }
  };

  auto merged = [&](bool clear) {
    std::vector<Histogram> h(kNumOps);
    std::vector<uint64_t> errors(kNumOps, 0);
    std::string last_error;
    for (auto& st : stats) {
      std::lock_guard lock(st->mu);
      for (int op = 0; op < kNumOps; ++op) {
        h[op].Merge(st->hist[op]);
        errors[op] += st->errors[op];
        if (clear) {
          st->hist[op].Clear();
          st->errors[op] = 0;
        }
      }
      if (!st->last_error.empty()) last_error = st->last_error;
    }
    return std::make_tuple(h, errors, last_error);
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back(client, i);
  if (!measuring) {
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(o.warmup_s * 1000)));
    merged(true);
    measuring = true;
  }
  auto start = Clock::now();
  auto deadline = start + std::chrono::milliseconds(static_cast<int64_t>(o.duration_s * 1000));
  std::vector<Histogram> total(kNumOps);
  std::vector<uint64_t> total_errors(kNumOps, 0);
  std::string last_error;
  std::atomic<int> finished{0};
  std::thread watcher([&] {
    for (auto& t : threads) t.join();
    finished = 1;
  });
  for (int second = 1;; ++second) {
    auto tick = start + std::chrono::seconds(second);
    while (Clock::now() < tick && !finished.load() && !stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    bool over = finished.load() || stop.load() || (o.ops == 0 && Clock::now() >= deadline);
    auto [h, errors, err] = merged(true);
    uint64_t ops = 0, errs = 0;
    Histogram all;
    for (int op = 0; op < kNumOps; ++op) {
      total[op].Merge(h[op]);
      total_errors[op] += errors[op];
      ops += h[op].count();
      errs += errors[op];
      all.Merge(h[op]);
    }
    if (!err.empty()) last_error = err;
    if (!o.quiet) {
      std::cerr << fmt::format("[{:4d}s] {:8d} ops/s  p50 {:7.2f} ms  p99 {:7.2f} ms  errors {}\n",
                               second, ops, all.Quantile(0.5) / 1000.0,
                               all.Quantile(0.99) / 1000.0, errs);
    }
    if (over) break;
  }
  stop = true;
  watcher.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  Histogram all;
  uint64_t all_errors = 0;
  for (int op = 0; op < kNumOps; ++op) {
    all.Merge(total[op]);
    all_errors += total_errors[op];
  }
  auto row = [&](const Histogram& h, uint64_t errs) {
    return json{{"ops", h.count()},
                {"ops_per_s", static_cast<double>(h.count()) / elapsed},
                {"errors", errs},
                {"p50_ms", h.Quantile(0.5) / 1000.0},
                {"p95_ms", h.Quantile(0.95) / 1000.0},
                {"p99_ms", h.Quantile(0.99) / 1000.0},
                {"p999_ms", h.Quantile(0.999) / 1000.0},
                {"max_ms", h.max() / 1000.0},
                {"mean_ms", h.mean() / 1000.0}};
  };
  if (o.summary) {
    // One line for scripts: ops/s, p50, p95, p99, p99.9 (ms), errors.
    std::cout << fmt::format("{:.1f}\t{:.3f}\t{:.3f}\t{:.3f}\t{:.3f}\t{}\n",
                             static_cast<double>(all.count()) / elapsed, all.Quantile(0.5) / 1000.0,
                             all.Quantile(0.95) / 1000.0, all.Quantile(0.99) / 1000.0,
                             all.Quantile(0.999) / 1000.0, all_errors);
  } else if (o.json) {
    json j{{"backend", o.backend.kind}, {"workload", o.workload}, {"dist", o.dist},
           {"clients", n},          {"keys", o.keys},         {"value_size", o.value_size},
           {"seconds", elapsed},    {"total", row(all, all_errors)}};
    for (int op = 0; op < kNumOps; ++op) {
      if (total[op].count() + total_errors[op] > 0) j["ops"][kOpNames[op]] = row(total[op], total_errors[op]);
    }
    if (!last_error.empty()) j["last_error"] = last_error;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << fmt::format("{} workload {} ({}), {} clients, {:.1f} s\n", o.backend.kind,
                             o.workload, o.dist, n, elapsed);
    std::cout << fmt::format("{:<8} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}\n", "op",
                             "ops", "ops/s", "p50 ms", "p95 ms", "p99 ms", "p99.9", "max ms",
                             "errors");
    auto print = [&](const char* name, const Histogram& h, uint64_t errs) {
      std::cout << fmt::format("{:<8} {:>10} {:>10.0f} {:>8.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>7}\n",
                               name, h.count(), static_cast<double>(h.count()) / elapsed,
                               h.Quantile(0.5) / 1000.0, h.Quantile(0.95) / 1000.0,
                               h.Quantile(0.99) / 1000.0, h.Quantile(0.999) / 1000.0,
                               h.max() / 1000.0, errs);
    };
    for (int op = 0; op < kNumOps; ++op) {
      if (total[op].count() + total_errors[op] > 0) print(kOpNames[op], total[op], total_errors[op]);
    }
    print("total", all, all_errors);
    if (!last_error.empty()) std::cout << "last error: " << last_error << "\n";
  }
  return all_errors > 0 && all.count() == 0 ? 2 : 0;
}

}  // namespace
}  // namespace tinykv::bench

int main(int argc, char** argv) {
  using tinykv::bench::Options;
  Options o;
  CLI::App app{"tinykv-bench: YCSB-style workloads against TinyKV or etcd", "tinykv-bench"};
  app.add_option("--backend", o.backend.kind, "tinykv, tinykv-txn or etcd")->required();
  app.add_option("--scheduler", o.backend.scheduler, "TinyKV: the scheduler HOST:PORT");
  app.add_option("--endpoints", o.endpoints, "etcd: client HOST:PORT list, comma-separated");
  app.add_option("--workload", o.workload, "load, a, b, c or scan")->capture_default_str();
  app.add_option("--dist", o.dist, "uniform or zipfian")->capture_default_str()
      ->check(CLI::IsMember({"uniform", "zipfian"}));
  app.add_option("--keys", o.keys, "key count")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--key-width", o.key_width, "digits per key")->capture_default_str();
  app.add_option("--value-size", o.value_size, "bytes per value")->capture_default_str();
  app.add_option("--clients", o.backend.clients, "concurrent clients")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--duration", o.duration_s, "seconds to measure")->capture_default_str();
  app.add_option("--ops", o.ops, "stop after this many operations (0: --duration)");
  app.add_option("--warmup", o.warmup_s, "seconds before measuring")->capture_default_str();
  app.add_option("--scan-length", o.scan_length, "most keys per scan")->capture_default_str();
  app.add_option("--txn-keys", o.backend.txn_keys, "tinykv-txn: keys per write transaction")
      ->capture_default_str();
  app.add_option("--timeout", o.backend.timeout_s, "seconds per operation")->capture_default_str();
  app.add_flag("--json", o.json, "print the result as JSON");
  app.add_flag("--summary", o.summary,
               "print one line: ops/s, p50, p95, p99, p99.9 (ms), errors (tab-separated)");
  app.add_flag("--quiet", o.quiet, "no progress lines");
  CLI11_PARSE(app, argc, argv);
  // As the servers do (server/process.cc): no lock-order checks in gRPC's
  // mutexes, which cost the load generator CPU it shares with the servers.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::stringstream ss(o.endpoints);
  for (std::string e; std::getline(ss, e, ',');) {
    if (!e.empty()) o.backend.endpoints.push_back(e);
  }
  return tinykv::bench::Run(o);
}
