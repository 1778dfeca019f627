#include "costmodel/core_sharing.h"

#include <algorithm>
#include <cmath>

namespace epbench {

namespace {

double binomial(int n, int k) {
  if (k < 0 || k > n) return 0;
  double c = 1;
  for (int i = 1; i <= k; ++i) c = c * (n - k + i) / i;
  return c;
}

// The ways to choose k of the ranks with at most `bound` on any core (core c holds size[c]).
double ways_within(const std::vector<int>& size, int k, int bound) {
  std::vector<double> ways(static_cast<size_t>(k) + 1, 0.0), next;
  ways[0] = 1;
  for (int s : size) {
    next.assign(ways.size(), 0.0);
    for (int j = 0; j <= k; ++j)
      for (int n = 0; n <= std::min(bound, s) && j + n <= k; ++n)
        next[static_cast<size_t>(j + n)] += ways[static_cast<size_t>(j)] * binomial(s, n);
    ways.swap(next);
  }
  return ways[static_cast<size_t>(k)];
}

}  // namespace

std::vector<double> expected_busiest_core(int ranks, int cores) {
  cores = std::clamp(cores, 1, std::max(1, ranks));
  std::vector<int> size(static_cast<size_t>(cores), ranks / cores);
  for (int c = 0; c < ranks % cores; ++c) ++size[static_cast<size_t>(c)];
  std::vector<double> expected;
  for (int k = 1; k <= ranks; ++k) {
    const double all = binomial(ranks, k);
    double e = 0;  // E[max] = sum over t >= 1 of P(max >= t)
    for (int t = 1; t <= k; ++t) e += 1 - ways_within(size, k, t - 1) / all;
    expected.push_back(e);
  }
  return expected;
}

CoreSharing core_sharing(int ranks, double alone) {
  const int per_core = std::clamp(static_cast<int>(std::lround(1 / alone)), 1, ranks);
  const std::vector<double> busiest =
      expected_busiest_core(ranks, (ranks + per_core - 1) / per_core);
  const double full = busiest.back();  // all busy: the fullest core's ranks
  const auto pace = [&](double b) {
    return full <= 1 ? 1.0 : alone + (1 - alone) * (b - 1) / (full - 1);
  };
  CoreSharing s;
  for (int k = 1; k <= ranks; ++k) {
    s.some_idle.push_back(pace(busiest[static_cast<size_t>(k - 1)]));
    s.all_working.push_back(pace(std::min<double>(k, full)));
  }
  return s;
}

}  // namespace epbench
