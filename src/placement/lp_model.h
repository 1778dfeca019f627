#pragma once
// The placement-and-routing program of one layer over several steps, shared by the LP lower
// bound (lp_bound.h, continuous, tokens aggregated) and the exact ILP (ilp_exact.h, binary,
// one token at a time). docs/placement.md, "Lower bounds", states the formulation.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "costmodel/cost_model.h"

class OsiClpSolverInterface;

namespace epbench {

// One layer's steps: step s runs tokens [offset[s], offset[s+1]), token t from home GPU
// home[t] with experts ids[t*top_k .. (t+1)*top_k). The placement is shared by every step,
// the routing is chosen per step.
struct LayerSteps {
  int num_experts = 0, top_k = 0;
  std::vector<size_t> offset{0};
  std::vector<int32_t> home;
  std::vector<uint16_t> ids;

  size_t num_steps() const { return offset.size() - 1; }
  size_t num_tokens() const { return home.size(); }
  void add_step(const int32_t* homes, const uint16_t* expert_ids, size_t n);
};

// InputError unless the steps fit the model (homes, expert ids, top-k) and the flat dispatch
// (no hierarchical option), and G * S >= E. `what` names the caller in the message.
void check_layer_steps(const CostModel& model, const LayerSteps& steps, const char* what);

// A mixed-integer linear program, minimised: columns with bounds and costs, rows as sparse
// sums with bounds.
class LinearProgram {
 public:
  int add_var(double lb, double ub, double cost, bool integer = false);
  // sum coef * var in [lb, ub]; start with row(), add terms with term(), close with end().
  void row() { row_start_.push_back(row_var_.size()); }
  void term(int var, double coef);
  void end(double lb, double ub);
  int num_vars() const { return static_cast<int>(lb_.size()); }
  int num_rows() const { return static_cast<int>(row_lb_.size()); }

  std::vector<double> lb_, ub_, cost_;
  std::vector<char> integer_;
  std::vector<size_t> row_start_;
  std::vector<int> row_var_;
  std::vector<double> row_coef_;
  std::vector<double> row_lb_, row_ub_;

  // Loads the program (integer columns marked) into a solver, its messages silenced.
  void load(OsiClpSolverInterface& solver) const;
};

// The tokens of one step with the same home and the same expert set, served alike by the LP.
struct TokenClass {
  size_t step = 0;
  int32_t home = 0;
  uint32_t count = 0;             // tokens in the class
  std::vector<uint16_t> experts;  // distinct, ascending
  size_t first_token = 0;         // one of them (the ILP's classes hold one token each)
  std::vector<int> u;             // [experts.size() * G]: fraction of pair j served on GPU g
};

struct LayerProgram {
  LinearProgram lp;
  std::vector<int> p;  // [E*G] presence of expert e on GPU g
  // Co-location of experts e < f on GPU g (created when some token chooses both), keyed
  // (e * E + f) * G + g: at most p of either, and sum_f q[e][f][g] <= (S - 1) p[e][g].
  std::vector<int> q;
  std::vector<TokenClass> classes;
  double time_scale = 1e6;  // the program's times are microseconds (solver tolerances)
};

// exact = false: the LP relaxation, tokens aggregated into classes (a valid lower bound);
// exact = true: binary presence and routing, one class per token (the exact optimum when the
// cluster has one GPU per NIC).
LayerProgram build_layer_program(const CostModel& model, const LayerSteps& steps, bool exact);

}  // namespace epbench
