// The placement-and-routing program of one layer (lp_model.h). Every row holds for any
// integral placement and routing priced by CostModel (flat dispatch), with the variables at
// their true values: presence p, routed fraction u, "reaches GPU g" v, "replica active" act,
// latency indicators sigma. Costs only grow with v, act and sigma, so at an integral optimum
// they sit at their true values and the program's minimum is the true minimum (exact) or a
// lower bound on it (relaxed). docs/placement.md, "Lower bounds", gives the argument per row.
#include "placement/lp_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>

#include <CoinPackedMatrix.hpp>
#include <OsiClpSolverInterface.hpp>

#include "common/error.h"
#include "common/numeric.h"
#include "placement/bound.h"

namespace epbench {

void LayerSteps::add_step(const int32_t* homes, const uint16_t* expert_ids, size_t n) {
  home.insert(home.end(), homes, homes + n);
  ids.insert(ids.end(), expert_ids, expert_ids + n * sz(top_k));
  offset.push_back(home.size());
}

void check_layer_steps(const CostModel& model, const LayerSteps& steps, const char* what) {
  const std::string w = what;
  const int G = model.num_gpus(), S = model.slots_per_gpu(), E = steps.num_experts;
  if (model.options().hierarchical)
    throw InputError(w + ": expected the flat dispatch (no hierarchical option)");
  if (E <= 0 || steps.top_k <= 0 || steps.top_k > E)
    throw InputError(w + ": expected 0 < top_k <= num_experts, got top_k " +
                     std::to_string(steps.top_k) + " and " + std::to_string(E) + " experts");
  if (static_cast<long long>(G) * S < E)
    throw InputError(w + ": " + std::to_string(E) + " experts do not fit in " + std::to_string(G) +
                     " GPUs x " + std::to_string(S) + " slots");
  if (steps.ids.size() != steps.home.size() * sz(steps.top_k) ||
      steps.offset.back() != steps.home.size())
    throw InputError(w + ": expected top_k expert ids per token and steps covering the tokens");
  for (int32_t h : steps.home)
    if (h < 0 || h >= G)
      throw InputError(w + ": home GPU " + std::to_string(h) + " out of [0, " + std::to_string(G) +
                       ")");
  const size_t k = sz(steps.top_k);
  for (size_t t = 0; t < steps.num_tokens(); ++t) {
    const uint16_t* x = steps.ids.data() + t * k;
    for (size_t j = 0; j < k; ++j) {
      if (x[j] >= E)
        throw InputError(w + ": expert id " + std::to_string(x[j]) + " out of [0, " +
                         std::to_string(E) + ")");
      if (std::find(x, x + j, x[j]) != x + j)
        throw InputError(w + ": token " + std::to_string(t) + " chose expert " +
                         std::to_string(x[j]) + " twice; expected distinct experts per token");
    }
  }
}

int LinearProgram::add_var(double lb, double ub, double cost, bool integer) {
  lb_.push_back(lb);
  ub_.push_back(ub);
  cost_.push_back(cost);
  integer_.push_back(integer ? 1 : 0);
  return num_vars() - 1;
}

void LinearProgram::term(int var, double coef) {
  row_var_.push_back(var);
  row_coef_.push_back(coef);
}

void LinearProgram::end(double lb, double ub) {
  row_lb_.push_back(lb);
  row_ub_.push_back(ub);
}

void LinearProgram::load(OsiClpSolverInterface& solver) const {
  std::vector<int> rows(row_var_.size());
  for (size_t r = 0; r < row_lb_.size(); ++r) {
    const size_t last = r + 1 < row_start_.size() ? row_start_[r + 1] : row_var_.size();
    for (size_t i = row_start_[r]; i < last; ++i) rows[i] = static_cast<int>(r);
  }
  const CoinPackedMatrix matrix(false, rows.data(), row_var_.data(), row_coef_.data(),
                                static_cast<CoinBigIndex>(row_var_.size()));
  const double inf = solver.getInfinity();
  const auto finite = [inf](std::vector<double> v) {
    for (double& x : v) x = std::isinf(x) ? (x > 0 ? inf : -inf) : x;
    return v;
  };
  // The matrix may have fewer columns than the program (trailing variables in no row).
  CoinPackedMatrix m = matrix;
  m.setDimensions(num_rows(), num_vars());
  solver.loadProblem(m, finite(lb_).data(), finite(ub_).data(), cost_.data(),
                     finite(row_lb_).data(), finite(row_ub_).data());
  for (int i = 0; i < num_vars(); ++i)
    if (integer_[sz(i)]) solver.setInteger(i);
  solver.messageHandler()->setLogLevel(0);
  solver.getModelPtr()->setLogLevel(0);
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The steps' tokens grouped by (step, home, expert set); one class per token when exact.
std::vector<TokenClass> make_classes(const LayerSteps& steps, bool exact) {
  std::vector<TokenClass> out;
  const size_t k = sz(steps.top_k);
  for (size_t s = 0; s < steps.num_steps(); ++s) {
    std::map<std::pair<int32_t, std::vector<uint16_t>>, size_t> index;
    for (size_t t = steps.offset[s]; t < steps.offset[s + 1]; ++t) {
      std::vector<uint16_t> x(steps.ids.begin() + static_cast<std::ptrdiff_t>(t * k),
                              steps.ids.begin() + static_cast<std::ptrdiff_t>((t + 1) * k));
      std::sort(x.begin(), x.end());
      auto key = std::make_pair(steps.home[t], x);
      auto it = exact ? index.end() : index.find(key);
      if (it != index.end()) {
        ++out[it->second].count;
        continue;
      }
      if (!exact) index.emplace(std::move(key), out.size());
      out.push_back(TokenClass{s, steps.home[t], 1, std::move(x), t, {}});
    }
  }
  return out;
}

// Times of the cost model, scaled to the program's unit.
struct Rates {
  double a = 0, w = 0;    // per token, weight read
  double a1 = 0, c1 = 0;  // same node: latency, per token sent
  double a2 = 0, c2 = 0;  // other node: latency, per token at the NIC's bandwidth
};

Rates rates_of(const CostModel& m, double scale) {
  const ClusterSpec& c = m.cluster();
  const double tb = dbl(m.token_bytes());
  Rates r;
  r.a = m.token_time() * scale;
  r.w = m.weight_time() * scale;
  r.a1 = c.same_node.latency_s * scale;
  r.c1 = c.same_node.bandwidth_Bps > 0 ? tb / c.same_node.bandwidth_Bps * scale : 0;
  r.a2 = c.other_node.latency_s * scale;
  const double nic = c.other_node.bandwidth_Bps * c.gpus_per_nic;
  r.c2 = nic > 0 ? tb / nic * scale : 0;
  return r;
}

using Terms = std::vector<std::pair<int, double>>;

// One step's variables and rows.
class StepBuilder {
 public:
  StepBuilder(const CostModel& m, const LayerSteps& steps, LayerProgram& prog, bool exact)
      : m_(m),
        steps_(steps),
        prog_(prog),
        lp_(prog.lp),
        exact_(exact),
        G_(m.num_gpus()),
        gpn_(m.cluster().gpus_per_node),
        r_(rates_of(m, prog.time_scale)) {}

  void build(size_t s, size_t first_class, size_t last_class);

 private:
  int node(int g) const { return g / gpn_; }
  int bin() { return lp_.add_var(0, 1, 0, exact_); }
  void add_class(TokenClass& c);
  void gpu_rows(int D, int C);

  const CostModel& m_;
  const LayerSteps& steps_;
  LayerProgram& prog_;
  LinearProgram& lp_;
  bool exact_;
  int G_, gpn_;
  Rates r_;
  // Per step: active replicas, their loads, latency indicators, bytes per GPU.
  std::vector<int> act_;     // [E*G], -1 when the expert is idle in the step
  std::vector<Terms> load_;  // [E*G]: (u, tokens)
  std::vector<int> sig_;     // [4G]: send same, send other, recv same, recv other
  std::vector<Terms> send_s_, send_o_, recv_s_, recv_o_;  // [G]: (v, tokens)
};

void StepBuilder::add_class(TokenClass& c) {
  const int h = c.home;
  const double count = c.count;
  std::vector<int> v(sz(G_), -1);
  for (int g = 0; g < G_; ++g) {
    if (g == h) continue;
    v[sz(g)] = bin();  // the class's tokens that reach g (a fraction of them)
    const bool same = node(g) == node(h);
    // Any of them reaching g turns on h's sending and g's receiving on that link class.
    for (int sigma : {sig_[4 * sz(h) + (same ? 0 : 1)], sig_[4 * sz(g) + (same ? 2 : 3)]}) {
      lp_.row(), lp_.term(sigma, 1), lp_.term(v[sz(g)], -1), lp_.end(0, kInf);
    }
    (same ? send_s_ : send_o_)[sz(h)].emplace_back(v[sz(g)], count);
    (same ? recv_s_ : recv_o_)[sz(g)].emplace_back(v[sz(g)], count);
  }
  for (size_t j = 0; j < c.experts.size(); ++j) {
    const size_t e = c.experts[j];
    lp_.row();  // every pair is served somewhere
    for (int g = 0; g < G_; ++g) {
      const int u = bin();
      c.u.push_back(u);
      lp_.term(u, 1);
    }
    lp_.end(1, 1);
    for (int g = 0; g < G_; ++g) {
      const int u = c.u[j * sz(G_) + sz(g)];
      const size_t eg = e * sz(G_) + sz(g);
      if (act_[eg] < 0) {
        act_[eg] = bin();  // a replica that serves a token is present
        lp_.row(), lp_.term(act_[eg], 1), lp_.term(prog_.p[eg], -1), lp_.end(-kInf, 0);
      }
      // u <= p follows from u <= act <= p.
      lp_.row(), lp_.term(act_[eg], 1), lp_.term(u, -1), lp_.end(0, kInf);
      if (g != h) lp_.row(), lp_.term(v[sz(g)], 1), lp_.term(u, -1), lp_.end(0, kInf);
      load_[eg].emplace_back(u, count);
    }
    // Unless every token of the class has expert j at home, the home sends something.
    lp_.row();
    lp_.term(sig_[4 * sz(h)], 1), lp_.term(sig_[4 * sz(h) + 1], 1);
    lp_.term(c.u[j * sz(G_) + sz(h)], 1);
    lp_.end(1, kInf);
  }
  // Distinct destinations: a token with m of its experts on g reaches g once, and
  // [m >= 1] >= m - m (m - 1) / 2 for every m >= 0; the pairs (j, j') both on g are at most
  // the tokens whose experts are co-located there (w <= q). So v >= sum_j u_j - sum_{j<j'} w.
  const size_t E = sz(steps_.num_experts);
  for (int g = 0; g < G_; ++g) {
    if (g == h) continue;
    Terms reach{{v[sz(g)], 1}};
    for (size_t j = 0; j < c.experts.size(); ++j) {
      reach.emplace_back(c.u[j * sz(G_) + sz(g)], -1);
      for (size_t i = 0; i < j; ++i) {
        const size_t e = c.experts[i], f = c.experts[j];  // e < f: the experts are sorted
        int& q = prog_.q[(e * E + f) * sz(G_) + sz(g)];
        if (q < 0) {
          q = lp_.add_var(0, 1, 0);
          for (size_t x : {e, f})
            lp_.row(), lp_.term(q, 1), lp_.term(prog_.p[x * sz(G_) + sz(g)], -1), lp_.end(-kInf, 0);
        }
        const int w = lp_.add_var(0, 1, 0);
        lp_.row(), lp_.term(w, 1), lp_.term(q, -1), lp_.end(-kInf, 0);
        reach.emplace_back(w, 1);
      }
    }
    lp_.row();
    for (auto [var, coef] : reach) lp_.term(var, coef);
    lp_.end(0, kInf);
  }
}

// Compute: C >= sum over active replicas of max(a x, w) per GPU, through z >= a x and
// z >= w act. Dispatch: D >= max(send, recv) per GPU, each side its latencies (when used) plus
// tokens per link class; other-node tokens are charged at the NIC's bandwidth, exact for one
// GPU per NIC and an underestimate otherwise (the NIC also carries its neighbours' tokens),
// which the NIC rows below recover in part.
void StepBuilder::gpu_rows(int D, int C) {
  const int E = steps_.num_experts;
  for (int g = 0; g < G_; ++g) {
    Terms compute{{C, 1}};
    for (int e = 0; e < E; ++e) {
      const size_t eg = sz(e) * sz(G_) + sz(g);
      if (act_[eg] < 0) continue;
      const int z = lp_.add_var(0, kInf, 0);
      compute.emplace_back(z, -1);
      lp_.row(), lp_.term(z, 1), lp_.term(act_[eg], -r_.w), lp_.end(0, kInf);
      lp_.row(), lp_.term(z, 1);
      for (auto [u, count] : load_[eg]) lp_.term(u, -r_.a * count);
      lp_.end(0, kInf);
    }
    lp_.row();
    for (auto [var, coef] : compute) lp_.term(var, coef);
    lp_.end(0, kInf);
    const size_t q = sz(g);
    for (int side = 0; side < 2; ++side) {  // send, recv
      const Terms& same = side == 0 ? send_s_[q] : recv_s_[q];
      const Terms& other = side == 0 ? send_o_[q] : recv_o_[q];
      lp_.row();
      lp_.term(D, 1);
      lp_.term(sig_[4 * q + 2 * sz(side)], -r_.a1);
      lp_.term(sig_[4 * q + 2 * sz(side) + 1], -r_.a2);
      for (auto [v, count] : same) lp_.term(v, -r_.c1 * count);
      for (auto [v, count] : other) lp_.term(v, -r_.c2 * count);
      lp_.end(0, kInf);
    }
  }
  // Several GPUs per NIC: when any of them uses the network, one that does waits for the
  // NIC's whole load, so D >= a2 sigma_q + c2 (the NIC group's tokens) for each q in it.
  const int per_nic = m_.cluster().gpus_per_nic;
  if (per_nic <= 1) return;
  for (int g = 0; g < G_; ++g) {
    const int first = g / per_nic * per_nic, last = std::min(G_, first + per_nic);
    for (int side = 0; side < 2; ++side) {
      lp_.row();
      lp_.term(D, 1);
      lp_.term(sig_[4 * sz(g) + 2 * sz(side) + 1], -r_.a2);
      for (int q = first; q < last; ++q)
        for (auto [v, count] : side == 0 ? send_o_[sz(q)] : recv_o_[sz(q)])
          lp_.term(v, -r_.c2 * count);
      lp_.end(0, kInf);
    }
  }
}

void StepBuilder::build(size_t s, size_t first_class, size_t last_class) {
  const size_t E = sz(steps_.num_experts), G = sz(G_);
  act_.assign(E * G, -1);
  load_.assign(E * G, {});
  for (auto* t : {&send_s_, &send_o_, &recv_s_, &recv_o_}) t->assign(G, {});
  sig_.clear();
  for (size_t i = 0; i < 4 * G; ++i) sig_.push_back(bin());
  // The closed-form bound of the step holds for any placement: it bounds D and C from below.
  const size_t first = steps_.offset[s], n = steps_.offset[s + 1] - first;
  const LayerBound cf =
      layer_lower_bound(m_, steps_.ids.data() + first * sz(steps_.top_k),
                        steps_.home.data() + first, n, steps_.top_k, steps_.num_experts);
  // Each phase's maximum is counted twice for the dispatch (the combine mirrors it).
  const int D = lp_.add_var(cf.dispatch_s * prog_.time_scale, kInf, 2);
  const int C = lp_.add_var(cf.compute_s * prog_.time_scale, kInf, 1);
  for (size_t c = first_class; c < last_class; ++c) add_class(prog_.classes[c]);
  gpu_rows(D, C);
}

}  // namespace

LayerProgram build_layer_program(const CostModel& model, const LayerSteps& steps, bool exact) {
  check_layer_steps(model, steps, exact ? "exact ILP" : "LP bound");
  LayerProgram prog;
  const int E = steps.num_experts, G = model.num_gpus(), S = model.slots_per_gpu();
  LinearProgram& lp = prog.lp;
  for (int i = 0; i < E * G; ++i) prog.p.push_back(lp.add_var(0, 1, 0, exact));
  for (int g = 0; g < G; ++g) {  // at most S experts per GPU
    lp.row();
    for (int e = 0; e < E; ++e) lp.term(prog.p[sz(e) * sz(G) + sz(g)], 1);
    lp.end(-kInf, S);
  }
  for (int e = 0; e < E; ++e) {  // every expert somewhere
    lp.row();
    for (int g = 0; g < G; ++g) lp.term(prog.p[sz(e) * sz(G) + sz(g)], 1);
    lp.end(1, kInf);
  }
  prog.classes = make_classes(steps, exact);
  prog.q.assign(sz(E) * sz(E) * sz(G), -1);
  StepBuilder b(model, steps, prog, exact);
  size_t c = 0;
  for (size_t s = 0; s < steps.num_steps(); ++s) {
    const size_t first = c;
    while (c < prog.classes.size() && prog.classes[c].step == s) ++c;
    b.build(s, first, c);
  }
  // An expert on g shares it with at most S - 1 others: sum_f q[e][f][g] <= (S - 1) p[e][g].
  for (int g = 0; g < G; ++g)
    for (int e = 0; e < E; ++e) {
      Terms row;
      for (int f = 0; f < E; ++f) {
        const int lo = std::min(e, f), hi = std::max(e, f);
        const int q = e == f ? -1 : prog.q[(sz(lo) * sz(E) + sz(hi)) * sz(G) + sz(g)];
        if (q >= 0) row.emplace_back(q, 1);
      }
      if (row.empty()) continue;
      lp.row();
      for (auto [var, coef] : row) lp.term(var, coef);
      lp.term(prog.p[sz(e) * sz(G) + sz(g)], -(S - 1));
      lp.end(-kInf, 0);
    }
  return prog;
}

}  // namespace epbench
