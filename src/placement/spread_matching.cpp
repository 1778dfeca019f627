#include "placement/spread_matching.h"

#include <lemon/matching.h>
#include <lemon/smart_graph.h>

#include <algorithm>
#include <stdexcept>

namespace epbench {

std::vector<std::pair<int, int>> min_weight_perfect_matching(int n, const std::vector<double>& w) {
  if (n < 2 || n % 2 != 0 || w.size() != static_cast<size_t>(n) * static_cast<size_t>(n))
    throw std::invalid_argument("min_weight_perfect_matching: n must be even and >= 2, w n*n");
  lemon::SmartGraph graph;
  std::vector<lemon::SmartGraph::Node> node;
  for (int i = 0; i < n; ++i) node.push_back(graph.addNode());
  lemon::SmartGraph::EdgeMap<double> weight(graph);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)  // the maximum of -w is the minimum of w
      weight[graph.addEdge(node[static_cast<size_t>(i)], node[static_cast<size_t>(j)])] =
          -w[static_cast<size_t>(i) * static_cast<size_t>(n) + static_cast<size_t>(j)];
  lemon::MaxWeightedPerfectMatching<lemon::SmartGraph, lemon::SmartGraph::EdgeMap<double>> m(
      graph, weight);
  if (!m.run())  // a complete graph on an even number of vertices always has one
    throw std::logic_error("min_weight_perfect_matching: no perfect matching");
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < n; ++i) {
    const int j = graph.id(m.mate(node[static_cast<size_t>(i)]));
    if (i < j) pairs.emplace_back(i, j);
  }
  return pairs;
}

}  // namespace epbench
