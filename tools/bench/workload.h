// Key choosers and the operation mix of the YCSB-style workloads.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include <fmt/format.h>

namespace tinykv::bench {

// Keys are fixed-width decimal numbers ("00000042"), so that key order is
// number order.
inline std::string KeyOf(uint64_t i, int width) { return fmt::format("{:0{}d}", i, width); }

// Zipfian over [0, n) with exponent theta (YCSB's generator, after Gray et
// al., "Quickly generating billion-record synthetic databases"), scrambled
// by a hash so that the popular keys are spread over the key space (and so
// over regions) rather than all at its start.
class Zipfian {
 public:
  Zipfian(uint64_t n, double theta = 0.99) : n_(n), theta_(theta) {
    zetan_ = Zeta(n, theta);
    double zeta2 = Zeta(2, theta);
    alpha_ = 1.0 / (1.0 - theta);
    eta_ = (1 - std::pow(2.0 / static_cast<double>(n), 1 - theta)) / (1 - zeta2 / zetan_);
  }
  uint64_t Next(std::mt19937_64& rng) const {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    double uz = u * zetan_;
    uint64_t rank;
    if (uz < 1.0) {
      rank = 0;
    } else if (uz < 1.0 + std::pow(0.5, theta_)) {
      rank = 1;
    } else {
      rank = static_cast<uint64_t>(static_cast<double>(n_) *
                                   std::pow(eta_ * u - eta_ + 1, alpha_));
    }
    if (rank >= n_) rank = n_ - 1;
    return Scramble(rank) % n_;
  }

 private:
  static double Zeta(uint64_t n, double theta) {
    double sum = 0;
    for (uint64_t i = 1; i <= n; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
    return sum;
  }
  static uint64_t Scramble(uint64_t x) {  // FNV-1a over the 8 bytes
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; ++i) {
      h ^= (x >> (8 * i)) & 0xff;
      h *= 0x100000001b3ull;
    }
    return h;
  }
  uint64_t n_;
  double theta_, zetan_, alpha_, eta_;
};

}  // namespace tinykv::bench
