#include "costmodel/profile_tables.h"

#include <algorithm>
#include <string>

#include "common/error.h"
#include "costmodel/isotonic.h"

namespace epbench {

PiecewiseLinear::PiecewiseLinear(std::vector<double> x, std::vector<double> y)
    : x_(std::move(x)), y_(std::move(y)) {
  if (x_.empty() || x_.size() != y_.size())
    throw InputError("piecewise-linear table: expected as many y as x, at least one");
}

double PiecewiseLinear::operator()(double x) const {
  if (x <= x_.front() || x_.size() == 1) return x <= x_.front() ? y_.front() : y_.back();
  // The segment [x_[i-1], x_[i]] holding x, or the last one beyond the grid (extrapolation).
  const size_t n = x_.size();
  size_t i = static_cast<size_t>(std::upper_bound(x_.begin(), x_.end(), x) - x_.begin());
  i = std::min(std::max<size_t>(i, 1), n - 1);
  const double slope = (y_[i] - y_[i - 1]) / (x_[i] - x_[i - 1]);
  return y_[i - 1] + slope * (x - x_[i - 1]);
}

namespace {

std::vector<double> as_double(const std::vector<int64_t>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// What a reuse curve t(bytes) kept of the cold-to-warm saving after 0, 1, 2, ... other experts,
// ending before the first 0. The curve is first fitted non-decreasing (a time cannot fall with
// more read between): a noisy slow point at small d is averaged with those after it rather than
// capping every d beyond it.
std::vector<double> kept_saving(const std::vector<int64_t>& bytes, const std::vector<double>& t,
                                double warm, uint64_t expert_bytes) {
  const std::vector<double> fit = non_decreasing_fit(t);
  const PiecewiseLinear curve(as_double(bytes), fit);
  const double cold = fit.back(), end = static_cast<double>(bytes.back());
  std::vector<double> kept;
  if (!(cold > warm)) return kept;  // the cache saved nothing
  for (size_t others = 0; double(others) * double(expert_bytes) < end; ++others) {
    const double saved = (cold - curve(double(others) * double(expert_bytes))) / (cold - warm);
    const double k = std::clamp(saved, 0.0, 1.0);
    if (k == 0) break;
    kept.push_back(k);
  }
  return kept;
}

}  // namespace

void ProfileTables::set_warm_table(const Profile& p) {
  expert_bytes_ = expert_weight_bytes(p);
  cache_bytes_ = static_cast<uint64_t>(std::max<int64_t>(0, p.cache_bytes_per_rank));
  if (p.ffn_warm_time_s.empty()) return;
  warm_ = PiecewiseLinear(as_double(p.ffn_tokens), p.ffn_warm_time_s);
  warm_dense_.assign(dense_.size(), 0);
  for (size_t n = 1; n < warm_dense_.size(); ++n)
    warm_dense_[n] = std::min(warm_(static_cast<double>(n)), dense_[n]);
  set_warmth(p);
}

void ProfileTables::set_warmth(const Profile& p) {
  if (!models_weight_reuse()) return;
  if (p.ffn_reuse_bytes.empty()) {  // warm while it fits, then cold
    kept_miss_.assign(cache_bytes_ / expert_bytes_, 1.0);
    kept_hit_ = kept_miss_;
    return;
  }
  kept_miss_ = kept_saving(p.ffn_reuse_bytes, p.ffn_reuse_time_s, warm_(1), expert_bytes_);
  kept_hit_ = kept_saving(p.ffn_reuse_bytes, p.ffn_reuse_loop_time_s, warm_(1), expert_bytes_);
  const size_t horizon = std::max(kept_miss_.size(), kept_hit_.size());
  kept_miss_.resize(horizon, 0.0);
  kept_hit_.resize(horizon, 0.0);
}

ProfileTables::ProfileTables(const Profile& p)
    : cache_sharers_(
          p.backend == "cpu" ? static_cast<size_t>(std::max<int64_t>(1, ranks_per_host(p))) : 1),
      turns_(p.ffn_turns_ratio),
      count_s_(p.count_exchange_s),
      count_hot_s_(p.a2a_hot_time_s.empty() ? p.count_exchange_s : p.count_exchange_hot_s),
      wire_converts_(p.dtype != "fp32") {
  const size_t T = p.ffn_tokens.size(), A = p.ffn_active.size();
  const double active = static_cast<double>(p.ffn_active.back());
  per_active_ = 1 / active;
  if (!turns_.empty()) sharing_ = epbench::core_sharing(static_cast<int>(turns_.size()), turns_[0]);
  std::vector<double> per_expert(T);
  for (size_t t = 0; t < T; ++t) per_expert[t] = p.ffn_time_s[(A - 1) * T + t] / active;
  ffn_ = PiecewiseLinear(as_double(p.ffn_tokens), per_expert);
  // Dense up to the grid's end (capped: a file's grid may reach far), interpolated beyond.
  constexpr int64_t kDenseMax = 1 << 14;
  dense_.assign(static_cast<size_t>(std::min(p.ffn_tokens.back(), kDenseMax)) + 1, 0);
  for (size_t n = 1; n < dense_.size(); ++n) dense_[n] = ffn_(static_cast<double>(n));
  set_warm_table(p);
  const size_t M = p.a2a_bytes.size();
  for (size_t i = 0; i < p.a2a_patterns.size(); ++i) {
    const int k = p.a2a_patterns[i] == kPatternSameNode ? kSameNode : kOtherNode;
    const auto row = p.a2a_time_s.begin() + static_cast<std::ptrdiff_t>(i * M);
    a2a_[k] = PiecewiseLinear(as_double(p.a2a_bytes), std::vector<double>(row, row + M));
    const auto hot = p.a2a_hot_time_s.empty()
                         ? row
                         : p.a2a_hot_time_s.begin() + static_cast<std::ptrdiff_t>(i * M);
    a2a_hot_[k] = PiecewiseLinear(as_double(p.a2a_bytes), std::vector<double>(hot, hot + M));
    per_destination_[k] = 1 / static_cast<double>(p.a2a_destinations[i]);
  }
  if (p.row_moves.empty()) return;
  row_moves_ = PiecewiseLinear(as_double(p.row_moves), p.row_move_time_s);
  row_moves_hot_ = PiecewiseLinear(as_double(p.row_moves), p.row_move_hot_time_s);
}

}  // namespace epbench
