// What RocksEngine adds to the conformance suite: persistence across reopen,
// and clear errors when the directory cannot be used.
#include "storage/rocks/rocks_engine.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/temp_dir.h"

namespace tinykv::storage {
namespace {

RocksOptions Options(const std::string& path) {
  RocksOptions o;
  o.path = path;
  o.block_cache_bytes = 8 << 20;
  return o;
}

TEST(RocksEngineTest, DataSurvivesReopen) {
  testing::TempDir dir;
  {
    auto e = OpenRocksEngine(Options(dir.Join("db")));
    ASSERT_TRUE(e.ok()) << e.status();
    WriteBatch b;
    for (Cf cf : kAllCfs) b.Put(cf, "k", std::string(CfName(cf)));
    b.Put(Cf::kDefault, "gone", "x");
    ASSERT_TRUE((*e)->Write(b, {}).ok());
    WriteBatch d;
    d.Delete(Cf::kDefault, "gone");
    ASSERT_TRUE((*e)->Write(d, WriteOptions{.sync = true}).ok());
  }
  auto e = OpenRocksEngine(Options(dir.Join("db")));
  ASSERT_TRUE(e.ok()) << e.status();
  for (Cf cf : kAllCfs) EXPECT_EQ(*(*e)->Get(cf, "k"), std::string(CfName(cf)));
  EXPECT_EQ(*(*e)->Get(Cf::kDefault, "gone"), std::nullopt);
}

TEST(RocksEngineTest, SecondOpenOfSameDirectoryFails) {
  testing::TempDir dir;
  auto first = OpenRocksEngine(Options(dir.Join("db")));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = OpenRocksEngine(Options(dir.Join("db")));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kIOError) << second.status();
  EXPECT_NE(second.status().message().find("lock"), std::string::npos) << second.status();
}

TEST(RocksEngineTest, PathThatIsAFileFails) {
  testing::TempDir dir;
  std::ofstream(dir.Join("file")) << "not a directory";
  auto e = OpenRocksEngine(Options(dir.Join("file")));
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find(dir.Join("file")), std::string::npos) << e.status();
}

TEST(RocksEngineTest, EmptyPathIsInvalid) {
  auto e = OpenRocksEngine(RocksOptions{});
  EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tinykv::storage
