#include "placement/metis_partition.h"

#include <metis.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <tuple>

namespace epbench {
namespace {

// METIS wants integer weights: scale to at most 1e6 (plenty of resolution, no overflow in its
// idx_t sums over a few thousand vertices), never below 1 so no edge or vertex vanishes.
idx_t scaled(double v, double max_v) {
  return static_cast<idx_t>(std::max(1.0, std::round(v / max_v * 1e6)));
}

constexpr size_t kMetisDegree = 12;

struct Csr {
  std::vector<idx_t> xadj{0}, adjncy, adjwgt, vwgt;
};

// The d-th largest edge weight at each unit (0 if it has fewer edges).
std::vector<double> degree_thresholds(const UnitGraph& g, const std::vector<int>& units, size_t d) {
  std::vector<double> thr(units.size(), 0), row;
  for (size_t i = 0; i < units.size(); ++i) {
    row.clear();
    for (int b : units)
      if (g.weight(units[i], b) > 0) row.push_back(g.weight(units[i], b));
    if (row.size() <= d) continue;
    std::nth_element(row.begin(), row.begin() + std::ptrdiff_t(d - 1), row.end(), std::greater<>());
    thr[i] = row[d - 1];
  }
  return thr;
}

// The cap c with no unit above a part's share of the clipped loads: sum(min(load, c)) = parts * c
// once the units above c are clipped. A unit heavier than that cannot be balanced anyway, and
// METIS's recursive bisection, asked to, splits off empty halves and complains on stdout.
double fair_share(const UnitGraph& g, const std::vector<int>& units, int parts) {
  std::vector<double> load;
  for (int u : units) load.push_back(g.load[size_t(u)]);
  std::sort(load.begin(), load.end(), std::greater<>());
  double rest = 0;
  for (double v : load) rest += v;
  for (size_t k = 0; k < load.size() && k < size_t(parts); ++k) {
    const double c = rest / double(size_t(parts) - k);  // k heaviest clipped to c
    if (load[k] <= c) return c;
    rest -= load[k];
  }
  return load.empty() ? 0 : load.back();
}

// Only each unit's kMetisDegree strongest edges (kept if either end keeps it, so the graph stays
// symmetric): a top-8 router's pair graph is dense (256 experts: ~30k edges) and METIS time grows
// with edges, while the weak edges carry little co-activation. Vertex weight: load (balance),
// clipped at a part's fair share (fair_share).
Csr build_csr(const UnitGraph& g, const std::vector<int>& units, int parts) {
  double max_w = 0;
  for (int a : units)
    for (int b : units) max_w = std::max(max_w, g.weight(a, b));
  const double fair = fair_share(g, units, parts);
  double max_load = 0;
  for (int a : units) max_load = std::max(max_load, std::min(fair, g.load[size_t(a)]));
  const std::vector<double> thr = degree_thresholds(g, units, kMetisDegree);
  Csr c;
  for (size_t i = 0; i < units.size(); ++i) {
    for (size_t j = 0; j < units.size(); ++j) {
      const double v = g.weight(units[i], units[j]);
      if (v <= 0 || (v < thr[i] && v < thr[j])) continue;
      c.adjncy.push_back(static_cast<idx_t>(j));
      c.adjwgt.push_back(scaled(v, max_w));
    }
    c.xadj.push_back(static_cast<idx_t>(c.adjncy.size()));
    c.vwgt.push_back(scaled(std::min(fair, g.load[size_t(units[i])]), max_load));  // load
    c.vwgt.push_back(1);                                                           // slots
  }
  return c;
}

// Heaviest unit first onto the least-loaded part with room: the fallback when METIS has nothing
// to cut or declines the graph.
std::vector<int> lpt_parts(const UnitGraph& g, const std::vector<int>& units,
                           const PartitionOptions& opt) {
  std::vector<size_t> order(units.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return g.load[size_t(units[a])] > g.load[size_t(units[b])];
  });
  std::vector<double> load(size_t(opt.parts), 0);
  std::vector<int> count(size_t(opt.parts), 0), part(units.size(), 0);
  for (size_t i : order) {
    int best = -1;
    for (int p = 0; p < opt.parts; ++p)
      if (count[size_t(p)] < opt.capacity && (best < 0 || load[size_t(p)] < load[size_t(best)]))
        best = p;
    part[i] = best;
    load[size_t(best)] += g.load[size_t(units[i])];
    ++count[size_t(best)];
  }
  return part;  // expert conflicts are left to fix_up
}

std::vector<int> metis_parts(const UnitGraph& g, const std::vector<int>& units,
                             const PartitionOptions& opt) {
  Csr c = build_csr(g, units, opt.parts);
  if (c.adjncy.empty() || units.size() <= size_t(opt.parts)) return lpt_parts(g, units, opt);
  idx_t nvtxs = static_cast<idx_t>(units.size()), ncon = 2, nparts = opt.parts, objval = 0;
  // Two constraints: load within the tolerance, and unit counts within 5% so the slot fix-up
  // has little to move (with load alone it moved enough units to leave colocate at max/mean
  // 1.4; with both, 1.1 on the same trace). Costs about 3x the METIS time.
  real_t ubvec[2] = {static_cast<real_t>(1 + opt.balance_tolerance), 1.05f};
  idx_t options[METIS_NOPTIONS];
  METIS_SetDefaultOptions(options);
  options[METIS_OPTION_SEED] = static_cast<idx_t>(opt.seed & 0x7fffffff);
  options[METIS_OPTION_NUMBERING] = 0;
  std::vector<idx_t> part(units.size(), 0);
  // Recursive bisection for few parts, k-way for many (the METIS manual's advice; k-way took 3x
  // longer for one node's 8 GPUs here).
  const auto partition = opt.parts <= 8 ? METIS_PartGraphRecursive : METIS_PartGraphKway;
  const int status =
      partition(&nvtxs, &ncon, c.xadj.data(), c.adjncy.data(), c.vwgt.data(), nullptr,
                c.adjwgt.data(), &nparts, nullptr, ubvec, options, &objval, part.data());
  if (status != METIS_OK) return lpt_parts(g, units, opt);
  return std::vector<int>(part.begin(), part.end());
}

// Moves units out of over-full parts and parts holding too many copies of one expert.
class FixUp {
 public:
  FixUp(const UnitGraph& g, const std::vector<int>& units, const PartitionOptions& opt,
        std::vector<int>& part)
      : g_(g), units_(units), opt_(opt), part_(part) {
    for (int u : units) num_experts_ = std::max(num_experts_, g.expert[size_t(u)] + 1);
    count_.assign(size_t(opt.parts), 0);
    load_.assign(size_t(opt.parts), 0);
    copies_.assign(size_t(opt.parts) * size_t(num_experts_), 0);
    aff_.assign(units.size() * size_t(opt.parts), 0);
    for (size_t i = 0; i < units.size(); ++i) add(i, part[i], +1);
  }

  void run() {
    for (size_t step = 0; step <= 4 * units_.size(); ++step) {
      if (!violated()) return;
      if (!best_move() && !best_swap())
        throw std::logic_error("partition_units: cannot meet slot capacity");
    }
    throw std::logic_error("partition_units: fix-up did not converge");
  }

 private:
  int expert(size_t i) const { return g_.expert[size_t(units_[i])]; }
  int& copies(int p, int e) { return copies_[size_t(p) * size_t(num_experts_) + size_t(e)]; }
  double& aff(size_t i, int p) { return aff_[i * size_t(opt_.parts) + size_t(p)]; }
  bool over(int p) const { return count_[size_t(p)] > opt_.capacity; }
  bool conflicted(size_t i) { return copies(part_[i], expert(i)) > opt_.max_replicas_per_part; }
  bool must_leave(size_t i) { return over(part_[i]) || conflicted(i); }
  bool can_enter(size_t i, int q) {
    return q != part_[i] && copies(q, expert(i)) < opt_.max_replicas_per_part;
  }

  void add(size_t i, int p, int sign) {
    for (size_t x = 0; x < units_.size(); ++x) aff(x, p) += sign * g_.weight(units_[x], units_[i]);
    count_[size_t(p)] += sign;
    load_[size_t(p)] += sign * g_.load[size_t(units_[i])];
    copies(p, expert(i)) += sign;
  }
  void move(size_t i, int q) {
    add(i, part_[i], -1);
    part_[i] = q;
    add(i, q, +1);
  }

  bool violated() {
    for (size_t i = 0; i < units_.size(); ++i)
      if (must_leave(i)) return true;
    return false;
  }

  // The move of a unit that must leave into a part with room that loses the least co-activation
  // (ties: the lighter part).
  bool best_move() {
    size_t bi = 0;
    int bq = -1;
    std::tuple<double, double> best{0, 0};
    for (size_t i = 0; i < units_.size(); ++i) {
      if (!must_leave(i)) continue;
      for (int q = 0; q < opt_.parts; ++q) {
        if (count_[size_t(q)] >= opt_.capacity || !can_enter(i, q)) continue;
        const std::tuple<double, double> key{aff(i, part_[i]) - aff(i, q), load_[size_t(q)]};
        if (bq < 0 || key < best) bi = i, bq = q, best = key;
      }
    }
    if (bq < 0) return false;
    move(bi, bq);
    return true;
  }

  // A conflicting unit whose expert every part with room already holds: trade places with a
  // unit of a full part that can enter the conflicting part.
  bool best_swap() {
    for (size_t i = 0; i < units_.size(); ++i) {
      if (!conflicted(i)) continue;
      for (size_t j = 0; j < units_.size(); ++j) {
        const int p = part_[i], q = part_[j];
        if (expert(i) == expert(j) || !can_enter(i, q) || !can_enter(j, p)) continue;
        move(i, q);
        move(j, p);
        return true;
      }
    }
    return false;
  }

  const UnitGraph& g_;
  const std::vector<int>& units_;
  const PartitionOptions& opt_;
  std::vector<int>& part_;
  int num_experts_ = 0;
  std::vector<int> count_, copies_;
  std::vector<double> load_, aff_;
};

}  // namespace

std::vector<int> partition_units(const UnitGraph& g, const std::vector<int>& units,
                                 const PartitionOptions& opt) {
  if (units.size() > size_t(opt.parts) * size_t(opt.capacity))
    throw std::logic_error("partition_units: more units than slots");
  std::vector<int> part =
      opt.parts == 1 ? std::vector<int>(units.size(), 0) : metis_parts(g, units, opt);
  FixUp(g, units, opt, part).run();
  return part;
}

std::vector<std::vector<int>> partition_nodes(const UnitGraph& g, const ClusterSpec& c,
                                              const CoactOptions& opt) {
  std::vector<int> all(size_t(g.num_units));
  std::iota(all.begin(), all.end(), 0);
  PartitionOptions p;
  p.parts = c.nodes;
  p.capacity = c.gpus_per_node * c.slots_per_gpu;
  p.max_replicas_per_part = c.gpus_per_node;
  p.balance_tolerance = opt.balance_tolerance;
  p.seed = opt.seed;
  const std::vector<int> node = partition_units(g, all, p);
  std::vector<std::vector<int>> units(size_t(c.nodes));
  for (int u : all) units[size_t(node[size_t(u)])].push_back(u);
  return units;
}

}  // namespace epbench
