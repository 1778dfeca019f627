#include "placement/lp_bound.h"

#include <algorithm>
#include <string>

#include <ClpSimplex.hpp>
#include <OsiClpSolverInterface.hpp>

#include "common/error.h"
#include "placement/bound.h"

namespace epbench {

LpBound lp_lower_bound(const CostModel& model, const LayerSteps& steps) {
  LpBound out;
  const LayerProgram prog = build_layer_program(model, steps, false);
  out.vars = prog.lp.num_vars();
  out.rows = prog.lp.num_rows();
  if (out.rows > kMaxLpRows)
    throw InputError("LP bound: " + std::to_string(out.rows) + " rows, expected at most " +
                     std::to_string(kMaxLpRows) + "; bound fewer steps at a time");
  const size_t k = static_cast<size_t>(steps.top_k);
  for (size_t s = 0; s < steps.num_steps(); ++s) {
    const size_t first = steps.offset[s], n = steps.offset[s + 1] - first;
    out.closed_form_s +=
        layer_lower_bound(model, steps.ids.data() + first * k, steps.home.data() + first, n,
                          steps.top_k, steps.num_experts)
            .total();
  }
  OsiClpSolverInterface solver;
  prog.lp.load(solver);
  // The dual simplex: every row is a ">=" the slack of which is cheap to start from.
  solver.getModelPtr()->dual();
  if (!solver.getModelPtr()->isProvenOptimal())
    throw InputError("LP bound: CLP found no optimum (status " +
                     std::to_string(solver.getModelPtr()->status()) + ")");
  // Never above the LP's true optimum beyond CLP's tolerances (1e-7 in microseconds).
  out.lp_s = solver.getModelPtr()->objectiveValue() / prog.time_scale;
  out.total_s = std::max(out.lp_s, out.closed_form_s);
  return out;
}

}  // namespace epbench
