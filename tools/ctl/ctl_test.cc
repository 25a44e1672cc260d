// tinykv-ctl, run in-process against a server on a loopback port.
#include "ctl.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/bytes.h"
#include "server/server.h"
#include "testing/temp_dir.h"

namespace tinykv::ctl {
namespace {

struct CtlRun {
  int code;
  std::string out;
  std::string err;
};

class CtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::Config config;
    config.standalone = true;
    config.addr = "127.0.0.1:0";
    config.data_dir = dir_.Join("data");
    config.block_cache_size = 8 << 20;
    config.max_value_size = 1024;
    auto s = server::Server::Start(config);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(s).value();
  }

  CtlRun Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"tinykv-ctl", "--addr", server_->address()});
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    std::ostringstream out, err;
    int code = RunCtl(static_cast<int>(argv.size()), argv.data(), out, err);
    return {code, out.str(), err.str()};
  }

  testing::TempDir dir_;
  std::unique_ptr<server::Server> server_;
};

TEST_F(CtlTest, PutGetDeleteScan) {
  CtlRun put = Ctl({"raw", "put", "k1", "hello world"});
  EXPECT_EQ(put.code, kExitOk) << put.err;
  EXPECT_EQ(put.out, "OK\n");
  ASSERT_EQ(Ctl({"raw", "put", "k2", "v2"}).code, kExitOk);

  CtlRun get = Ctl({"raw", "get", "k1"});
  EXPECT_EQ(get.code, kExitOk);
  EXPECT_EQ(get.out, "hello world\n");  // the value alone
  EXPECT_EQ(get.err, "");

  CtlRun scan = Ctl({"raw", "scan", ""});
  EXPECT_EQ(scan.code, kExitOk);
  EXPECT_EQ(scan.out, "k1\thello world\nk2\tv2\n");
  EXPECT_EQ(Ctl({"raw", "scan", "k2"}).out, "k2\tv2\n");
  EXPECT_EQ(Ctl({"raw", "scan", "", "--limit", "1"}).out, "k1\thello world\n");

  EXPECT_EQ(Ctl({"raw", "delete", "k1"}).code, kExitOk);
  CtlRun gone = Ctl({"raw", "get", "k1"});
  EXPECT_EQ(gone.code, kExitNotFound);
  EXPECT_EQ(gone.out, "");
  EXPECT_EQ(gone.err, "tinykv-ctl: not found\n");
}

TEST_F(CtlTest, ColumnFamilies) {
  ASSERT_EQ(Ctl({"raw", "put", "k", "in-lock", "--cf", "lock"}).code, kExitOk);
  EXPECT_EQ(Ctl({"raw", "get", "k"}).code, kExitNotFound);
  EXPECT_EQ(Ctl({"raw", "get", "k", "--cf", "lock"}).out, "in-lock\n");
  CtlRun bad = Ctl({"raw", "get", "k", "--cf", "nope"});
  EXPECT_EQ(bad.code, kExitError);
  EXPECT_NE(bad.err.find("InvalidArgument: unknown column family 'nope'"), std::string::npos)
      << bad.err;
}

TEST_F(CtlTest, BinaryKeysAndValuesEscapedOrHex) {
  ASSERT_EQ(Ctl({"raw", "put", "a\\x00b", "\\xff\\n"}).code, kExitOk);
  EXPECT_EQ(Ctl({"raw", "get", "a\\x00b"}).out, "\\xff\\n\n");
  EXPECT_EQ(Ctl({"--hex", "raw", "get", "610062"}).out, "ff0a\n");
  ASSERT_EQ(Ctl({"--hex", "raw", "put", "00", "0001"}).code, kExitOk);
  EXPECT_EQ(Ctl({"raw", "get", "\\x00"}).out, "\\x00\\x01\n");
  EXPECT_EQ(Ctl({"--hex", "raw", "scan", "", "--limit", "1"}).out, "00\t0001\n");
}

TEST_F(CtlTest, BadEscapeIsAnError) {
  CtlRun r = Ctl({"raw", "put", "bad\\q", "v"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("KEY: unknown escape"), std::string::npos) << r.err;
  EXPECT_EQ(Ctl({"--hex", "raw", "get", "zz"}).code, kExitError);
}

TEST_F(CtlTest, JsonOutput) {
  CtlRun put = Ctl({"--json", "raw", "put", "k", "v\\x01"});
  EXPECT_EQ(nlohmann::json::parse(put.out)["ok"], true);
  auto got = nlohmann::json::parse(Ctl({"--json", "raw", "get", "k"}).out);
  EXPECT_EQ(got["found"], true);
  EXPECT_EQ(got["value"], "v\\x01");
  CtlRun missing = Ctl({"--json", "raw", "get", "nope"});
  EXPECT_EQ(missing.code, kExitNotFound);
  EXPECT_EQ(nlohmann::json::parse(missing.out)["found"], false);
  auto scan = nlohmann::json::parse(Ctl({"--json", "raw", "scan", ""}).out);
  ASSERT_EQ(scan["kvs"].size(), 1u);
  EXPECT_EQ(scan["kvs"][0]["key"], "k");
  CtlRun err = Ctl({"--json", "raw", "put", "", "v"});
  EXPECT_EQ(err.code, kExitError);
  auto e = nlohmann::json::parse(err.out);
  EXPECT_EQ(e["error"]["code"], "InvalidArgument");
  EXPECT_EQ(e["error"]["message"], "key is empty");
}

TEST_F(CtlTest, ValueFromFile) {
  std::string value("line1\nline2\0end", 15);
  std::ofstream(dir_.Join("v.bin"), std::ios::binary) << value;
  ASSERT_EQ(Ctl({"raw", "put", "k", "--value-file", dir_.Join("v.bin")}).code, kExitOk);
  EXPECT_EQ(Ctl({"--hex", "raw", "get", "6b"}).out, ToHex(value) + "\n");
  EXPECT_EQ(Ctl({"raw", "put", "k", "v", "--value-file", dir_.Join("v.bin")}).code, kExitError);
  EXPECT_EQ(Ctl({"raw", "put", "k"}).code, kExitError);
  CtlRun missing = Ctl({"raw", "put", "k", "--value-file", dir_.Join("nope")});
  EXPECT_EQ(missing.code, kExitError);
  EXPECT_NE(missing.err.find("IOError"), std::string::npos);
}

TEST_F(CtlTest, ServerSideLimitsComeBackAsErrors) {
  std::ofstream(dir_.Join("big"), std::ios::binary) << std::string(1025, 'x');
  CtlRun r = Ctl({"raw", "put", "k", "--value-file", dir_.Join("big")});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("InvalidArgument: value is 1025 bytes, over max-value-size 1024"),
            std::string::npos)
      << r.err;
  CtlRun empty = Ctl({"raw", "get", ""});
  EXPECT_EQ(empty.code, kExitError);
  EXPECT_NE(empty.err.find("key is empty"), std::string::npos);
  // The server still answers.
  EXPECT_EQ(Ctl({"raw", "put", "k", "small"}).code, kExitOk);
}

TEST_F(CtlTest, Health) {
  CtlRun r = Ctl({"health"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "SERVING\n");
}

TEST_F(CtlTest, UnreachableStoreIsUnavailable) {
  std::string addr = server_->address();
  server_->Shutdown();
  std::vector<const char*> argv = {"tinykv-ctl", "--addr", addr.c_str(), "--timeout",
                                   "2",          "raw",    "get",        "k"};
  std::ostringstream out, err;
  EXPECT_EQ(RunCtl(static_cast<int>(argv.size()), argv.data(), out, err), kExitError);
  // Depending on timing the connection is refused or the deadline passes.
  EXPECT_TRUE(err.str().find("Unavailable: cannot reach") != std::string::npos ||
              err.str().find("DeadlineExceeded") != std::string::npos)
      << err.str();
}

TEST_F(CtlTest, HelpAndUsage) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"raw", "--help"},
                                             {"raw", "get", "--help"},
                                             {"raw", "put", "--help"},
                                             {"raw", "delete", "--help"},
                                             {"raw", "scan", "--help"},
                                             {"health", "--help"}}) {
    CtlRun r = Ctl(args);
    EXPECT_EQ(r.code, kExitOk) << args.back();
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
  EXPECT_EQ(Ctl({}).code, kExitError);              // no command
  EXPECT_EQ(Ctl({"raw", "get"}).code, kExitError);  // missing KEY
  EXPECT_EQ(Ctl({"raw", "frobnicate"}).code, kExitError);
}

}  // namespace
}  // namespace tinykv::ctl
