// The small non-negative least squares solver of `epbench calibrate` (nnls.h).
#include "costmodel/nnls.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace epbench::calib {

double NormalEquations::rss(const std::vector<double>& c) const {
  double r = yy_;
  for (size_t i = 0; i < n_; ++i) {
    r -= 2 * c[i] * xy_[i];
    for (size_t j = 0; j < n_; ++j) r += c[i] * xx(i, j) * c[j];
  }
  return std::max(0.0, r);
}

FitQuality NormalEquations::quality(double rss_value) const {
  FitQuality q;
  q.samples = static_cast<size_t>(count_);
  const double tss = yy_ - (count_ > 0 ? ysum_ * ysum_ / count_ : 0);
  q.r2 = tss > 0 ? 1 - rss_value / tss : 0;
  q.rel_rms = yy_ > 0 ? std::sqrt(rss_value / yy_) : 0;
  return q;
}

namespace {

// Gauss-Jordan elimination with partial pivoting on the k x (k + 1) augmented matrix `a`,
// in place. False when (nearly) singular.
bool eliminate(std::vector<double>& a, size_t k) {
  for (size_t p = 0; p < k; ++p) {
    size_t best = p;
    for (size_t r = p + 1; r < k; ++r)
      if (std::abs(a[r * (k + 1) + p]) > std::abs(a[best * (k + 1) + p])) best = r;
    if (std::abs(a[best * (k + 1) + p]) < 1e-9) return false;  // (nearly) collinear
    for (size_t j = 0; j <= k; ++j) std::swap(a[p * (k + 1) + j], a[best * (k + 1) + j]);
    for (size_t r = 0; r < k; ++r) {
      if (r == p) continue;
      const double f = a[r * (k + 1) + p] / a[p * (k + 1) + p];
      for (size_t j = p; j <= k; ++j) a[r * (k + 1) + j] -= f * a[p * (k + 1) + j];
    }
  }
  return true;
}

}  // namespace

std::optional<std::vector<double>> solve_subset(const NormalEquations& ne, unsigned mask) {
  std::vector<size_t> cols;
  for (size_t i = 0; i < ne.n(); ++i)
    if (mask >> i & 1u) cols.push_back(i);
  const size_t k = cols.size();
  std::vector<double> scale(k), a(k * (k + 1));
  for (size_t i = 0; i < k; ++i) {
    if (!(ne.xx(cols[i], cols[i]) > 0)) return std::nullopt;
    scale[i] = std::sqrt(ne.xx(cols[i], cols[i]));
  }
  for (size_t i = 0; i < k; ++i) {
    for (size_t j = 0; j < k; ++j)
      a[i * (k + 1) + j] = ne.xx(cols[i], cols[j]) / (scale[i] * scale[j]);
    a[i * (k + 1) + k] = ne.xy(cols[i]) / scale[i];
  }
  if (!eliminate(a, k)) return std::nullopt;
  std::vector<double> c(ne.n(), 0);
  for (size_t i = 0; i < k; ++i) {
    c[cols[i]] = a[i * (k + 1) + k] / a[i * (k + 1) + i] / scale[i];
    if (c[cols[i]] < 0) return std::nullopt;
  }
  return c;
}

// With at most a handful of features, the best of the unconstrained fits on every subset whose
// coefficients are all >= 0 is the exact NNLS solution (KKT: the optimum solves the plain
// problem on its support).
std::vector<double> nnls(const NormalEquations& ne, unsigned allowed) {
  std::vector<double> best(ne.n(), 0);
  double best_rss = ne.rss(best);
  for (unsigned mask = 1; mask < (1u << ne.n()); ++mask) {
    if ((mask & ~allowed) != 0) continue;
    const auto c = solve_subset(ne, mask);
    if (!c) continue;
    const double r = ne.rss(*c);
    if (r < best_rss) best = *c, best_rss = r;
  }
  return best;
}

}  // namespace epbench::calib
