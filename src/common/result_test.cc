#include "common/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace tinykv {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  TKV_ASSIGN_OR_RETURN(int h, Half(x));
  TKV_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> ok = Half(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 4);
  EXPECT_TRUE(ok.status().ok());

  Result<int> bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

TEST(ResultTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "odd");
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<std::string>> r = std::make_unique<std::string>("x");
  std::unique_ptr<std::string> p = std::move(r).value();
  EXPECT_EQ(*p, "x");
}

TEST(ResultDeathTest, ValueOfFailedResultAborts) {
  Result<int> bad = Half(3);
  EXPECT_DEATH((void)bad.value(), "value\\(\\) of a failed Result");
}

TEST(ResultDeathTest, OkStatusWithoutValueAborts) {
  EXPECT_DEATH(Result<int>{Status::OK()}, "cannot hold an OK status");
}

}  // namespace
}  // namespace tinykv
