#include "common/codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace tinykv {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

TEST(CodecTest, EncodeExactBytes) {
  EXPECT_EQ(EncodeBytes(""), Bytes({0, 0, 0, 0, 0, 0, 0, 0, 0xF7}));
  EXPECT_EQ(EncodeBytes("a"), Bytes({'a', 0, 0, 0, 0, 0, 0, 0, 0xF8}));
  EXPECT_EQ(EncodeBytes("1234567"), Bytes({'1', '2', '3', '4', '5', '6', '7', 0, 0xFE}));
  EXPECT_EQ(EncodeBytes("12345678"),
            Bytes({'1', '2', '3', '4', '5', '6', '7', '8', 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0xF7}));
  EXPECT_EQ(EncodeBytes("123456789"),
            Bytes({'1', '2', '3', '4', '5', '6', '7', '8', 0xFF, '9', 0, 0, 0, 0, 0, 0, 0, 0xF8}));
}

TEST(CodecTest, RoundTripsAndKeepsOrder) {
  std::vector<std::string> keys = {"",         std::string(1, '\0'), std::string(8, '\0'),
                                   "a",        "a\xff",              "aa",
                                   "abcdefgh", std::string("abcdefgh\0", 9), "abcdefghi",
                                   "b",        "\xff\xff\xff\xff\xff\xff\xff\xff\xff"};
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> enc;
  for (const auto& k : keys) {
    enc.push_back(EncodeBytes(k));
    auto d = DecodeBytes(enc.back() + "trailing");
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->key, k);
    EXPECT_EQ(d->consumed, enc.back().size());
  }
  EXPECT_TRUE(std::is_sorted(enc.begin(), enc.end()));
  // No encoding is a prefix of another's.
  for (size_t i = 0; i < enc.size(); ++i) {
    for (size_t j = 0; j < enc.size(); ++j) {
      if (i != j) {
        EXPECT_NE(enc[j].rfind(enc[i], 0), 0u) << i << " " << j;
      }
    }
  }
}

TEST(CodecTest, DecodeRejectsMalformed) {
  EXPECT_FALSE(DecodeBytes("").ok());
  EXPECT_FALSE(DecodeBytes("abc").ok());
  EXPECT_FALSE(DecodeBytes(Bytes({'a', 0, 0, 0, 0, 0, 0, 0, 0x10})).ok());  // marker
  EXPECT_FALSE(DecodeBytes(Bytes({'a', 'b', 0, 0, 0, 0, 0, 0, 0xF8})).ok());  // padding
  EXPECT_FALSE(DecodeBytes(Bytes({'1', '2', '3', '4', '5', '6', '7', '8', 0xFF})).ok());
}

TEST(CodecTest, TrimToEncodedPrefix) {
  std::string k = EncodeBytes("key");
  std::string ts(8, '\x01');
  EXPECT_EQ(TrimToEncodedPrefix(k + ts), k);
  EXPECT_EQ(TrimToEncodedPrefix(k + "x"), k);
  EXPECT_EQ(TrimToEncodedPrefix(k), k);                      // nothing after it
  EXPECT_EQ(TrimToEncodedPrefix(k + ts + "x"), k + ts + "x");  // too much after it
  EXPECT_EQ(TrimToEncodedPrefix("raw key"), "raw key");      // not encoded
}

}  // namespace
}  // namespace tinykv
