#include "trace/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common/error.h"
#include "common/rng.h"
#include "model/model_spec.h"
#include "trace/calibration.h"
#include "trace/synth_sampler.h"

namespace epbench {

namespace {

// Independent random streams, keyed as mix_seed(seed, index, stream), so that changing one
// feature (say the number of domains) does not reshuffle the others.
enum Stream : uint64_t {
  kTokens = 0,  // per request: its tokens (mix_seed(seed, request) itself)
  kPlan = 1,    // per request: lengths and domain
  kGroups = 2,  // per layer
  kSuccessors = 3,
  kExpertRoles = 4,  // which synthetic expert plays which real one
  kDomainNoise = 5,
  kCalibration = 6,  // per domain
};

constexpr uint32_t kMaxLength = 1u << 24;

void require(bool ok, const std::string& field, const std::string& what) {
  if (!ok) throw OptionError(field, what);
}

std::vector<int> shuffled(int n, uint64_t seed) {
  std::vector<int> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  Rng rng(seed);
  for (int i = n - 1; i > 0; --i) std::swap(p[i], p[rng.below(uint64_t(i) + 1)]);
  return p;
}

// Standard normal from two uniforms (Box-Muller): portable, unlike std::normal_distribution.
double normal(Rng& rng) {
  const double u = 1.0 - rng.uniform(), v = rng.uniform();
  return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
}

LayerStructure make_structure(const SynthOptions& opt, const ModelPreset& p, int layer) {
  LayerStructure s;
  const int E = p.num_experts;
  s.group_of.assign(static_cast<size_t>(E), -1);
  const int groups = opt.coact_groups < 0 ? std::max(1, E / p.top_k) : opt.coact_groups;
  if (groups > 0 && groups < E) {
    const auto order = shuffled(E, mix_seed(opt.seed, uint64_t(layer), kGroups));
    s.groups.resize(static_cast<size_t>(groups));
    // Group g takes the g-th slice of a random order: sizes differ by at most one.
    for (int i = 0; i < E; ++i) {
      const int g = static_cast<int>(int64_t(i) * groups / E);
      s.groups[g].push_back(order[i]);
      s.group_of[order[i]] = g;
    }
    for (auto& g : s.groups) {
      std::sort(g.begin(), g.end());
      s.group_begin.push_back(uint32_t(s.members.size()));
      s.members.insert(s.members.end(), g.begin(), g.end());
    }
    s.group_begin.push_back(uint32_t(s.members.size()));
  }
  const auto succ = shuffled(E, mix_seed(opt.seed, uint64_t(layer), kSuccessors));
  s.successor.assign(succ.begin(), succ.end());
  return s;
}

std::vector<double> mean_normalised(std::vector<double> v) {
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  for (auto& x : v) x /= mean;
  return v;
}

std::string capped_warning(int layer, const LayerTarget& t, const std::string& domain,
                           const ModelPreset& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "warning: layer %d%s%s: calibrated max/mean %.2f exceeds E/k = %d/%d, capped",
                layer, domain.empty() ? "" : " domain ", domain.c_str(), t.uncapped, p.num_experts,
                p.top_k);
  return buf;
}

// Log-normal perturbation of a shared profile, so synthetic domains prefer different experts.
// A skewed profile is refitted to its own max/mean, so each domain keeps the calibrated skew;
// a flat one keeps the perturbation's skew, within what top-k allows.
std::vector<double> perturbed(const std::vector<double>& base, double sigma, double cap,
                              uint64_t seed) {
  const double ratio = max_over_mean(base);
  Rng rng(seed);
  std::vector<double> v(base.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = base[i] * std::exp(sigma * normal(rng));
  if (ratio > 1 + 1e-9) return power_to_ratio(v, ratio);
  return max_over_mean(v) > cap ? power_to_ratio(v, cap) : mean_normalised(v);
}

std::vector<double> domain_target(SynthModel& m, const SynthOptions& opt, const ModelPreset& p,
                                  const CalibrationSource& src, int l, int d) {
  const uint64_t noise_seed = mix_seed(opt.seed, uint64_t(l) * m.num_domains + d, kDomainNoise);
  const double cap = double(p.num_experts) / p.top_k;
  std::vector<double> base(size_t(p.num_experts), 1.0);
  if (!src.uniform()) {
    const CountsFile& c = src.domains[opt.domains > 0 ? 0 : size_t(d)];
    const LayerTarget t = layer_target(c, l, p.num_layers, p.num_experts, p.top_k,
                                       mix_seed(opt.seed, 0, kExpertRoles));
    if (t.capped && (d == 0 || opt.domains == 0))
      m.warnings.push_back(capped_warning(l, t, opt.domains > 0 ? "" : c.domain, p));
    base = t.load;
  }
  return opt.domains > 0 ? perturbed(base, opt.domain_strength, cap, noise_seed) : base;
}

// Token counts per (layer, domain, expert) of `n` simulated tokens per domain; the RNG is
// re-seeded each call (common random numbers), so successive calls differ only by weights.
std::vector<double> simulate(const SynthModel& m, uint64_t n, uint64_t seed) {
  const int L = m.num_layers, E = m.num_experts, k = m.top_k, D = m.num_domains;
  std::vector<double> counts(size_t(L) * D * E, 0.0);
  std::vector<uint16_t> ids(size_t(L) * k);
  TokenSampler sampler(m);
  for (int d = 0; d < D; ++d) {
    Rng rng(mix_seed(seed, uint64_t(d), kCalibration));
    for (uint64_t t = 0; t < n; ++t) {
      sampler.sample_token(d, rng, ids.data(), nullptr);
      for (int l = 0; l < L; ++l)
        for (int j = 0; j < k; ++j) counts[(size_t(l) * D + d) * E + ids[size_t(l) * k + j]] += 1;
    }
  }
  return counts;
}

// Mean squared gap between realised and wanted inclusion in units of its sampling variance:
// about 1 once only sampling noise is left.
double calibration_chi2(const SynthModel& m, const std::vector<double>& counts, uint64_t n) {
  double sum = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double want = std::clamp(
        m.target[i / size_t(m.num_experts)][i % size_t(m.num_experts)] * m.top_k / m.num_experts,
        1e-6, 1 - 1e-6);
    const double gap = counts[i] / double(n) - want;
    sum += gap * gap / (want * (1 - want) / double(n));
  }
  return sum / double(counts.size());
}

// Fixed-point iteration on the real sampling procedure: scale each weight by the odds ratio
// of wanted to realised inclusion, so that boosts and top-k saturation are accounted for.
// Steps shrink over the iterations to average out sampling noise, and one step changes a
// weight at most twofold: near saturation the odds ratio is huge and would overshoot.
void calibrate(SynthModel& m, const SynthOptions& opt) {
  const int E = m.num_experts, D = m.num_domains;
  const uint64_t n = std::max<uint64_t>(2048, opt.calib_tokens / uint64_t(D));
  const double lo = 0.5 / double(n), hi = 1 - lo;
  const auto odds = [](double p) { return p / (1 - p); };
  std::vector<double> counts;
  for (int it = 0;; ++it) {
    counts = simulate(m, n, mix_seed(opt.seed, uint64_t(it), kCalibration));
    const double chi2 = calibration_chi2(m, counts, n);
    if (it >= opt.calib_iters || (it >= 2 && chi2 < 1.2)) break;
    const double step = std::min(0.8, 2.0 / (it + 1));
    for (size_t t = 0; t < m.tables.size(); ++t) {
      auto& w = m.tables[t].weight;
      for (int e = 0; e < E; ++e) {
        const double got = std::clamp(counts[t * E + e] / double(n), lo, hi);
        const double want = std::clamp(m.target[t][e] * m.top_k / E, 1e-6, 1 - 1e-4);
        w[e] *= std::clamp(std::pow(odds(want) / odds(got), step), 0.5, 2.0);
      }
      w = mean_normalised(w);
      m.tables[t].rebuild(m.layers[t / size_t(D)]);
    }
  }
  m.calibrated_ratio.assign(size_t(m.num_layers), 0);
  for (int l = 0; l < m.num_layers; ++l) {
    std::vector<double> mix(size_t(E), 0);
    for (int d = 0; d < D; ++d)
      for (int e = 0; e < E; ++e) mix[e] += counts[(size_t(l) * D + d) * E + e];
    m.calibrated_ratio[l] = max_over_mean(mix);
  }
}

std::unique_ptr<SynthModel> build_model(const SynthOptions& opt, const ModelPreset& p,
                                        const CalibrationSource& src, int num_domains) {
  auto m = std::make_unique<SynthModel>();
  m->num_layers = p.num_layers;
  m->num_experts = p.num_experts;
  m->top_k = p.top_k;
  m->num_domains = num_domains;
  m->affinity = opt.layer_affinity;
  for (int l = 0; l < p.num_layers; ++l) m->layers.push_back(make_structure(opt, p, l));
  m->coact = m->layers[0].groups.empty() ? 0 : opt.coact_strength;
  for (int l = 0; l < p.num_layers; ++l) {
    for (int d = 0; d < num_domains; ++d) {
      m->target.push_back(domain_target(*m, opt, p, src, l, d));
      LayerDomainTable t;
      t.weight = m->target.back();
      t.rebuild(m->layers[size_t(l)]);
      m->tables.push_back(std::move(t));
    }
  }
  calibrate(*m, opt);
  return m;
}

std::vector<std::string> domain_names(const SynthOptions& opt, const CalibrationSource& src) {
  std::vector<std::string> names;
  for (int d = 0; d < opt.domains; ++d) names.push_back("domain" + std::to_string(d));
  if (opt.domains == 0)
    for (const auto& c : src.domains) names.push_back(c.domain);
  return names;
}

void check_range(uint32_t lo, uint32_t hi, uint32_t min_lo, const std::string& field) {
  if (lo < min_lo || lo > hi || hi > kMaxLength)
    throw OptionError(field, "expected MIN:MAX with " + std::to_string(min_lo) +
                                 " <= MIN <= MAX <= " + std::to_string(kMaxLength) + ", got " +
                                 std::to_string(lo) + ":" + std::to_string(hi));
}

void check_real(double v, double lo, double hi, const std::string& field) {
  if (!(v >= lo && v <= hi))
    throw OptionError(field, "expected a number in [" + std::to_string(lo) + ", " +
                                 std::to_string(hi) + "], got " + std::to_string(v));
}

}  // namespace

void validate(const SynthOptions& opt) {
  const ModelPreset p = resolve_model(opt.model);
  if (opt.requests > 0 && opt.tokens > 0)
    throw OptionError("requests", "cannot be combined with tokens");
  if (opt.requests == 0 && opt.tokens == 0)
    throw OptionError("requests", "expected a number of requests > 0 (or tokens > 0), got 0");
  require(opt.requests <= (1ull << 40) && opt.tokens <= (1ull << 48), "requests",
          "expected at most 2^40 requests and 2^48 tokens");
  check_range(opt.prompt_min, opt.prompt_max, 1, "prompt_len");
  check_range(opt.decode_min, opt.decode_max, 0, "decode_len");
  if (opt.domains < 0 || opt.domains > 4096)
    throw OptionError("domains", "expected 0..4096, got " + std::to_string(opt.domains));
  check_real(opt.domain_strength, 0, 10, "domain_strength");
  if (opt.coact_groups < -1 || opt.coact_groups > p.num_experts)
    throw OptionError("coact_groups", "expected 0.." + std::to_string(p.num_experts) +
                                          " (the number of experts), got " +
                                          std::to_string(opt.coact_groups));
  check_real(opt.coact_strength, 0, 1e6, "coact_strength");
  check_real(opt.layer_affinity, 0, 1e6, "layer_affinity");
  require(opt.calib_tokens >= 256 && opt.calib_tokens <= 100000000, "calib_tokens",
          "expected 256..100000000, got " + std::to_string(opt.calib_tokens));
  require(opt.calib_iters >= 0 && opt.calib_iters <= 1000, "calib_iters",
          "expected 0..1000, got " + std::to_string(opt.calib_iters));
}

std::string options_json(const SynthOptions& opt, const std::string& calibrate_resolved) {
  nlohmann::ordered_json j;
  j["model"] = opt.model;
  j["seed"] = opt.seed;
  j["requests"] = opt.requests;
  j["tokens"] = opt.tokens;
  j["prompt_len"] = {opt.prompt_min, opt.prompt_max};
  j["decode_len"] = {opt.decode_min, opt.decode_max};
  j["calibrate"] = calibrate_resolved;
  j["domains"] = opt.domains;
  j["domain_strength"] = opt.domain_strength;
  j["coact_groups"] = opt.coact_groups;
  j["coact_strength"] = opt.coact_strength;
  j["layer_affinity"] = opt.layer_affinity;
  j["gate_weights"] = opt.gate_weights;
  j["calib_tokens"] = opt.calib_tokens;
  j["calib_iters"] = opt.calib_iters;
  return j.dump();
}

struct SynthGenerator::Cursor {
  Cursor(const SynthModel& m, uint64_t seed) : sampler(m), rng(seed) {}
  TokenSampler sampler;
  Rng rng;
  uint64_t request = 0, end = 0;  // the current request and its end token
  uint32_t position = 0, prompt_len = 0;
  int domain = 0;
};

SynthGenerator::SynthGenerator(const SynthOptions& opt) : opt_(opt) {
  validate(opt_);
  const ModelPreset p = resolve_model(opt_.model);
  if (opt_.calibrate.empty()) opt_.calibrate = default_calibration_source(p);
  const CalibrationSource src = load_calibration_source(opt_.calibrate);
  if (opt_.domains > 0 && src.domains.size() > 1)
    throw OptionError("domains",
                      "synthetic domains need a single-profile calibration source "
                      "(one domain, or uniform), got '" +
                          opt_.calibrate + "' with " + std::to_string(src.domains.size()) +
                          " domains");
  header_ = header_for(p);
  header_.source = "synth";
  header_.dataset = src.description;
  header_.params = options_json(opt_, opt_.calibrate);
  header_.domains = domain_names(opt_, src);
  header_.has_gate_weights = opt_.gate_weights;
  model_ = build_model(opt_, p, src, std::max<int>(1, int(header_.domains.size())));
  plan_requests();
  header_.num_requests = requests_.size();
  header_.num_tokens = requests_.token_offset.back();
  start_request(0);
}

SynthGenerator::~SynthGenerator() = default;

void SynthGenerator::plan_requests() {
  const auto D = uint64_t(model_->num_domains);
  uint64_t total = 0;
  requests_.token_offset = {0};
  for (uint64_t r = 0;; ++r) {
    if (opt_.requests ? r == opt_.requests : total >= opt_.tokens) break;
    Rng rng(mix_seed(opt_.seed, r, kPlan));
    const auto prompt =
        uint32_t(opt_.prompt_min + rng.below(opt_.prompt_max - opt_.prompt_min + 1ull));
    const auto decode =
        uint32_t(opt_.decode_min + rng.below(opt_.decode_max - opt_.decode_min + 1ull));
    const auto domain = uint16_t(rng.below(D));
    uint64_t len = uint64_t(prompt) + decode;
    if (opt_.tokens) len = std::min(len, opt_.tokens - total);
    total += len;
    requests_.token_offset.push_back(total);
    requests_.prompt_len.push_back(uint32_t(std::min<uint64_t>(prompt, len)));
    if (!header_.domains.empty()) requests_.domain.push_back(domain);
  }
}

void SynthGenerator::start_request(uint64_t r) {
  // Each request has its own stream, so the output does not depend on how it is blocked.
  if (!cursor_) cursor_ = std::make_unique<Cursor>(*model_, 0);
  cursor_->rng = Rng(mix_seed(opt_.seed, r));
  cursor_->position = 0;
  cursor_->request = r;
  cursor_->end = requests_.token_offset[r + 1];
  cursor_->prompt_len = requests_.prompt_len[r];
  cursor_->domain = requests_.domain.empty() ? 0 : requests_.domain[r];
}

bool SynthGenerator::next_block(TokenBlock& block, size_t max_tokens) {
  const uint64_t n = std::min<uint64_t>(max_tokens, header_.num_tokens - next_token_);
  if (n == 0) return false;
  block.first_token = next_token_;
  block.num_layers = header_.num_layers;
  block.top_k = header_.top_k;
  block.resize(n, opt_.gate_weights);
  const size_t per_token = header_.ids_per_token();
  for (size_t i = 0; i < n; ++i) {
    if (next_token_ + i == cursor_->end) start_request(cursor_->request + 1);
    Cursor& c = *cursor_;
    block.position[i] = c.position;
    block.phase[i] = uint8_t(c.position < c.prompt_len ? Phase::kPrefill : Phase::kDecode);
    c.sampler.sample_token(c.domain, c.rng, block.expert_ids.data() + i * per_token,
                           opt_.gate_weights ? block.gate_weights.data() + i * per_token : nullptr);
    ++c.position;
  }
  next_token_ += n;
  return true;
}

void SynthGenerator::rewind() {
  next_token_ = 0;
  start_request(0);
}

int SynthGenerator::num_domains() const {
  return model_->num_domains;
}

const std::vector<std::vector<int>>& SynthGenerator::coact_groups(int layer) const {
  return model_->layers.at(size_t(layer)).groups;
}

int SynthGenerator::successor(int layer, int expert) const {
  if (layer + 1 >= model_->num_layers) return -1;
  return model_->layers.at(size_t(layer)).successor.at(size_t(expert));
}

const std::vector<double>& SynthGenerator::target_load(int layer, int domain) const {
  return model_->target.at(size_t(layer) * model_->num_domains + size_t(domain));
}

double SynthGenerator::target_max_over_mean(int layer) const {
  std::vector<double> mix(size_t(model_->num_experts), 0);
  for (int d = 0; d < model_->num_domains; ++d) {
    const auto& t = target_load(layer, d);
    for (size_t e = 0; e < mix.size(); ++e) mix[e] += t[e];
  }
  return max_over_mean(mix);
}

double SynthGenerator::calibrated_max_over_mean(int layer) const {
  return model_->calibrated_ratio.at(size_t(layer));
}

const std::vector<std::string>& SynthGenerator::warnings() const {
  return model_->warnings;
}

}  // namespace epbench
