#pragma once
// A small non-negative least squares solver for `epbench calibrate` (docs/calibrate.md):
// minimizes sum_s w_s (y_s - c'x_s)^2 over c >= 0 for a handful of features (it tries every
// subset of them), working on the accumulated normal equations X'WX, X'Wy and y'Wy, so no
// sample is kept.
#include <cstddef>
#include <optional>
#include <vector>

#include "costmodel/calibrate.h"

namespace epbench::calib {

// The normal equations of a weighted linear least squares problem, summed sample by sample.
class NormalEquations {
 public:
  explicit NormalEquations(size_t n) : n_(n), xx_(n * n, 0), xy_(n, 0) {}
  // One sample's features x[0..n) and target y; inline: it runs once per sample.
  void add(const double* x, double y, double weight = 1) {
    for (size_t i = 0; i < n_; ++i) {
      if (x[i] == 0) continue;
      for (size_t j = 0; j < n_; ++j) xx_[i * n_ + j] += weight * x[i] * x[j];
      xy_[i] += weight * x[i] * y;
    }
  }
  // The target's own sums, added once per sample (or group of samples).
  void add_target(double sum_y, double sum_yy, double count) {
    ysum_ += sum_y, yy_ += sum_yy, count_ += count;
  }
  size_t n() const { return n_; }
  double xx(size_t i, size_t j) const { return xx_[i * n_ + j]; }
  double xy(size_t i) const { return xy_[i]; }
  double count() const { return count_; }
  // Residual sum of squares of coefficients c: y'y - 2 c'X'y + c'X'Xc (never below 0).
  double rss(const std::vector<double>& c) const;
  // R^2 and relative RMS of a fit whose residual sum of squares is `rss_value`.
  FitQuality quality(double rss_value) const;

 private:
  size_t n_;
  std::vector<double> xx_, xy_;
  double yy_ = 0, ysum_ = 0, count_ = 0;
};

// Unconstrained least squares on the features in `mask`, columns scaled to unit norm, by
// Gaussian elimination with partial pivoting. Nothing when singular or a coefficient < 0.
std::optional<std::vector<double>> solve_subset(const NormalEquations& ne, unsigned mask);

// Non-negative least squares over the features in `allowed` (bit i: feature i); the others
// are 0. Exact: the best of the non-negative unconstrained fits over every subset.
std::vector<double> nnls(const NormalEquations& ne, unsigned allowed);

}  // namespace epbench::calib
