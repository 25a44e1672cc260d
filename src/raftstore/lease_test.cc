#include "raftstore/lease.h"

#include <gtest/gtest.h>

namespace tinykv::raftstore {
namespace {

TEST(LeaderLease, RunsFromWhenTheRoundWasSent) {
  LeaderLease l(800);
  EXPECT_FALSE(l.Valid(0));
  l.Renew({1000, l.generation()});
  EXPECT_TRUE(l.Valid(1000));
  EXPECT_TRUE(l.Valid(1799));
  EXPECT_FALSE(l.Valid(1800));
}

TEST(LeaderLease, AnOlderRoundNeverShortensIt) {
  LeaderLease l(800);
  l.Renew({2000, l.generation()});
  l.Renew({1000, l.generation()});  // answered late
  EXPECT_TRUE(l.Valid(2700));
  EXPECT_EQ(l.until_ms(), 2800u);
}

TEST(LeaderLease, RoundsOfAnOlderGenerationDoNotCount) {
  LeaderLease l(800);
  uint64_t before = l.generation();
  l.Renew({1000, before});
  l.Expire();  // e.g. a leadership transfer started
  EXPECT_FALSE(l.Valid(1001));
  l.Renew({1000, before});  // a round sent before the transfer
  EXPECT_FALSE(l.Valid(1001));
  l.Renew({1100, LeaderLease::kNoRenewal});  // a round sent while it ran
  EXPECT_FALSE(l.Valid(1101));
  l.Renew({1200, l.generation()});
  EXPECT_TRUE(l.Valid(1201));
}

TEST(LeaderLease, AsksForRenewalInItsLastThird) {
  LeaderLease l(900);
  EXPECT_TRUE(l.WantsRenewal(0));  // never held
  l.Renew({1000, l.generation()});   // until 1900
  EXPECT_FALSE(l.WantsRenewal(1500));
  EXPECT_TRUE(l.WantsRenewal(1600));
  EXPECT_TRUE(l.WantsRenewal(5000));  // expired
}

}  // namespace
}  // namespace tinykv::raftstore
