#include "histogram.h"

#include <gtest/gtest.h>

#include <random>

#include "workload.h"

namespace tinykv::bench {
namespace {

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 0; v < 64; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 64u);
  EXPECT_EQ(h.Quantile(0), 0u);
  EXPECT_EQ(h.Quantile(0.5), 31u);
  EXPECT_EQ(h.Quantile(1), 63u);
  EXPECT_EQ(h.max(), 63u);
}

TEST(HistogramTest, QuantilesWithinTheRelativeError) {
  Histogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.Record(v);
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    double want = q * 100000;
    double got = static_cast<double>(h.Quantile(q));
    EXPECT_NEAR(got, want, want / 32) << q;
  }
  EXPECT_EQ(h.Quantile(1), 100000u);
  Histogram big;
  big.Record(UINT64_MAX);
  EXPECT_EQ(big.Quantile(0.5), UINT64_MAX);
}

TEST(HistogramTest, MergeAddsCounts) {
  Histogram a, b;
  for (int i = 0; i < 100; ++i) a.Record(10);
  for (int i = 0; i < 100; ++i) b.Record(1000);
  a.Merge(b);
  EXPECT_EQ(a.count(), 200u);
  EXPECT_EQ(a.Quantile(0.25), 10u);
  EXPECT_NEAR(static_cast<double>(a.Quantile(0.75)), 1000, 1000 / 32.0);
  EXPECT_DOUBLE_EQ(a.mean(), 505);
}

TEST(ZipfianTest, SkewedAndInRange) {
  Zipfian z(1000);
  std::mt19937_64 rng(1);
  std::vector<int> hits(1000);
  for (int i = 0; i < 100000; ++i) {
    uint64_t k = z.Next(rng);
    ASSERT_LT(k, 1000u);
    ++hits[k];
  }
  std::sort(hits.rbegin(), hits.rend());
  // The hottest key takes far more than a uniform share (100), the top 10%
  // most of the traffic.
  EXPECT_GT(hits[0], 5000);
  int top = 0;
  for (int i = 0; i < 100; ++i) top += hits[i];
  EXPECT_GT(top, 50000);
}

}  // namespace
}  // namespace tinykv::bench
