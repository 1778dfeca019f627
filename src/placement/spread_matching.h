#pragma once
// Exact minimum-weight perfect matching: the `spread` placement in its simple case (top-2, two
// experts per GPU, no replication), where experts paired on one GPU pay the number of tokens
// that chose both (docs/placement-coactivation.md). LEMON's MaxWeightedPerfectMatching
// (Edmonds' blossom algorithm, O(n^3) on the complete graph), compiled as C++17 like
// routing/max_flow.cpp because LEMON 1.3 does not compile as C++20.
#include <utility>
#include <vector>

namespace epbench {

// n even, n >= 2; w[i * n + j] symmetric and finite. Returns n/2 pairs (i < j) of minimum total
// weight, sorted by their first vertex.
std::vector<std::pair<int, int>> min_weight_perfect_matching(int n, const std::vector<double>& w);

}  // namespace epbench
