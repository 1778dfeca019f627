#include "trace/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/rng.h"
#include "model/presets.h"

namespace epbench {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// MoE layer counts of the models the shipped counts come from (SOURCE.txt): the files name
// the model but not its depth, which relative-depth interpolation needs.
int known_model_layers(const std::string& model) {
  if (model == "mistral" || model == "mixtral" || model == "mixtral-8x7b") return 32;
  if (model.rfind("olmoe", 0) == 0) return 16;
  return 0;
}

json parse_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open calibration counts file");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw_field_error(path, "(document)", "valid JSON", e.what());
  }
}

int require_int(const json& doc, const std::string& path, const std::string& field, int lo,
                int hi) {
  if (!doc.contains(field)) throw_field_error(path, field, "an integer", "nothing");
  const json& v = doc[field];
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
    throw_field_error(path, field,
                      "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
                      v.dump());
  return v.get<int>();
}

std::vector<int> read_layers(const json& doc, const std::string& path) {
  if (!doc.contains("layers") || !doc["layers"].is_array() || doc["layers"].empty())
    throw_field_error(path, "layers", "a non-empty array of layer indices",
                      doc.contains("layers") ? doc["layers"].dump() : "nothing");
  std::vector<int> layers;
  for (size_t i = 0; i < doc["layers"].size(); ++i) {
    const json& v = doc["layers"][i];
    const std::string field = "layers[" + std::to_string(i) + "]";
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 100000)
      throw_field_error(path, field, "a layer index >= 0", v.dump());
    if (!layers.empty() && v.get<int>() <= layers.back())
      throw_field_error(path, field, "layers in increasing order", v.dump());
    layers.push_back(v.get<int>());
  }
  return layers;
}

std::vector<double> read_count_row(const json& row, const std::string& path,
                                   const std::string& field, int num_experts) {
  if (!row.is_array() || row.size() != static_cast<size_t>(num_experts))
    throw_field_error(path, field,
                      "an array of num_experts=" + std::to_string(num_experts) + " counts",
                      row.is_array() ? std::to_string(row.size()) + " entries" : row.dump());
  std::vector<double> out;
  for (size_t e = 0; e < row.size(); ++e) {
    if (!row[e].is_number() || !(row[e].get<double>() >= 0) || !std::isfinite(row[e].get<double>()))
      throw_field_error(path, field + "[" + std::to_string(e) + "]", "a finite count >= 0",
                        row[e].dump());
    out.push_back(row[e].get<double>());
  }
  if (std::accumulate(out.begin(), out.end(), 0.0) <= 0)
    throw_field_error(path, field, "at least one positive count", "all zero");
  return out;
}

std::string optional_string(const json& doc, const std::string& path, const std::string& field,
                            const std::string& fallback) {
  if (!doc.contains(field)) return fallback;
  if (!doc[field].is_string() || doc[field].get<std::string>().empty())
    throw_field_error(path, field, "a non-empty string", doc[field].dump());
  return doc[field].get<std::string>();
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) parts.push_back(item);
  if (!s.empty() && s.back() == sep) parts.push_back("");
  return parts;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::vector<std::string> shipped_domains(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

CalibrationSource load_shipped(const std::string& spec, const std::string& option) {
  const auto colon = spec.find(':');
  const std::string model = spec.substr(0, colon);
  const std::string folder = model == "mixtral" || model == "mistral" ? "mistral" : model;
  const std::string dir = calibration_data_dir() + "/" + folder + "/expert_counts";
  const auto known = shipped_domains(dir);
  if (known.empty())
    throw OptionError(option,
                      "no calibration counts found in " + dir +
                          " (set EPBENCH_CALIBRATION_DIR to the olmoe-routing-analysis folder)");
  std::vector<std::string> wanted =
      colon == std::string::npos ? known : split(spec.substr(colon + 1), ',');
  CalibrationSource src;
  src.spec = spec;
  std::set<std::string> seen;
  for (const auto& d : wanted) {
    if (std::find(known.begin(), known.end(), d) == known.end())
      throw OptionError(option, "unknown domain '" + d + "' for " + model +
                                    ", expected one of: " + join(known, ", "));
    if (!seen.insert(d).second) throw OptionError(option, "domain '" + d + "' given twice");
    src.domains.push_back(read_counts_file(dir + "/" + d + ".json"));
  }
  src.description = "olmoe-routing-analysis " +
                    (folder == "mistral" ? std::string("mixtral") : folder) + " (" +
                    join(wanted, ",") + ")";
  return src;
}

CalibrationSource load_files(const std::string& spec, const std::string& option) {
  CalibrationSource src;
  src.spec = spec;
  std::set<std::string> seen;
  std::vector<std::string> names;
  for (const auto& path : split(spec, ',')) {
    if (path.empty()) throw OptionError(option, "empty path in '" + spec + "'");
    src.domains.push_back(read_counts_file(path));
    const std::string& d = src.domains.back().domain;
    if (!seen.insert(d).second)
      throw_field_error(path, "domain", "a domain not given by another file", "'" + d + "'");
    names.push_back(d);
  }
  src.description = "counts files (" + join(names, ",") + ")";
  return src;
}

bool looks_like_path(const std::string& spec) {
  return spec.find('/') != std::string::npos || spec.find(".json") != std::string::npos;
}

double interpolate(const std::vector<double>& xs, const std::vector<double>& ys, double x) {
  if (x <= xs.front()) return ys.front();
  for (size_t j = 1; j < xs.size(); ++j)
    if (x <= xs[j]) return ys[j - 1] + (ys[j] - ys[j - 1]) * (x - xs[j - 1]) / (xs[j] - xs[j - 1]);
  return ys.back();
}

std::vector<int> random_permutation(int n, uint64_t seed) {
  std::vector<int> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  Rng rng(seed);
  for (int i = n - 1; i > 0; --i) std::swap(p[i], p[rng.below(static_cast<uint64_t>(i) + 1)]);
  return p;
}

std::vector<double> mean_normalised(std::vector<double> v) {
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  for (auto& x : v) x /= mean;
  return v;
}

}  // namespace

std::string calibration_data_dir() {
  if (const char* env = std::getenv("EPBENCH_CALIBRATION_DIR"); env && *env) return env;
  return std::string(EPBENCH_SOURCE_DIR) + "/third_party/olmoe-routing-analysis";
}

CountsFile read_counts_file(const std::string& path) {
  const json doc = parse_json_file(path);
  if (!doc.is_object()) throw_field_error(path, "(document)", "a JSON object", doc.type_name());
  CountsFile c;
  c.path = path;
  c.model = optional_string(doc, path, "model", "unknown");
  c.domain = optional_string(doc, path, "domain", fs::path(path).stem().string());
  c.num_experts = require_int(doc, path, "num_experts", 1, 65535);
  c.layers = read_layers(doc, path);
  c.source_layers = doc.contains("num_layers")
                        ? require_int(doc, path, "num_layers", c.layers.back() + 1, 100000)
                        : std::max(known_model_layers(c.model), c.layers.back() + 1);
  if (!doc.contains("counts") || !doc["counts"].is_array() ||
      doc["counts"].size() != c.layers.size())
    throw_field_error(
        path, "counts",
        "an array of one count row per layer (" + std::to_string(c.layers.size()) + ")",
        doc.contains("counts") ? doc["counts"].type_name() : "nothing");
  for (size_t j = 0; j < c.layers.size(); ++j)
    c.counts.push_back(
        read_count_row(doc["counts"][j], path, "counts[" + std::to_string(j) + "]", c.num_experts));
  return c;
}

CalibrationSource load_calibration_source(const std::string& spec, const std::string& option) {
  if (spec == "uniform" || spec == "none") return {spec, "uniform", {}};
  if (looks_like_path(spec)) return load_files(spec, option);
  const std::string model = spec.substr(0, spec.find(':'));
  if (model == "mixtral" || model == "mistral" || model == "olmoe")
    return load_shipped(spec, option);
  throw OptionError(option,
                    "unknown calibration source '" + spec +
                        "', expected uniform, none, mixtral[:DOMAIN,...], olmoe[:DOMAIN,...] or a "
                        "path to a counts .json file");
}

std::string default_calibration_source(const ModelPreset& model) {
  return model.num_experts == 8 ? "mixtral" : "olmoe";
}

double max_over_mean(const std::vector<double>& v) {
  const double sum = std::accumulate(v.begin(), v.end(), 0.0);
  if (v.empty() || sum <= 0) return 0;
  return *std::max_element(v.begin(), v.end()) * static_cast<double>(v.size()) / sum;
}

std::vector<double> resample_quantiles(const std::vector<double>& sorted_desc, int n) {
  const auto m = static_cast<double>(sorted_desc.size());
  std::vector<double> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    // Point i of n and point j of m both sit at the centre of their quantile cell.
    const double pos = (i + 0.5) / n * m - 0.5;
    const double lo = std::clamp(std::floor(pos), 0.0, m - 1);
    const double hi = std::min(lo + 1, m - 1);
    const double f = std::clamp(pos - lo, 0.0, 1.0);
    out[i] =
        sorted_desc[static_cast<size_t>(lo)] * (1 - f) + sorted_desc[static_cast<size_t>(hi)] * f;
  }
  return mean_normalised(out);
}

std::vector<double> power_to_ratio(const std::vector<double>& profile, double target) {
  const double top = *std::max_element(profile.begin(), profile.end());
  std::vector<double> base(profile.size());
  // A floor keeps every expert alive: a zero weight would make it unreachable forever.
  for (size_t i = 0; i < base.size(); ++i) base[i] = std::max(profile[i], 1e-3 * top) / top;
  auto powered = [&](double g) {
    std::vector<double> v(base.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = std::pow(base[i], g);
    return mean_normalised(v);
  };
  if (target <= 1 || max_over_mean(base) <= 1 + 1e-12) return powered(0);
  double lo = 0, hi = 1;
  while (max_over_mean(powered(hi)) < target && hi < 1024) hi *= 2;
  if (max_over_mean(powered(hi)) < target) return powered(hi);
  for (int it = 0; it < 60; ++it) {
    const double mid = 0.5 * (lo + hi);
    (max_over_mean(powered(mid)) < target ? lo : hi) = mid;
  }
  return powered(0.5 * (lo + hi));
}

LayerTarget layer_target(const CountsFile& c, int layer, int num_layers, int num_experts, int top_k,
                         uint64_t perm_seed) {
  const auto depth = [](int l, int n) { return n > 1 ? double(l) / (n - 1) : 0.0; };
  const double x = depth(layer, num_layers);
  std::vector<double> xs, ratios;
  size_t nearest = 0;
  for (size_t j = 0; j < c.layers.size(); ++j) {
    xs.push_back(depth(c.layers[j], c.source_layers));
    ratios.push_back(max_over_mean(c.counts[j]));
    if (std::abs(xs[j] - x) < std::abs(xs[nearest] - x)) nearest = j;
  }
  LayerTarget t;
  t.uncapped = interpolate(xs, ratios, x);
  const double cap = double(num_experts) / top_k;
  t.capped = t.uncapped > cap;
  const double ratio = std::min(t.uncapped, cap);

  // The real experts keep their identity only where the layer is the calibrated one itself.
  const auto& row = c.counts[nearest];
  const bool same =
      num_layers == c.source_layers && num_experts == c.num_experts && layer == c.layers[nearest];
  std::vector<int> perm(static_cast<size_t>(num_experts));
  std::iota(perm.begin(), perm.end(), 0);
  if (!same) perm = random_permutation(num_experts, mix_seed(perm_seed, uint64_t(layer)));
  auto source_count = [&](int i) {
    return row[static_cast<size_t>(int64_t(perm[i]) * c.num_experts / num_experts)];
  };
  std::vector<int> order(static_cast<size_t>(num_experts));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    if (source_count(a) != source_count(b)) return source_count(a) > source_count(b);
    return perm[a] < perm[b];
  });
  std::vector<double> sorted = row;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  const std::vector<double> shape = power_to_ratio(resample_quantiles(sorted, num_experts), ratio);
  t.load.assign(static_cast<size_t>(num_experts), 0);
  for (int r = 0; r < num_experts; ++r) t.load[order[r]] = shape[r];
  t.max_over_mean = max_over_mean(t.load);
  return t;
}

}  // namespace epbench
