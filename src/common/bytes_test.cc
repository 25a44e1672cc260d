#include "common/bytes.h"

#include <gtest/gtest.h>

#include <string>

namespace tinykv {
namespace {

using namespace std::string_literals;

TEST(BytesTest, TextEscapesToItself) {
  EXPECT_EQ(EscapeBytes("hello world 42!"), "hello world 42!");
}

TEST(BytesTest, EscapesControlAndHighBytes) {
  EXPECT_EQ(EscapeBytes("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeBytes("\n\r\t"), "\\n\\r\\t");
  EXPECT_EQ(EscapeBytes("\x00\x7f\xff"s), "\\x00\\x7f\\xff");
}

TEST(BytesTest, EscapeRoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  auto back = UnescapeBytes(EscapeBytes(all));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, all);
}

TEST(BytesTest, UnescapeAcceptsShortNul) {
  EXPECT_EQ(*UnescapeBytes("a\\0b"), "a\0b"s);
  EXPECT_EQ(*UnescapeBytes("\\xAb"), "\xab"s);
}

TEST(BytesTest, UnescapeRejectsBadSequences) {
  EXPECT_EQ(UnescapeBytes("abc\\").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(UnescapeBytes("\\q").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(UnescapeBytes("\\x4").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(UnescapeBytes("\\xzz").status().code(), Code::kInvalidArgument);
}

TEST(BytesTest, HexRoundTrip) {
  std::string b = "\x00\x01\xfe\xff key"s;
  EXPECT_EQ(ToHex(b), "0001feff206b6579");
  EXPECT_EQ(*FromHex(ToHex(b)), b);
  EXPECT_EQ(*FromHex("ABcd"), "\xab\xcd"s);
  EXPECT_EQ(*FromHex(""), "");
}

TEST(BytesTest, FromHexRejectsBadInput) {
  EXPECT_EQ(FromHex("abc").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(FromHex("zz").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tinykv
