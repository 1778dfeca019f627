#include "results/validation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "results/summary.h"

namespace epbench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// 1-based ranks; equal values share the mean of the ranks they span.
std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double mean_rank = static_cast<double>(i + j) / 2 + 1;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = mean_rank;
    i = j + 1;
  }
  return rank;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return kNaN;
  return sxy / std::sqrt(sxx * syy);
}

// One placement of a group: its layouts' names and summed times.
struct PlacementEntry {
  std::string key, names;
  size_t layouts = 0;
  double measured = 0, predicted = 0;
};

RankAgreement rank_group(const std::vector<ValidationPoint>& points, int batch_size,
                         const std::string& routing) {
  std::vector<PlacementEntry> entries;
  size_t layouts = 0;
  for (const ValidationPoint& p : points) {
    if (p.batch_size != batch_size || p.routing != routing) continue;
    ++layouts;
    const std::string key = p.placement.empty() ? p.layout : p.placement;
    auto e =
        std::find_if(entries.begin(), entries.end(), [&](const auto& x) { return x.key == key; });
    if (e == entries.end())
      e = entries.insert(e, PlacementEntry{key, p.layout});
    else
      e->names += " = " + p.layout;
    ++e->layouts, e->measured += p.measured_s, e->predicted += p.predicted_s;
  }
  RankAgreement r;
  r.batch_size = batch_size, r.routing = routing, r.layouts = layouts;
  r.placements = entries.size();
  std::vector<double> measured, predicted;
  for (const PlacementEntry& e : entries) {
    measured.push_back(e.measured / static_cast<double>(e.layouts));
    predicted.push_back(e.predicted / static_cast<double>(e.layouts));
    if (e.layouts > 1) r.same.push_back(e.names);
  }
  r.spearman = spearman(measured, predicted);
  return r;
}

}  // namespace

double relative_error(double measured, double predicted) {
  return std::fabs(predicted - measured) / measured;
}

double median_of(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double x) { return std::isnan(x); }),
               values.end());
  return values.empty() ? kNaN : percentile(values, 0.5);
}

double mean_of_step_medians(const std::vector<std::vector<double>>& rounds) {
  const size_t steps = rounds.empty() ? 0 : rounds[0].size();
  double sum = 0;
  std::vector<double> step(rounds.size());
  for (size_t s = 0; s < steps; ++s) {
    for (size_t r = 0; r < rounds.size(); ++r) step[r] = rounds[r].at(s);
    sum += median_of(step);
  }
  return steps == 0 ? 0 : sum / static_cast<double>(steps);
}

ErrorStats relative_error_stats(const std::vector<double>& measured,
                                const std::vector<double>& predicted) {
  std::vector<double> errors;
  for (size_t i = 0; i < measured.size() && i < predicted.size(); ++i)
    if (!std::isnan(measured[i]) && !std::isnan(predicted[i]) && measured[i] > 0)
      errors.push_back(relative_error(measured[i], predicted[i]));
  if (errors.empty()) return {0, kNaN, kNaN, kNaN};
  return {errors.size(), percentile(errors, 0.5), percentile(errors, 0.9),
          *std::max_element(errors.begin(), errors.end())};
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.size() < 2) return kNaN;
  return pearson(average_ranks(a), average_ranks(b));
}

ValidationSummary summarize_validation(const std::vector<ValidationPoint>& points) {
  ValidationSummary s;
  std::vector<double> measured, predicted;
  for (const ValidationPoint& p : points) {
    measured.push_back(p.measured_s);
    predicted.push_back(p.predicted_s);
  }
  s.step_time = relative_error_stats(measured, predicted);
  std::vector<std::pair<int, std::string>> groups;
  for (const ValidationPoint& p : points)
    if (std::find(groups.begin(), groups.end(), std::pair(p.batch_size, p.routing)) == groups.end())
      groups.emplace_back(p.batch_size, p.routing);
  std::stable_sort(groups.begin(), groups.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  s.min_spearman = kNaN;
  for (const auto& [batch, routing] : groups) {
    s.ranking.push_back(rank_group(points, batch, routing));
    const double rho = s.ranking.back().spearman;
    if (!std::isnan(rho) && (std::isnan(s.min_spearman) || rho < s.min_spearman))
      s.min_spearman = rho;
  }
  return s;
}

namespace {

// Each group's Spearman of a's measured times against b's.
std::vector<double> measured_agreement(std::vector<ValidationPoint> a,
                                       const std::vector<ValidationPoint>& b) {
  for (size_t c = 0; c < a.size(); ++c) a[c].predicted_s = b[c].measured_s;
  std::vector<double> rho;
  for (const RankAgreement& g : summarize_validation(a).ranking) rho.push_back(g.spearman);
  return rho;
}

}  // namespace

void add_round_agreement(const std::vector<std::vector<ValidationPoint>>& rounds,
                         ValidationSummary& s) {
  std::vector<std::vector<double>> per_group(s.ranking.size());
  for (size_t i = 0; i < rounds.size(); ++i)
    for (size_t j = i + 1; j < rounds.size(); ++j) {
      const std::vector<double> rho = measured_agreement(rounds[i], rounds[j]);
      for (size_t g = 0; g < per_group.size() && g < rho.size(); ++g)
        per_group[g].push_back(rho[g]);
    }
  for (size_t g = 0; g < per_group.size(); ++g)
    s.ranking[g].rounds_spearman = median_of(per_group[g]);
}

void add_split_half_agreement(const std::vector<ValidationPoint>& even,
                              const std::vector<ValidationPoint>& odd, ValidationSummary& s) {
  const std::vector<double> rho = measured_agreement(even, odd);
  for (size_t g = 0; g < s.ranking.size() && g < rho.size(); ++g) {
    const double r = rho[g];
    s.ranking[g].halves_spearman = r;
    s.ranking[g].exact_model_spearman = std::isnan(r) ? kNaN
                                        : r <= 0      ? 0
                                                      : std::sqrt(2 * r / (1 + r));
  }
}

}  // namespace epbench
