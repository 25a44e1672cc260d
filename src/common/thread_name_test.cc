#include "common/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

namespace tinykv {
namespace {

std::string NameOf(std::thread& t) {
  char buf[32] = {};
  EXPECT_EQ(pthread_getname_np(t.native_handle(), buf, sizeof buf), 0);
  return buf;
}

std::string NameInThread(std::string_view name) {
  std::string seen;
  std::thread t([&] {
    NameThisThread(name);
    char buf[32] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    seen = buf;
  });
  t.join();
  return seen;
}

TEST(ThreadNameTest, NamesTheCallingThread) {
  EXPECT_EQ(NameInThread("raft-poller"), "raft-poller");
}

TEST(ThreadNameTest, LongNamesAreCutTo15Characters) {
  EXPECT_EQ(NameInThread("raft-to-1234567890"), "raft-to-1234567");
}

TEST(ThreadNameTest, OtherThreadsKeepTheirNames) {
  std::thread t([] {});
  std::string before = NameOf(t);
  t.join();
  (void)NameInThread("something-else");
  std::thread u([] {});
  EXPECT_EQ(NameOf(u), before);
  u.join();
}

}  // namespace
}  // namespace tinykv
