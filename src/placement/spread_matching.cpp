#include "placement/spread_matching.h"

#include <bit>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace epbench {

// dp[mask] = cheapest way to pair off the vertices in mask, built by always pairing the lowest
// vertex not yet in mask: each matching is then reached exactly once, so the DP is exact and
// visits O(2^n * n) transitions (n = 20: about 10^7, milliseconds).
std::vector<std::pair<int, int>> min_weight_perfect_matching(int n, const std::vector<double>& w) {
  if (n < 2 || n % 2 != 0 || n > kMaxExactMatching)
    throw std::invalid_argument("min_weight_perfect_matching: n out of range");
  const uint32_t full = (1u << n) - 1;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> dp(size_t{full} + 1, kInf);
  std::vector<uint32_t> from(size_t{full} + 1, 0);  // the pair added last, as two bits
  dp[0] = 0;
  for (uint32_t mask = 0; mask < full; ++mask) {
    if (dp[mask] == kInf) continue;
    const int i = std::countr_one(mask);
    for (int j = i + 1; j < n; ++j) {
      if (mask & (1u << j)) continue;
      const uint32_t next = mask | (1u << i) | (1u << j);
      const double c =
          dp[mask] + w[static_cast<size_t>(i) * static_cast<size_t>(n) + static_cast<size_t>(j)];
      if (c < dp[next]) dp[next] = c, from[next] = (1u << i) | (1u << j);
    }
  }
  std::vector<std::pair<int, int>> pairs;
  for (uint32_t mask = full; mask != 0; mask &= ~from[mask]) {
    const uint32_t p = from[mask];
    pairs.emplace_back(std::countr_zero(p), 31 - std::countl_zero(p));
  }
  return pairs;
}

}  // namespace epbench
