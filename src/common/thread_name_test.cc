#include "common/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <future>
#include <string>
#include <thread>

namespace tinykv {
namespace {

// The name a new, unnamed thread starts with. It is read while the thread
// still runs: the kernel forgets an exited thread's name.
std::string FreshThreadName() {
  std::promise<void> read;
  std::thread t([done = read.get_future()] { done.wait(); });
  char buf[32] = {};
  EXPECT_EQ(pthread_getname_np(t.native_handle(), buf, sizeof buf), 0);
  read.set_value();
  t.join();
  return buf;
}

// The name a NamedThread sees for itself.
std::string NameInThread(std::string_view name) {
  std::string seen;
  std::thread t = NamedThread(std::string(name), [&] {
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
  std::string before = FreshThreadName();
  (void)NameInThread("something-else");
  EXPECT_EQ(FreshThreadName(), before);
}

}  // namespace
}  // namespace tinykv
