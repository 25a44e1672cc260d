// The raw KV commands: the ten Project 1 scenarios of the TinyKV course (named
// after the originals), run on RocksDB as the originals ran on badger, and
// every kind of bad input.
#include "server/raw_kv.h"

#include <gtest/gtest.h>

#include <future>

#include "storage/rocks/rocks_engine.h"
#include "storage/standalone_storage.h"
#include "testing/temp_dir.h"

namespace tinykv::server {
namespace {

using storage::Cf;

class RawKvTest : public ::testing::Test {
 protected:
  RawKvTest() {
    storage::RocksOptions options;
    options.path = dir_.Join("kv");
    options.block_cache_bytes = 8 << 20;
    engine_ = std::move(storage::OpenRocksEngine(options)).value();
    storage_ = std::make_unique<storage::StandaloneStorage>(*engine_, storage::StandaloneOptions{});
    kv_ = std::make_unique<StandaloneKvStorage>(*storage_);
    raw_ = std::make_unique<RawKv>(*kv_, limits_);
  }

  // Calls a handler and waits for it to finish.
  template <typename Request, typename Response>
  Response Call(void (RawKv::*handler)(const Request&, Response*, RawKv::Done),
                const Request& req) {
    Response resp;
    std::promise<void> finished;
    ((*raw_).*handler)(req, &resp, [&] { finished.set_value(); });
    finished.get_future().wait();
    return resp;
  }

  kvrpcpb::RawGetResponse Get(const std::string& cf, const std::string& key) {
    kvrpcpb::RawGetRequest req;
    req.set_cf(cf);
    req.set_key(key);
    return Call(&RawKv::Get, req);
  }
  kvrpcpb::RawPutResponse Put(const std::string& cf, const std::string& key,
                              const std::string& value) {
    kvrpcpb::RawPutRequest req;
    req.set_cf(cf);
    req.set_key(key);
    req.set_value(value);
    return Call(&RawKv::Put, req);
  }
  kvrpcpb::RawDeleteResponse Delete(const std::string& cf, const std::string& key) {
    kvrpcpb::RawDeleteRequest req;
    req.set_cf(cf);
    req.set_key(key);
    return Call(&RawKv::Delete, req);
  }
  kvrpcpb::RawScanResponse Scan(const std::string& cf, const std::string& start, uint32_t limit) {
    kvrpcpb::RawScanRequest req;
    req.set_cf(cf);
    req.set_start_key(start);
    req.set_limit(limit);
    return Call(&RawKv::Scan, req);
  }

  // Writes and reads through the storage directly, as the course's tests do.
  void StoragePut(Cf cf, const std::string& key, const std::string& value) {
    storage::WriteBatch b;
    b.Put(cf, key, value);
    std::promise<Status> done;
    storage_->AsyncWrite(std::move(b), [&](Status s) { done.set_value(s); });
    ASSERT_TRUE(done.get_future().get().ok());
  }
  std::unique_ptr<storage::Snapshot> Reader() {
    std::unique_ptr<storage::Snapshot> out;
    storage_->AsyncSnapshot([&](auto r) { out = std::move(r).value(); });
    return out;
  }

  static std::vector<std::pair<std::string, std::string>> Pairs(const kvrpcpb::RawScanResponse& r) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& kv : r.kvs()) out.emplace_back(kv.key(), kv.value());
    return out;
  }

  testing::TempDir dir_;
  RawKvLimits limits_{.max_key_size = 64,
                      .max_value_size = 1024,
                      .max_scan_limit = 100,
                      .max_response_bytes = 4096};
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<storage::StandaloneStorage> storage_;
  std::unique_ptr<StandaloneKvStorage> kv_;
  std::unique_ptr<RawKv> raw_;
};

// ---- Project 1 ---------------------------------------------------------------

TEST_F(RawKvTest, TestRawGet1) {
  StoragePut(Cf::kDefault, "99", "42");
  auto r = Get("default", "99");
  EXPECT_EQ(r.error(), "");
  EXPECT_FALSE(r.not_found());
  EXPECT_EQ(r.value(), "42");
}

TEST_F(RawKvTest, TestRawGetNotFound1) {
  auto r = Get("default", "99");
  EXPECT_EQ(r.error(), "");
  EXPECT_TRUE(r.not_found());
}

TEST_F(RawKvTest, TestRawPut1) {
  EXPECT_EQ(Put("default", "99", "42").error(), "");
  EXPECT_EQ(*Reader()->Get(Cf::kDefault, "99"), "42");
}

TEST_F(RawKvTest, TestRawGetAfterRawPut1) {
  EXPECT_EQ(Put("default", "2", "42").error(), "");
  EXPECT_EQ(Put("write", "2", "21").error(), "");
  EXPECT_EQ(Get("default", "2").value(), "42");
  EXPECT_EQ(Get("write", "2").value(), "21");
  EXPECT_TRUE(Get("lock", "2").not_found());
}

TEST_F(RawKvTest, TestRawGetAfterRawDelete1) {
  ASSERT_EQ(Put("default", "2", "42").error(), "");
  ASSERT_EQ(Delete("default", "2").error(), "");
  EXPECT_TRUE(Get("default", "2").not_found());
}

TEST_F(RawKvTest, TestRawDelete1) {
  StoragePut(Cf::kDefault, "2", "42");
  EXPECT_EQ(Delete("default", "2").error(), "");
  EXPECT_EQ(*Reader()->Get(Cf::kDefault, "2"), std::nullopt);
}

TEST_F(RawKvTest, TestRawScan1) {
  for (int i = 1; i <= 5; ++i) StoragePut(Cf::kDefault, std::to_string(i), std::to_string(i * 10));
  auto r = Scan("default", "1", 3);
  EXPECT_EQ(r.error(), "");
  EXPECT_EQ(Pairs(r), (std::vector<std::pair<std::string, std::string>>{
                          {"1", "10"}, {"2", "20"}, {"3", "30"}}));
}

TEST_F(RawKvTest, TestRawScanAfterRawPut1) {
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(Put("default", std::to_string(i), "v").error(), "");
  auto r = Scan("default", "1", 10);
  EXPECT_EQ(r.error(), "");
  ASSERT_EQ(r.kvs_size(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r.kvs(i).key(), std::to_string(i + 1));
}

TEST_F(RawKvTest, TestRawScanAfterRawDelete1) {
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(Put("default", std::to_string(i), "v").error(), "");
  ASSERT_EQ(Delete("default", "3").error(), "");
  auto r = Scan("default", "1", 10);
  std::vector<std::string> keys;
  for (const auto& kv : r.kvs()) keys.push_back(kv.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"1", "2", "4", "5"}));
}

TEST_F(RawKvTest, TestIterWithRawDelete1) {
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(Put("default", std::to_string(i), "v").error(), "");
  auto reader = Reader();
  auto it = reader->NewIterator(Cf::kDefault);
  ASSERT_EQ(Delete("default", "3").error(), "");
  std::vector<std::string> keys;
  for (it->Seek("1"); it->Valid(); it->Next()) keys.emplace_back(it->key());
  EXPECT_EQ(keys, (std::vector<std::string>{"1", "2", "3", "4"}));
}

// ---- Beyond Project 1 ----------------------------------------------------------

TEST_F(RawKvTest, EmptyCfMeansDefault) {
  ASSERT_EQ(Put("", "k", "v").error(), "");
  EXPECT_EQ(Get("default", "k").value(), "v");
}

TEST_F(RawKvTest, EmptyValueIsStoredAndFound) {
  ASSERT_EQ(Put("default", "k", "").error(), "");
  auto r = Get("default", "k");
  EXPECT_FALSE(r.not_found());
  EXPECT_EQ(r.value(), "");
}

TEST_F(RawKvTest, BinaryKeysAndValues) {
  std::string key("\x00\xff\x01", 3), value("\x00\x00", 2);
  ASSERT_EQ(Put("default", key, value).error(), "");
  EXPECT_EQ(Get("default", key).value(), value);
}

TEST_F(RawKvTest, ScanStartsAtStartKeyAndStaysInItsFamily) {
  ASSERT_EQ(Put("default", "a", "1").error(), "");
  ASSERT_EQ(Put("default", "c", "3").error(), "");
  ASSERT_EQ(Put("lock", "b", "x").error(), "");
  EXPECT_EQ(Pairs(Scan("default", "b", 10)),
            (std::vector<std::pair<std::string, std::string>>{{"c", "3"}}));
  EXPECT_EQ(Pairs(Scan("default", "", 10)).size(), 2u);  // empty start: from the beginning
  EXPECT_EQ(Pairs(Scan("lock", "", 10)).size(), 1u);
}

TEST_F(RawKvTest, ScanLimitZeroReturnsNothing) {
  ASSERT_EQ(Put("default", "a", "1").error(), "");
  auto r = Scan("default", "", 0);
  EXPECT_EQ(r.error(), "");
  EXPECT_EQ(r.kvs_size(), 0);
}

// ---- Bad input: a typed error in the response, nothing written -------------------

void ExpectInvalid(const std::string& error, const std::string& mentions) {
  Status s = ParseStatus(error);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << error;
  EXPECT_NE(error.find(mentions), std::string::npos) << error;
}

TEST_F(RawKvTest, EmptyKeyIsRejected) {
  ExpectInvalid(Put("default", "", "v").error(), "key is empty");
  ExpectInvalid(Get("default", "").error(), "key is empty");
  ExpectInvalid(Delete("default", "").error(), "key is empty");
  EXPECT_EQ(Scan("default", "", 10).kvs_size(), 0);
}

TEST_F(RawKvTest, OversizedKeyIsRejected) {
  std::string key(65, 'k');
  ExpectInvalid(Put("default", key, "v").error(), "max-key-size 64");
  ExpectInvalid(Get("default", key).error(), "max-key-size");
  ExpectInvalid(Delete("default", key).error(), "max-key-size");
  ExpectInvalid(Scan("default", key, 1).error(), "max-key-size");
  EXPECT_EQ(Put("default", std::string(64, 'k'), "v").error(), "");  // the limit itself is fine
}

TEST_F(RawKvTest, OversizedValueIsRejectedAndNothingWritten) {
  ExpectInvalid(Put("default", "k", std::string(1025, 'v')).error(), "max-value-size 1024");
  EXPECT_TRUE(Get("default", "k").not_found());
  EXPECT_EQ(Put("default", "k", std::string(1024, 'v')).error(), "");
}

TEST_F(RawKvTest, UnknownColumnFamilyIsRejected) {
  ExpectInvalid(Put("bogus", "k", "v").error(), "unknown column family 'bogus'");
  ExpectInvalid(Get("bogus", "k").error(), "unknown column family");
  ExpectInvalid(Delete("bogus", "k").error(), "unknown column family");
  ExpectInvalid(Scan("bogus", "", 1).error(), "unknown column family");
  // The internal family is not reachable from the API.
  ExpectInvalid(Put("meta", "k", "v").error(), "unknown column family 'meta'");
  EXPECT_EQ(*engine_->Get(Cf::kMeta, "k"), std::nullopt);
}

TEST_F(RawKvTest, ScanLimitOverMaximumIsRejected) {
  ExpectInvalid(Scan("default", "", 101).error(), "max-scan-limit 100");
  EXPECT_EQ(Scan("default", "", 100).error(), "");
}

TEST_F(RawKvTest, ScanOverResponseSizeIsRejected) {
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(Put("default", "k" + std::to_string(i), std::string(1000, 'v')).error(), "");
  auto r = Scan("default", "", 10);
  ExpectInvalid(r.error(), "ask for fewer keys");
  EXPECT_EQ(r.kvs_size(), 0);
  EXPECT_EQ(Scan("default", "", 3).kvs_size(), 3);
}

TEST_F(RawKvTest, StorageErrorsReachTheClient) {
  storage_->Stop();
  Status s = ParseStatus(Put("default", "k", "v").error());
  EXPECT_EQ(s.code(), Code::kUnavailable) << s;
}

}  // namespace
}  // namespace tinykv::server
