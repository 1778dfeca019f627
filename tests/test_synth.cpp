// The synthetic trace generator: determinism, request structure, calibration to real counts,
// planted co-activation groups and cross-layer affinity, domains, and option checking.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <thread>

#include "common/error.h"
#include "test_util.h"
#include "trace/calibration.h"
#include "trace/stats.h"
#include "trace/synth.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

SynthOptions small(const std::string& model, uint64_t tokens) {
  SynthOptions o;
  o.model = model;
  o.tokens = tokens;
  o.prompt_min = 8, o.prompt_max = 48;
  o.decode_min = 4, o.decode_max = 32;
  return o;
}

// The whole trace in memory, made `block` tokens at a time.
Trace generate(SynthGenerator& g, size_t block = 4096) {
  Trace t{g.header(), g.requests(), {}};
  t.tokens.num_layers = t.header.num_layers;
  t.tokens.top_k = t.header.top_k;
  TokenBlock b;
  while (g.next_block(b, block)) {
    auto append = [](auto& dst, const auto& src) { dst.insert(dst.end(), src.begin(), src.end()); };
    append(t.tokens.expert_ids, b.expert_ids);
    append(t.tokens.gate_weights, b.gate_weights);
    append(t.tokens.phase, b.phase);
    append(t.tokens.position, b.position);
  }
  return t;
}

Trace generate(const SynthOptions& o, size_t block = 4096) {
  SynthGenerator g(o);
  return generate(g, block);
}

// Load of layer l per expert, over the tokens of requests in `domain` (-1: all).
std::vector<double> layer_load(const Trace& t, int l, int domain = -1) {
  std::vector<double> load(size_t(t.header.num_experts), 0);
  for (size_t r = 0; r < t.requests.size(); ++r) {
    if (domain >= 0 && t.requests.domain[r] != domain) continue;
    for (uint64_t tok = t.requests.token_offset[r]; tok < t.requests.token_offset[r + 1]; ++tok)
      for (int j = 0; j < t.header.top_k; ++j) load[t.tokens.experts(tok, l)[j]] += 1;
  }
  return load;
}

double total_variation(std::vector<double> a, std::vector<double> b) {
  const double sa = std::accumulate(a.begin(), a.end(), 0.0);
  const double sb = std::accumulate(b.begin(), b.end(), 0.0);
  double tv = 0;
  for (size_t i = 0; i < a.size(); ++i) tv += std::abs(a[i] / sa - b[i] / sb);
  return tv / 2;
}

using test::stats_of;

TEST(Synth, SameSeedSameTraceWhateverTheBlockSize) {
  const SynthOptions o = small("mixtral-8x7b", 3000);
  const Trace a = generate(o, 4096), b = generate(o, 337);
  EXPECT_EQ(a.tokens.expert_ids, b.tokens.expert_ids);
  EXPECT_EQ(a.tokens.gate_weights, b.tokens.gate_weights);
  EXPECT_EQ(a.tokens.phase, b.tokens.phase);
  EXPECT_EQ(a.requests.token_offset, b.requests.token_offset);
  EXPECT_EQ(a.header.params, b.header.params);
}

TEST(Synth, DifferentSeedDifferentTrace) {
  SynthOptions o = small("mixtral-8x7b", 3000);
  const Trace a = generate(o);
  o.seed = 2;
  const Trace b = generate(o);
  EXPECT_NE(a.tokens.expert_ids, b.tokens.expert_ids);
  EXPECT_NE(a.requests.token_offset, b.requests.token_offset);
}

TEST(Synth, RequestsPhasesAndPositionsAreConsistent) {
  SynthOptions o = small("deepseek-moe-16b", 2500);
  o.calibrate = "olmoe:c4";
  const Trace t = generate(o, 500);
  EXPECT_EQ(t.header.num_tokens, 2500u);
  EXPECT_EQ(t.tokens.size(), 2500u);
  EXPECT_EQ(t.header.source, "synth");
  EXPECT_EQ(t.header.domains, std::vector<std::string>{"c4"});
  EXPECT_NO_THROW(validate_requests(t.header, t.requests, "synth"));
  EXPECT_NO_THROW(validate_block(t.header, t.tokens, "synth"));
  for (size_t r = 0; r < t.requests.size(); ++r) {
    const uint64_t begin = t.requests.token_offset[r], end = t.requests.token_offset[r + 1];
    const bool last = r + 1 == t.requests.size();  // cut to make exactly --tokens
    if (!last) {
      EXPECT_GE(t.requests.prompt_len[r], o.prompt_min);
      EXPECT_LE(t.requests.prompt_len[r], o.prompt_max);
      EXPECT_GE(end - begin - t.requests.prompt_len[r], o.decode_min);
      EXPECT_LE(end - begin - t.requests.prompt_len[r], o.decode_max);
    }
    for (uint64_t tok = begin; tok < end; ++tok) {
      ASSERT_EQ(t.tokens.position[tok], tok - begin);
      ASSERT_EQ(t.tokens.phase[tok], tok - begin < t.requests.prompt_len[r] ? 0 : 1);
    }
  }
  for (size_t i = 0; i < t.tokens.gate_weights.size(); i += size_t(t.header.top_k)) {
    const float* g = t.tokens.gate_weights.data() + i;
    EXPECT_NEAR(std::accumulate(g, g + t.header.top_k, 0.0f), 1.0f, 1e-5f);
    EXPECT_TRUE(std::is_sorted(g, g + t.header.top_k, std::greater<>()));
  }
}

TEST(Synth, RequestCountGivesThatManyRequests) {
  SynthOptions o = small("qwen1.5-moe-a2.7b", 0);
  o.requests = 7;
  o.gate_weights = false;
  const Trace t = generate(o);
  EXPECT_EQ(t.requests.size(), 7u);
  EXPECT_TRUE(t.tokens.gate_weights.empty());
  EXPECT_NO_THROW(validate_block(t.header, t.tokens, "synth"));
}

void expect_calibrated(const SynthOptions& o, double excess_tolerance) {
  SynthGenerator g(o);
  const Trace t = generate(g);
  for (int l = 0; l < t.header.num_layers; ++l) {
    const double want = g.target_max_over_mean(l), got = max_over_mean(layer_load(t, l));
    EXPECT_NEAR(got / want, 1.0, 0.10) << "layer " << l;
    // The skew itself (max/mean - 1) too: for 8 experts 10% of max/mean is barely any skew.
    EXPECT_NEAR((got - 1) / (want - 1), 1.0, excess_tolerance) << "layer " << l;
  }
}

TEST(Synth, MixtralSkewMatchesCalibration) {
  SynthOptions o = small("mixtral-8x7b", 30000);
  o.calibrate = "mixtral:github";  // the most skewed Mixtral domain: max/mean 1.25-1.33
  expect_calibrated(o, 0.35);
}

TEST(Synth, OlmoeSkewMatchesCalibration) {
  SynthOptions o = small("olmoe-1b-7b", 20000);
  o.calibrate = "olmoe:c4";
  expect_calibrated(o, 0.15);
}

TEST(Synth, CalibratedLayerKeepsTheRealExperts) {
  // Same model shape as the source, calibrated layer: the target is the real profile itself.
  const CountsFile c =
      read_counts_file(calibration_data_dir() + "/olmoe/expert_counts/github.json");
  const LayerTarget t = layer_target(c, 7, 16, 64, 8, 1);
  const double mean = std::accumulate(c.counts[1].begin(), c.counts[1].end(), 0.0) / 64;
  for (int e = 0; e < 64; ++e) EXPECT_NEAR(t.load[e], c.counts[1][e] / mean, 1e-6) << e;
  EXPECT_NEAR(t.max_over_mean, 6.16, 0.01);
}

TEST(Synth, ProfilesResampleAndReshape) {
  const std::vector<double> p = {4, 2, 1, 1};
  const auto same = resample_quantiles(p, 4);
  EXPECT_NEAR(same[0], 2.0, 1e-12);  // mean-normalised: 4 / 2
  const auto more = resample_quantiles(p, 16);
  EXPECT_EQ(more.size(), 16u);
  EXPECT_TRUE(std::is_sorted(more.begin(), more.end(), std::greater<>()));
  for (double target : {1.2, 1.9, 3.0})
    EXPECT_NEAR(max_over_mean(power_to_ratio(more, target)), target, 1e-6);
}

TEST(Synth, SkewAboveWhatTopKAllowsIsCappedWithAWarning) {
  SynthOptions o = small("mixtral-8x7b", 100);
  o.calibrate = "olmoe:arxiv";  // max/mean 7.8 > E/k = 4
  o.calib_iters = 2;
  SynthGenerator g(o);
  ASSERT_FALSE(g.warnings().empty());
  EXPECT_NE(g.warnings()[0].find("capped"), std::string::npos);
  for (int l = 0; l < 32; ++l) EXPECT_LE(g.target_max_over_mean(l), 4.0 + 1e-9);
}

TEST(Synth, PlantedCoactivationGroupsAreTheTopPairs) {
  SynthOptions o = small("olmoe-1b-7b", 4000);
  o.calibrate = "uniform";
  o.coact_strength = 50;
  o.layer_affinity = 0;
  SynthGenerator g(o);
  const Trace t = generate(g);
  const TraceStats s = stats_of(t);
  for (int l = 0; l < t.header.num_layers; ++l) {
    const auto& groups = g.coact_groups(l);
    ASSERT_EQ(groups.size(), 8u);  // E/k groups of k
    std::vector<int> group_of(64, -1);
    for (size_t gi = 0; gi < groups.size(); ++gi)
      for (int e : groups[gi]) group_of[e] = int(gi);
    for (const PairLift& p : top_pairs(s, l, 20)) {
      EXPECT_EQ(group_of[p.a], group_of[p.b]) << "layer " << l << " pair " << p.a << "," << p.b;
      EXPECT_GT(p.lift, 2.0);
    }
  }
}

TEST(Synth, WithoutCoactivationTopPairsIgnoreTheGroups) {
  // The control of the test above: it must be able to fail.
  SynthOptions o = small("olmoe-1b-7b", 4000);
  o.calibrate = "uniform";
  o.coact_strength = 0;
  o.layer_affinity = 0;
  SynthGenerator g(o);
  const TraceStats s = stats_of(generate(g));
  int inside = 0, total = 0;
  for (int l = 0; l < 16; ++l) {
    std::vector<int> group_of(64, -1);
    for (size_t gi = 0; gi < g.coact_groups(l).size(); ++gi)
      for (int e : g.coact_groups(l)[gi]) group_of[e] = int(gi);
    for (const PairLift& p : top_pairs(s, l, 20)) inside += group_of[p.a] == group_of[p.b], ++total;
  }
  EXPECT_LT(inside, total / 3);
}

TEST(Synth, LayerAffinityShowsAsTransitionInformation) {
  SynthOptions o = small("mixtral-8x7b", 8000);
  o.calibrate = "uniform";
  o.coact_strength = 0;
  o.layer_affinity = 0;
  const TraceStats none = stats_of(generate(o));
  o.layer_affinity = 4;
  SynthGenerator g(o);
  const TraceStats some = stats_of(generate(g));
  for (int l = 0; l + 1 < 32; ++l) {
    EXPECT_GT(transition_mutual_information(some, l), transition_mutual_information(none, l) + 0.05)
        << "layer " << l;
  }
  // The planted successor is the most frequent top-1 transition target.
  int hits = 0;
  for (int e = 0; e < 8; ++e) {
    const uint64_t* row = some.transitions_top1.data() + size_t(e) * 8;
    hits += int(std::max_element(row, row + 8) - row) == g.successor(0, e);
  }
  EXPECT_GE(hits, 6);
}

TEST(Synth, RealDomainsFavourDifferentExperts) {
  SynthOptions o = small("olmoe-1b-7b", 12000);
  o.calibrate = "olmoe:c4,github";
  SynthGenerator g(o);
  const Trace t = generate(g);
  ASSERT_EQ(t.header.domains, (std::vector<std::string>{"c4", "github"}));
  for (int l : {0, 7, 15}) {
    const auto c4 = layer_load(t, l, 0), gh = layer_load(t, l, 1);
    EXPECT_GT(total_variation(c4, gh), 0.15) << "layer " << l;
    // Each domain follows its own target, not the other's.
    EXPECT_LT(total_variation(c4, g.target_load(l, 0)), total_variation(c4, g.target_load(l, 1)));
    EXPECT_LT(total_variation(gh, g.target_load(l, 1)), total_variation(gh, g.target_load(l, 0)));
  }
}

TEST(Synth, SyntheticDomainsDifferWithStrength) {
  SynthOptions o = small("qwen1.5-moe-a2.7b", 8000);
  o.calibrate = "uniform";
  o.domains = 2;
  o.domain_strength = 1.0;
  const Trace strong = generate(o);
  ASSERT_EQ(strong.header.domains.size(), 2u);
  o.domain_strength = 0;
  const Trace flat = generate(o);
  for (int l : {0, 12, 23}) {
    EXPECT_GT(total_variation(layer_load(strong, l, 0), layer_load(strong, l, 1)), 0.2);
    EXPECT_LT(total_variation(layer_load(flat, l, 0), layer_load(flat, l, 1)), 0.1);
  }
}

void expect_input_error(const SynthOptions& o, const std::string& needle) {
  try {
    SynthGenerator g(o);
    ADD_FAILURE() << "no InputError, expected one mentioning " << needle;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// The library names SynthOptions' fields; `trace synth` says the flags (test_cli).
TEST(Synth, BadOptionsAreRejected) {
  SynthOptions o = small("mixtral-8x7b", 100);
  o.calibrate = "gpt4";
  expect_input_error(o, "calibrate: unknown calibration source 'gpt4'");
  o.calibrate = "olmoe:poetry";
  expect_input_error(o, "unknown domain 'poetry'");
  o = small("mixtral-8x7b", 100);
  o.prompt_min = 9, o.prompt_max = 3;
  expect_input_error(o, "prompt_len: expected MIN:MAX");
  o = small("mixtral-8x7b", 0);
  expect_input_error(o, "requests: expected");
  o = small("no-such-model", 100);
  expect_input_error(o, "--model");
  o = small("mixtral-8x7b", 100);
  o.domains = 2;
  o.calibrate = "mixtral";
  expect_input_error(o, "domains: synthetic domains");
  o = small("mixtral-8x7b", 100);
  o.coact_strength = -1;
  expect_input_error(o, "coact_strength: expected");
}

TEST(Synth, BadCalibrationFileNamesFileAndField) {
  test::ScratchDir dir;
  const std::string path = dir.path("bad.json");
  auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  SynthOptions o = small("mixtral-8x7b", 100);
  o.calibrate = path;
  write(R"({"num_experts": 8, "layers": [0], "counts": [[1, 2, 3]]})");
  expect_input_error(o, path + ": counts[0]: expected an array of num_experts=8 counts");
  write(R"({"num_experts": 8, "layers": [3, 1], "counts": [[1], [1]]})");
  expect_input_error(o, path + ": layers[1]");
  write(R"({"layers": [0], "counts": [[1]]})");
  expect_input_error(o, path + ": num_experts");
  write(R"({"num_experts": 2, "layers": [0], "counts": [[1, -4]]})");
  expect_input_error(o, path + ": counts[0][1]");
  write("{not json");
  expect_input_error(o, path + ": (document): expected valid JSON");
  // A valid file of another shape works: 4 experts, one layer.
  write(R"({"domain": "mine", "num_experts": 4, "layers": [0], "counts": [[10, 5, 5, 1]]})");
  SynthGenerator g(o);
  EXPECT_EQ(g.header().domains, std::vector<std::string>{"mine"});
}

TEST(SynthCli, WritesATraceAndASummary) {
  test::ScratchDir dir;
  const std::string out = dir.path("s.h5");
  auto r = test::run_epbench({"trace", "synth", "--model", "mixtral-8x7b", "-o", out, "--tokens",
                              "1500", "--seed", "3", "--calibrate", "mixtral:c4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1500 tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("target max/mean"), std::string::npos) << r.out;
  TraceReader in(out);
  EXPECT_EQ(in.header().source, "synth");
  EXPECT_EQ(in.header().num_tokens, 1500u);
  const auto params = nlohmann::json::parse(in.header().params);
  EXPECT_EQ(params["seed"], 3);
  EXPECT_EQ(params["calibrate"], "mixtral:c4");
}

TEST(SynthCli, SameOptionsSameBytes) {
  test::ScratchDir dir;
  auto run = [&](const std::string& name) {
    auto r = test::run_epbench({"trace", "synth", "--model", "olmoe-1b-7b", "-o", dir.path(name),
                                "--requests", "5", "--calib-iters", "2"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::ifstream f(dir.path(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  const std::string a = run("a.h5");
  // HDF5 stamps objects with times in seconds unless told not to: make the clock tick.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::string b = run("b.h5");
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "files differ (HDF5 object timestamps?)";
}

TEST(SynthCli, BadOptionsExitWithStatus2) {
  test::ScratchDir dir;
  const std::string out = dir.path("s.h5");
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--tokens", "10", "--prompt-len", "9:3"},
        {"--tokens", "10", "--requests", "2"},
        {"--tokens", "10", "--calibrate", "nonsense"},
        {"--requests", "0"},
        {"--tokens", "10", "--decode-len", "x"}}) {
    std::vector<std::string> args = {"trace", "synth", "--model", "mixtral-8x7b", "-o", out};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = test::run_epbench(args);
    EXPECT_EQ(r.exit_code, 2) << extra[0] << " " << extra[1] << ": " << r.err;
    EXPECT_FALSE(test::file_exists(out));
  }
}

}  // namespace
}  // namespace epbench
