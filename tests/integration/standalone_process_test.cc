// The real tinykv-server process, driven by the real tinykv-ctl: the
// acceptance path of a standalone node. Acknowledged writes must survive
// SIGKILL; bad input must get an error and leave the server serving.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace tinykv {
namespace {

using testing::CommandResult;
using testing::RunCommand;

class StandaloneProcessTest : public ::testing::Test {
 protected:
  // Starts tinykv-server on a free loopback port and waits until it serves.
  void StartServer(std::vector<std::string> extra = {}) {
    std::filesystem::remove(AddrFile());
    std::vector<std::string> argv = {TINYKV_SERVER_BIN, "--standalone", "--addr",
                                     "127.0.0.1:0",     "--data-dir",   dir_.Join("data"),
                                     "--addr-file",     AddrFile()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<testing::Subprocess>(argv, LogFile());
    ASSERT_TRUE(testing::WaitFor([&] {
      return std::filesystem::exists(AddrFile()) || !server_->Running();
    })) << Log();
    ASSERT_TRUE(server_->Running()) << Log();
    addr_ = testing::ReadFileOrEmpty(AddrFile());
    while (!addr_.empty() && addr_.back() == '\n') addr_.pop_back();
    ASSERT_FALSE(addr_.empty());
  }

  CommandResult Ctl(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {TINYKV_CTL_BIN, "--addr", addr_, "--timeout", "20"});
    return RunCommand(args, stdin_data);
  }

  std::string AddrFile() const { return dir_.Join("addr"); }
  std::string LogFile() const { return dir_.Join("server.log"); }
  std::string Log() const { return "server log:\n" + testing::ReadFileOrEmpty(LogFile()); }

  // Every pair in the default column family, via one `raw scan --json`.
  std::map<std::string, std::string> ScanAll() {
    CommandResult r = Ctl({"--json", "raw", "scan", "", "--limit", "10000"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, std::string> out;
    if (r.exit_code != 0) return out;
    nlohmann::json parsed = nlohmann::json::parse(r.out);
    for (const auto& kv : parsed["kvs"]) out[kv["key"]] = kv["value"];
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::Subprocess> server_;
  std::string addr_;
};

TEST_F(StandaloneProcessTest, PutGetDeleteScanThroughCtl) {
  StartServer();
  ASSERT_EQ(Ctl({"health"}).out, "SERVING\n");
  CommandResult put = Ctl({"raw", "put", "greeting", "hello"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  CommandResult get = Ctl({"raw", "get", "greeting"});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_EQ(get.out, "hello\n");
  ASSERT_EQ(Ctl({"raw", "put", "bin\\x00key", "\\xff"}).exit_code, 0);
  EXPECT_EQ(Ctl({"raw", "scan", ""}).out, "bin\\x00key\t\\xff\ngreeting\thello\n");
  ASSERT_EQ(Ctl({"raw", "delete", "greeting"}).exit_code, 0);
  CommandResult missing = Ctl({"raw", "get", "greeting"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "");
}

// Writers keep writing through tinykv-ctl while the server is killed with
// SIGKILL. After a restart, every write that tinykv-ctl acknowledged (exit 0)
// is there, and every acknowledged delete stays deleted.
TEST_F(StandaloneProcessTest, AcknowledgedWritesSurviveSigkill) {
  StartServer();
  // Some deletes acknowledged before the load starts.
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(Ctl({"raw", "put", "doomed" + std::to_string(i), "x"}).exit_code, 0);
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(Ctl({"raw", "delete", "doomed" + std::to_string(i)}).exit_code, 0);

  constexpr int kWriters = 2;
  std::vector<std::vector<std::string>> acked(kWriters);
  std::atomic<bool> stop{false};
  std::atomic<int> total{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        std::string key = "w" + std::to_string(w) + "-" + std::to_string(i);
        if (Ctl({"raw", "put", key, "value-of-" + key}).exit_code != 0) return;
        acked[w].push_back(key);
        ++total;
      }
    });
  }
  ASSERT_TRUE(testing::WaitFor([&] { return total >= 40; }));
  server_->Signal(SIGKILL);
  EXPECT_EQ(server_->Wait(), 128 + SIGKILL);
  stop = true;
  for (auto& t : writers) t.join();

  StartServer();
  auto all = ScanAll();
  size_t count = 0;
  for (const auto& keys : acked) {
    for (const auto& key : keys) {
      ASSERT_EQ(all.count(key), 1u) << "acknowledged write lost: " << key;
      EXPECT_EQ(all[key], "value-of-" + key);
      ++count;
    }
  }
  EXPECT_GE(count, 40u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(all.count("doomed" + std::to_string(i)), 0u);
  // Nothing appeared that nobody wrote.
  for (const auto& [key, value] : all) EXPECT_EQ(value, "value-of-" + key);
}

TEST_F(StandaloneProcessTest, SigtermShutsDownCleanly) {
  StartServer();
  ASSERT_EQ(Ctl({"raw", "put", "k", "v"}).exit_code, 0);
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(), 0) << Log();
  EXPECT_NE(Log().find("server stopped"), std::string::npos) << Log();
  EXPECT_FALSE(std::filesystem::exists(AddrFile()));
  StartServer();
  EXPECT_EQ(Ctl({"raw", "get", "k"}).out, "v\n");
}

TEST_F(StandaloneProcessTest, EveryBadInputGetsAnErrorAndServerKeepsServing) {
  std::ofstream(dir_.Join("tinykv.toml")) << R"(
[server]
max-message-size = "1MiB"
[limits]
max-key-size = 16
max-value-size = "512KiB"
max-scan-limit = 5
)";
  StartServer({"--config", dir_.Join("tinykv.toml")});
  auto expect_error = [&](std::vector<std::string> args, const std::string& mentions) {
    CommandResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 2) << args.back();
    EXPECT_NE(r.err.find(mentions), std::string::npos) << r.err;
    // One line on stderr.
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    // The server still answers.
    EXPECT_EQ(Ctl({"health"}).exit_code, 0);
  };
  expect_error({"raw", "put", "", "v"}, "InvalidArgument: key is empty");
  expect_error({"raw", "get", ""}, "InvalidArgument: key is empty");
  expect_error({"raw", "put", std::string(17, 'k'), "v"}, "over max-key-size 16");
  expect_error({"raw", "put", "k", "v", "--cf", "nope"}, "unknown column family 'nope'");
  expect_error({"raw", "scan", "", "--limit", "6"}, "over max-scan-limit 5");

  std::ofstream(dir_.Join("value"), std::ios::binary) << std::string((512 << 10) + 1, 'v');
  expect_error({"raw", "put", "k", "--value-file", dir_.Join("value")},
               "over max-value-size 524288");
  std::ofstream(dir_.Join("huge"), std::ios::binary) << std::string(2 << 20, 'v');
  expect_error({"raw", "put", "k", "--value-file", dir_.Join("huge")}, "message too large");

  CommandResult zero = Ctl({"raw", "scan", "", "--limit", "0"});
  EXPECT_EQ(zero.exit_code, 0);
  EXPECT_EQ(zero.out, "");
  // Nothing of the above was written, and good requests work.
  EXPECT_EQ(Ctl({"raw", "get", "k"}).exit_code, 1);
  ASSERT_EQ(Ctl({"raw", "put", "k", "fine"}).exit_code, 0);
  EXPECT_EQ(Ctl({"raw", "get", "k"}).out, "fine\n");
}

TEST_F(StandaloneProcessTest, StartupErrorsAreClear) {
  StartServer();
  // A second server on the same data directory.
  CommandResult second = RunCommand({TINYKV_SERVER_BIN, "--standalone", "--addr", "127.0.0.1:0",
                                     "--data-dir", dir_.Join("data")});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("lock"), std::string::npos) << second.err;
  // A second server on the same port.
  CommandResult port = RunCommand(
      {TINYKV_SERVER_BIN, "--standalone", "--addr", addr_, "--data-dir", dir_.Join("other")});
  EXPECT_EQ(port.exit_code, 1);
  EXPECT_NE(port.err.find("cannot listen"), std::string::npos) << port.err;
  // Bad configuration.
  std::ofstream(dir_.Join("bad.toml")) << "[limits]\nmax-key-sise = 1\n";
  CommandResult bad =
      RunCommand({TINYKV_SERVER_BIN, "--standalone", "--config", dir_.Join("bad.toml")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("unknown key 'limits.max-key-sise'"), std::string::npos) << bad.err;
  CommandResult level = RunCommand({TINYKV_SERVER_BIN, "--standalone", "--log-level", "loud"});
  EXPECT_EQ(level.exit_code, 2);
  // Cluster mode needs its members, and says so.
  CommandResult cluster =
      RunCommand({TINYKV_SERVER_BIN, "--addr", "127.0.0.1:0", "--data-dir", dir_.Join("c")});
  EXPECT_EQ(cluster.exit_code, 2);
  EXPECT_NE(cluster.err.find("--initial-cluster"), std::string::npos) << cluster.err;
  EXPECT_NE(cluster.err.find("--standalone"), std::string::npos) << cluster.err;
  // The first server was not disturbed.
  EXPECT_EQ(Ctl({"health"}).exit_code, 0);
}

TEST_F(StandaloneProcessTest, HelpAndVersion) {
  CommandResult help = RunCommand({TINYKV_SERVER_BIN, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--standalone"), std::string::npos);
  EXPECT_EQ(RunCommand({TINYKV_SERVER_BIN, "--version"}).exit_code, 0);
  EXPECT_EQ(RunCommand({TINYKV_SERVER_BIN, "--no-such-flag"}).exit_code, 2);
  EXPECT_EQ(RunCommand({TINYKV_CTL_BIN, "--help"}).exit_code, 0);
}

}  // namespace
}  // namespace tinykv
