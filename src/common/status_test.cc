#include "common/status.h"

#include <gtest/gtest.h>

namespace tinykv {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ToStringNamesTheCode) {
  EXPECT_EQ(Status::InvalidArgument("key is empty").ToString(), "InvalidArgument: key is empty");
  EXPECT_EQ(Status::IOError("disk full").ToString(), "IOError: disk full");
}

TEST(StatusTest, ParseRoundTripsEveryCode) {
  for (Code c : {Code::kNotFound, Code::kInvalidArgument, Code::kCorruption, Code::kIOError,
                 Code::kNotSupported, Code::kBusy, Code::kUnavailable, Code::kDeadlineExceeded,
                 Code::kAborted, Code::kInternal}) {
    Status s(c, "some: message");
    EXPECT_EQ(ParseStatus(s.ToString()), s) << s.ToString();
  }
  EXPECT_TRUE(ParseStatus("OK").ok());
}

TEST(StatusTest, ParseUnknownTextIsInternal) {
  Status s = ParseStatus("something broke");
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_EQ(s.message(), "something broke");
  // A code name without the separator is not a code prefix.
  EXPECT_EQ(ParseStatus("Busy").code(), Code::kInternal);
}

TEST(StatusTest, WithContextPrependsAndKeepsCode) {
  Status s = Status::NotFound("no such file").WithContext("open /x");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "open /x: no such file");
  EXPECT_TRUE(Status::OK().WithContext("ignored").ok());
}

Status FailIfNegative(int x) {
  if (x < 0) return Status::InvalidArgument("negative");
  return Status::OK();
}

Status Chain(int x) {
  TKV_RETURN_IF_ERROR(FailIfNegative(x));
  return Status::NotFound("reached the end");
}

TEST(StatusTest, ReturnIfErrorStopsAtFirstFailure) {
  EXPECT_EQ(Chain(-1).code(), Code::kInvalidArgument);
  EXPECT_EQ(Chain(1).code(), Code::kNotFound);
}

}  // namespace
}  // namespace tinykv
