#include "routing/max_flow.h"

#include <lemon/preflow.h>
#include <lemon/smart_graph.h>

#include <vector>

namespace epbench {

struct MaxFlowNetwork::Impl {
  using Graph = lemon::SmartDigraph;
  Graph graph;
  std::vector<Graph::Node> nodes;
  std::vector<Graph::Arc> arcs;
  Graph::ArcMap<int64_t> cap{graph};
  Graph::ArcMap<int64_t> flow{graph};
};

MaxFlowNetwork::MaxFlowNetwork() : impl_(std::make_unique<Impl>()) {}
MaxFlowNetwork::~MaxFlowNetwork() = default;
MaxFlowNetwork::MaxFlowNetwork(const MaxFlowNetwork&) : impl_(std::make_unique<Impl>()) {}
MaxFlowNetwork& MaxFlowNetwork::operator=(const MaxFlowNetwork& other) {
  if (this != &other) impl_ = std::make_unique<Impl>();
  return *this;
}

void MaxFlowNetwork::reset(int nodes) {
  impl_->graph.clear();
  impl_->arcs.clear();
  impl_->nodes.clear();
  for (int i = 0; i < nodes; ++i) impl_->nodes.push_back(impl_->graph.addNode());
}

int MaxFlowNetwork::add_arc(int from, int to, int64_t cap) {
  const auto arc = impl_->graph.addArc(impl_->nodes[static_cast<size_t>(from)],
                                       impl_->nodes[static_cast<size_t>(to)]);
  impl_->cap[arc] = cap;
  impl_->arcs.push_back(arc);
  return static_cast<int>(impl_->arcs.size()) - 1;
}

void MaxFlowNetwork::set_capacity(int arc, int64_t cap) {
  impl_->cap[impl_->arcs[static_cast<size_t>(arc)]] = cap;
}

int64_t MaxFlowNetwork::run(int source, int sink) {
  lemon::Preflow<Impl::Graph, Impl::Graph::ArcMap<int64_t>> preflow(
      impl_->graph, impl_->cap, impl_->nodes[static_cast<size_t>(source)],
      impl_->nodes[static_cast<size_t>(sink)]);
  preflow.flowMap(impl_->flow);
  preflow.run();  // both phases: the flow map holds a maximum flow, not only a cut
  return preflow.flowValue();
}

int64_t MaxFlowNetwork::flow(int arc) const {
  return impl_->flow[impl_->arcs[static_cast<size_t>(arc)]];
}

}  // namespace epbench
