#include "results/reductions.h"

#include <algorithm>

namespace epbench {

PhaseTimes layer_phase_max(const ConfigResult& r, size_t step, size_t layer) {
  const size_t at = (step * r.layers + layer) * r.gpus;
  PhaseTimes t;
  for (size_t g = at; g < at + r.gpus; ++g) {
    t.dispatch = std::max(t.dispatch, r.dispatch[g]);
    t.compute = std::max(t.compute, r.compute[g]);
    t.combine = std::max(t.combine, r.combine[g]);
  }
  return t;
}

std::vector<double> step_times_from_cubes(const ConfigResult& r) {
  std::vector<double> out(r.steps, 0);
  for (size_t s = 0; s < r.steps; ++s)
    for (size_t l = 0; l < r.layers; ++l) out[s] += layer_phase_max(r, s, l).total();
  return out;
}

PhaseTimes mean_phase_times(const ConfigResult& r) {
  PhaseTimes t;
  if (r.steps == 0) return t;
  for (size_t s = 0; s < r.steps; ++s)
    for (size_t l = 0; l < r.layers; ++l) {
      const PhaseTimes p = layer_phase_max(r, s, l);
      t.dispatch += p.dispatch, t.compute += p.compute, t.combine += p.combine;
    }
  const double steps = static_cast<double>(r.steps);
  t.dispatch /= steps, t.compute /= steps, t.combine /= steps;
  return t;
}

RankSpread rank_spread(const std::vector<double>& cube, size_t steps, size_t layers, size_t gpus) {
  RankSpread out;
  if (steps == 0 || gpus == 0) return out;
  for (size_t sl = 0; sl < steps * layers; ++sl) {
    const auto first = cube.begin() + static_cast<std::ptrdiff_t>(sl * gpus);
    const auto [lo, hi] = std::minmax_element(first, first + static_cast<std::ptrdiff_t>(gpus));
    double sum = 0;
    for (auto it = first; it != first + static_cast<std::ptrdiff_t>(gpus); ++it) sum += *it;
    out.min += *lo, out.max += *hi, out.avg += sum / static_cast<double>(gpus);
  }
  const double n = static_cast<double>(steps);
  out.min /= n, out.avg /= n, out.max /= n;
  return out;
}

}  // namespace epbench
