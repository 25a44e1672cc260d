// Histogram: latencies in microseconds with bounded relative error, in the
// manner of HdrHistogram: values below 2^kSubBits are exact; above, each
// power-of-two range is cut into 2^kSubBits buckets, so a recorded value is
// off by at most 1/2^kSubBits (under 1.6%). Recording is a few shifts and
// an increment; histograms of separate threads are merged for reporting.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace tinykv::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kMagnitudes = 64 - kSubBits;

  void Record(uint64_t us) {
    ++counts_[Index(us)];
    ++total_;
    max_ = std::max(max_, us);
    sum_ += us;
  }
  void Merge(const Histogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
    sum_ += o.sum_;
  }
  void Clear() { *this = Histogram(); }

  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  double mean() const { return total_ == 0 ? 0 : static_cast<double>(sum_) / total_; }
  // The value at quantile q (0..1): the upper edge of the bucket holding it.
  uint64_t Quantile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(UpperEdge(i), max_);
    }
    return max_;
  }

 private:
  static size_t Index(uint64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    // v in [kSub << (mag - 1), kSub << mag): kSub buckets of 2^(mag-1).
    int mag = std::bit_width(v) - kSubBits;  // >= 1
    return static_cast<size_t>(mag) * kSub + static_cast<size_t>((v >> (mag - 1)) - kSub);
  }
  static uint64_t UpperEdge(size_t i) {
    if (i < kSub) return i;
    size_t mag = i / kSub;
    uint64_t sub = i % kSub + kSub;
    return ((sub + 1) << (mag - 1)) - 1;
  }

  std::array<uint64_t, (kMagnitudes + 1) * kSub> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
  uint64_t sum_ = 0;
};

}  // namespace tinykv::bench
