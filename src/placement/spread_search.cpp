#include "placement/spread_search.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "common/rng.h"

namespace epbench {
namespace {

// Assignment of n local units to m local GPUs, with the sums the O(1) move deltas need:
// aff[i][h] = weight between unit i and the units on GPU h.
class State {
 public:
  State(const UnitGraph& g, const std::vector<int>& units, int m, int slots)
      : g_(g),
        units_(units),
        n_(static_cast<int>(units.size())),
        m_(m),
        slots_(slots),
        at_(units.size(), -1),
        aff_(units.size() * static_cast<size_t>(m), 0.0),
        load_(static_cast<size_t>(m), 0.0),
        used_(static_cast<size_t>(m), 0) {
    for (int u : units) num_experts_ = std::max(num_experts_, g.expert[size_t(u)] + 1);
    holds_.assign(static_cast<size_t>(m) * static_cast<size_t>(num_experts_), 0);
  }

  int n() const { return n_; }
  int m() const { return m_; }
  int at(int i) const { return at_[size_t(i)]; }
  double load(int h) const { return load_[size_t(h)]; }
  bool has_room(int h) const { return used_[size_t(h)] < slots_; }
  double unit_load(int i) const { return g_.load[size_t(units_[size_t(i)])]; }
  int expert(int i) const { return g_.expert[size_t(units_[size_t(i)])]; }
  double w(int i, int j) const { return g_.weight(units_[size_t(i)], units_[size_t(j)]); }
  double aff(int i, int h) const { return aff_[size_t(i) * size_t(m_) + size_t(h)]; }
  bool holds(int h, int e) const { return holds_[size_t(h) * size_t(num_experts_) + size_t(e)]; }

  void put(int i, int h) { update(i, h, +1); }
  void take(int i) { update(i, at_[size_t(i)], -1); }

 private:
  void update(int i, int h, int sign) {
    for (int x = 0; x < n_; ++x) aff_[size_t(x) * size_t(m_) + size_t(h)] += sign * w(x, i);
    load_[size_t(h)] += sign * unit_load(i);
    used_[size_t(h)] += sign;
    holds_[size_t(h) * size_t(num_experts_) + size_t(expert(i))] += sign;
    at_[size_t(i)] = sign > 0 ? h : -1;
  }

  const UnitGraph& g_;
  const std::vector<int>& units_;
  int n_, m_, slots_, num_experts_ = 0;
  std::vector<int> at_;
  std::vector<double> aff_, load_;
  std::vector<int> used_, holds_;
};

double load_cap(const UnitGraph& g, const std::vector<int>& units, int m, double tol) {
  double total = 0, heaviest = 0;
  for (int u : units) total += g.load[size_t(u)], heaviest = std::max(heaviest, g.load[size_t(u)]);
  return (1 + tol) * std::max(total / m, heaviest);
}

// Units heaviest first; equal loads (replicas, unseen experts) in a seeded random order.
std::vector<int> heaviest_first(const State& s, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint64_t> key(size_t(s.n()));
  for (auto& k : key) k = rng.next();
  std::vector<int> order(size_t(s.n()));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    if (s.unit_load(a) != s.unit_load(b)) return s.unit_load(a) > s.unit_load(b);
    return key[size_t(a)] < key[size_t(b)];
  });
  return order;
}

// No GPU with room lacks unit i's expert: move some unit j from a GPU k without that expert
// into a free slot elsewhere, so i can take j's place on k. Slots suffice (the caller checked),
// and fewer replicas than GPUs guarantee such a k exists.
void place_by_repair(State& s, int i) {
  for (int h = 0; h < s.m(); ++h) {
    if (!s.has_room(h)) continue;
    for (int j = 0; j < s.n(); ++j) {
      const int k = s.at(j);
      if (k < 0 || k == h || s.holds(k, s.expert(i)) || s.holds(h, s.expert(j))) continue;
      s.take(j);
      s.put(j, h);
      s.put(i, k);
      return;
    }
  }
  throw std::logic_error("greedy_assign: no GPU can take a replica (more replicas than GPUs?)");
}

void greedy_fill(State& s, const SearchOptions& opt, double cap) {
  for (int i : heaviest_first(s, opt.seed)) {
    int best = -1;
    auto key = [&](int h) {
      const bool over = s.load(h) + s.unit_load(i) > cap;
      return std::make_tuple(over, opt.sign * s.aff(i, h), s.load(h), h);
    };
    for (int h = 0; h < s.m(); ++h) {
      if (!s.has_room(h) || s.holds(h, s.expert(i))) continue;
      if (best < 0 || key(h) < key(best)) best = h;
    }
    if (best >= 0)
      s.put(i, best);
    else
      place_by_repair(s, i);
  }
}

struct Search {
  State& s;
  const SearchOptions& opt;
  double cap, eps;

  // Load of the busier GPU must stay under the cap, or not grow if it is over already.
  bool load_ok(double before_a, double before_b, double after_a, double after_b) const {
    return std::max(after_a, after_b) <= std::max(cap, std::max(before_a, before_b)) + 1e-9;
  }
  bool better(double delta, double before_max, double after_max) const {
    return delta < -eps || (delta <= eps && after_max < before_max - 1e-9);
  }

  bool try_swap(int a, int b) {
    const int ha = s.at(a), hb = s.at(b);
    if (ha == hb || s.expert(a) == s.expert(b)) return false;
    if (s.holds(hb, s.expert(a)) || s.holds(ha, s.expert(b))) return false;
    const double wab = s.w(a, b);
    const double delta =
        opt.sign * ((s.aff(a, hb) - wab) - s.aff(a, ha) + (s.aff(b, ha) - wab) - s.aff(b, hb));
    const double la = s.load(ha) - s.unit_load(a) + s.unit_load(b);
    const double lb = s.load(hb) - s.unit_load(b) + s.unit_load(a);
    if (!load_ok(s.load(ha), s.load(hb), la, lb)) return false;
    if (!better(delta, std::max(s.load(ha), s.load(hb)), std::max(la, lb))) return false;
    s.take(a), s.take(b);
    s.put(a, hb), s.put(b, ha);
    return true;
  }

  bool try_move(int a, int h) {
    const int ha = s.at(a);
    if (ha == h || !s.has_room(h) || s.holds(h, s.expert(a))) return false;
    const double delta = opt.sign * (s.aff(a, h) - s.aff(a, ha));
    const double la = s.load(ha) - s.unit_load(a), lh = s.load(h) + s.unit_load(a);
    if (!load_ok(s.load(ha), s.load(h), la, lh)) return false;
    if (!better(delta, std::max(s.load(ha), s.load(h)), std::max(la, lh))) return false;
    s.take(a);
    s.put(a, h);
    return true;
  }

  bool pass(const std::vector<int>& order) {
    bool improved = false;
    for (size_t x = 0; x < order.size(); ++x) {
      const int a = order[x];
      for (size_t y = x + 1; y < order.size(); ++y) improved |= try_swap(a, order[y]);
      for (int h = 0; h < s.m(); ++h) improved |= try_move(a, h);
    }
    return improved;
  }
};

void load_state(const std::vector<int>& gpus, const std::vector<int>& units,
                const std::vector<int>& gpu_of_unit, State& s) {
  for (size_t i = 0; i < units.size(); ++i) {
    const auto it = std::find(gpus.begin(), gpus.end(), gpu_of_unit[size_t(units[i])]);
    if (it == gpus.end()) throw std::logic_error("swap_search: unit outside the GPU set");
    s.put(int(i), int(it - gpus.begin()));
  }
}

void write_back(const State& s, const std::vector<int>& units, const std::vector<int>& gpus,
                std::vector<int>& gpu_of_unit) {
  for (size_t i = 0; i < units.size(); ++i)
    gpu_of_unit[size_t(units[i])] = gpus[size_t(s.at(int(i)))];
}

}  // namespace

void greedy_assign(const UnitGraph& g, const std::vector<int>& units, const std::vector<int>& gpus,
                   int slots, const SearchOptions& opt, std::vector<int>& gpu_of_unit) {
  if (units.size() > gpus.size() * size_t(slots))
    throw std::logic_error("greedy_assign: more units than slots");
  const int m = static_cast<int>(gpus.size());
  State s(g, units, m, slots);
  greedy_fill(s, opt, load_cap(g, units, m, opt.balance_tolerance));
  write_back(s, units, gpus, gpu_of_unit);
}

void swap_search(const UnitGraph& g, const std::vector<int>& units, const std::vector<int>& gpus,
                 int slots, const SearchOptions& opt, std::vector<int>& gpu_of_unit) {
  const int m = static_cast<int>(gpus.size());
  State s(g, units, m, slots);
  load_state(gpus, units, gpu_of_unit, s);
  double total_w = 0;
  for (double v : g.w) total_w += std::abs(v);
  Search search{s, opt, load_cap(g, units, m, opt.balance_tolerance), 1e-12 * (1 + total_w)};
  const std::vector<int> order = heaviest_first(s, opt.seed ^ 0x5eedull);
  for (int p = 0; p < opt.max_passes && search.pass(order); ++p) {
  }
  write_back(s, units, gpus, gpu_of_unit);
}

}  // namespace epbench
