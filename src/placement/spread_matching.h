#pragma once
// Exact minimum-weight perfect matching for small graphs: the `spread` placement in its simple
// case (top-2, two experts per GPU, no replication), where experts paired on one GPU pay the
// number of tokens that chose both (docs/placement-coactivation.md).
#include <utility>
#include <vector>

namespace epbench {

// Largest vertex count solved exactly (dynamic programming over subsets: 2^n states).
inline constexpr int kMaxExactMatching = 20;

// n even, 2 <= n <= kMaxExactMatching; w[i * n + j] symmetric. Returns n/2 pairs (i < j) of
// minimum total weight; ties go to the first matching found in lexicographic order.
std::vector<std::pair<int, int>> min_weight_perfect_matching(int n, const std::vector<double>& w);

}  // namespace epbench
