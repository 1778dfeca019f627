// Trace statistics: hand-computed values on a tiny trace, invariance to how the tokens are
// streamed, and the `epbench trace stats` command (table, JSON, HDF5 output, bad input).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/error.h"
#include "io/h5.h"
#include "test_util.h"
#include "trace/stats.h"
#include "trace/stats_report.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using test::ScratchDir;

// 4 tokens, 2 layers, 4 experts, top-2. Request 0 = tokens 0-1 (domain alpha), request 1 =
// tokens 2-3 (domain beta); each request: one prompt token then one decode token.
//            layer 0   layer 1
//   token 0  (0, 1)    (2, 3)   prefill alpha
//   token 1  (0, 2)    (2, 1)   decode  alpha
//   token 2  (1, 0)    (3, 2)   prefill beta
//   token 3  (3, 0)    (2, 0)   decode  beta
Trace tiny_trace() {
  Trace t;
  TraceHeader& h = t.header;
  h.model = "tiny";
  h.num_layers = 2;
  h.num_experts = 4;
  h.top_k = 2;
  h.d_model = 8;
  h.d_ff = 16;
  h.source = "test";
  h.domains = {"alpha", "beta"};
  h.num_tokens = 4;
  h.num_requests = 2;
  t.tokens.num_layers = 2;
  t.tokens.top_k = 2;
  t.tokens.resize(4, false);
  const uint16_t ids[4][2][2] = {
      {{0, 1}, {2, 3}}, {{0, 2}, {2, 1}}, {{1, 0}, {3, 2}}, {{3, 0}, {2, 0}}};
  for (size_t tok = 0; tok < 4; ++tok) {
    t.tokens.phase[tok] = static_cast<uint8_t>(tok % 2);
    t.tokens.position[tok] = static_cast<uint32_t>(tok % 2);
    for (int l = 0; l < 2; ++l) std::copy_n(ids[tok][l], 2, t.tokens.experts(tok, l));
  }
  t.requests.token_offset = {0, 2, 4};
  t.requests.prompt_len = {1, 1};
  t.requests.domain = {0, 1};
  return t;
}

// A random trace: distinct experts per token, several requests and domains.
Trace random_trace(uint64_t requests, int layers, int experts, int k, unsigned seed) {
  Trace t = test::make_trace(1, 1, layers, experts, k, false);
  std::mt19937 rng(seed);
  t.header.domains = {"a", "b", "c"};
  t.requests = {};
  t.requests.token_offset = {0};
  for (uint64_t r = 0; r < requests; ++r) {
    const uint64_t len = 1 + rng() % 9;
    t.requests.token_offset.push_back(t.requests.token_offset.back() + len);
    t.requests.prompt_len.push_back(static_cast<uint32_t>(rng() % (len + 1)));
    t.requests.domain.push_back(static_cast<uint16_t>(rng() % 3));
  }
  const uint64_t n = t.requests.token_offset.back();
  t.header.num_tokens = n;
  t.header.num_requests = requests;
  t.tokens.resize(n, false);
  std::vector<uint16_t> perm(static_cast<size_t>(experts));
  for (uint64_t r = 0; r < requests; ++r)
    for (uint64_t tok = t.requests.token_offset[r]; tok < t.requests.token_offset[r + 1]; ++tok) {
      const uint64_t pos = tok - t.requests.token_offset[r];
      t.tokens.phase[tok] = pos < t.requests.prompt_len[r] ? 0 : 1;
      t.tokens.position[tok] = static_cast<uint32_t>(pos);
      for (int l = 0; l < layers; ++l) {
        std::iota(perm.begin(), perm.end(), uint16_t{0});
        std::shuffle(perm.begin(), perm.end(), rng);
        std::copy_n(perm.begin(), k, t.tokens.experts(tok, l));
      }
    }
  return t;
}

TokenBlock slice(const TokenBlock& all, uint64_t first, uint64_t count) {
  TokenBlock b;
  b.first_token = first;
  b.num_layers = all.num_layers;
  b.top_k = all.top_k;
  b.resize(count, false);
  const size_t per = all.expert_ids.size() / all.size();
  std::copy_n(all.expert_ids.begin() + static_cast<ptrdiff_t>(first * per), count * per,
              b.expert_ids.begin());
  std::copy_n(all.phase.begin() + static_cast<ptrdiff_t>(first), count, b.phase.begin());
  std::copy_n(all.position.begin() + static_cast<ptrdiff_t>(first), count, b.position.begin());
  return b;
}

using test::stats_of;

void expect_same(const TraceStats& a, const TraceStats& b) {
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.tokens_by_phase[0], b.tokens_by_phase[0]);
  EXPECT_EQ(a.tokens_by_phase[1], b.tokens_by_phase[1]);
  EXPECT_EQ(a.tokens_by_domain, b.tokens_by_domain);
  EXPECT_EQ(a.load, b.load);
  EXPECT_EQ(a.load_by_phase, b.load_by_phase);
  EXPECT_EQ(a.load_by_domain, b.load_by_domain);
  EXPECT_EQ(a.pairs, b.pairs);
  EXPECT_EQ(a.transitions_top1, b.transitions_top1);
  EXPECT_EQ(a.transitions_rank, b.transitions_rank);
}

std::vector<uint64_t> layer_of(const std::vector<uint64_t>& m, size_t block, size_t layer) {
  const size_t L = 2, E = 4;
  auto it = m.begin() + static_cast<ptrdiff_t>((block * L + layer) * E);
  return {it, it + 4};
}

using V = std::vector<uint64_t>;

TEST(Stats, TinyTraceCounts) {
  const Trace t = tiny_trace();
  const TraceStats s = stats_of(t);
  EXPECT_EQ(s.tokens, 4u);
  EXPECT_EQ(s.tokens_by_phase[0], 2u);
  EXPECT_EQ(s.tokens_by_phase[1], 2u);
  EXPECT_EQ(s.tokens_by_domain, (V{2, 2}));
  EXPECT_EQ(s.domains, t.header.domains);
  EXPECT_EQ(s.load, (V{4, 2, 1, 1, /* layer 1 */ 1, 1, 4, 2}));
  EXPECT_EQ(layer_of(s.load_by_phase, 0, 0), (V{2, 2, 0, 0}));  // prefill, tokens 0 and 2
  EXPECT_EQ(layer_of(s.load_by_phase, 1, 0), (V{2, 0, 1, 1}));
  EXPECT_EQ(layer_of(s.load_by_phase, 0, 1), (V{0, 0, 2, 2}));
  EXPECT_EQ(layer_of(s.load_by_phase, 1, 1), (V{1, 1, 2, 0}));
  EXPECT_EQ(layer_of(s.load_by_domain, 0, 0), (V{2, 1, 1, 0}));  // alpha, tokens 0 and 1
  EXPECT_EQ(layer_of(s.load_by_domain, 1, 0), (V{2, 1, 0, 1}));
  EXPECT_EQ(layer_of(s.load_by_domain, 0, 1), (V{0, 1, 2, 1}));
  EXPECT_EQ(layer_of(s.load_by_domain, 1, 1), (V{1, 0, 2, 1}));
}

TEST(Stats, TinyTracePairsAndTransitions) {
  const TraceStats s = stats_of(tiny_trace());
  V pairs0(16, 0), pairs1(16, 0);
  auto set = [](V& m, int a, int b, uint64_t c) { m[a * 4 + b] = m[b * 4 + a] = c; };
  set(pairs0, 0, 1, 2);  // tokens 0 and 2
  set(pairs0, 0, 2, 1);
  set(pairs0, 0, 3, 1);
  set(pairs1, 2, 3, 2);  // tokens 0 and 2
  set(pairs1, 1, 2, 1);
  set(pairs1, 0, 2, 1);
  EXPECT_EQ(V(s.pairs.begin(), s.pairs.begin() + 16), pairs0);
  EXPECT_EQ(V(s.pairs.begin() + 16, s.pairs.end()), pairs1);

  V top1(16, 0), rank(16, 0);
  top1[0 * 4 + 2] = 2;  // tokens 0, 1: 0 -> 2
  top1[1 * 4 + 3] = 1;  // token 2
  top1[3 * 4 + 2] = 1;  // token 3
  rank = top1;          // rank 0 is the top-1; rank 1: 1->3, 2->1, 0->2, 0->0
  rank[1 * 4 + 3] += 1;
  rank[2 * 4 + 1] += 1;
  rank[0 * 4 + 2] += 1;
  rank[0 * 4 + 0] += 1;
  EXPECT_EQ(s.transitions_top1, top1);
  EXPECT_EQ(s.transitions_rank, rank);
  // The top-1 expert of layer 0 fixes that of layer 1, so MI = H(layer-1 top-1) = H(3/4, 1/4).
  EXPECT_NEAR(transition_mutual_information(s, 0), 0.8112781244591328, 1e-12);
  EXPECT_EQ(transition_mutual_information(s, 1), 0.0);  // no layer after the last
}

TEST(Stats, LoadSummaryByHand) {
  const uint64_t counts[4] = {4, 2, 1, 1};  // mean 2, variance (4 + 0 + 1 + 1) / 4 = 1.5
  const LoadSummary s = summarize_load(counts, 4);
  EXPECT_DOUBLE_EQ(s.max_over_mean, 2.0);
  EXPECT_NEAR(s.cv, std::sqrt(1.5) / 2.0, 1e-12);
  EXPECT_NEAR(s.entropy_bits, 1.75, 1e-12);  // p = 1/2, 1/4, 1/8, 1/8
  EXPECT_NEAR(s.entropy_norm, 0.875, 1e-12);
  EXPECT_EQ(s.hottest, 0);
  const uint64_t uniform[3] = {5, 5, 5};
  const LoadSummary u = summarize_load(uniform, 3);
  EXPECT_DOUBLE_EQ(u.max_over_mean, 1.0);
  EXPECT_DOUBLE_EQ(u.cv, 0.0);
  EXPECT_NEAR(u.entropy_norm, 1.0, 1e-12);
  const uint64_t zeros[2] = {0, 0};
  EXPECT_EQ(summarize_load(zeros, 2).hottest, -1);
}

TEST(Stats, TinyTraceSummaries) {
  const TraceStats s = stats_of(tiny_trace());
  const LoadSummary l1 = summarize_load(s.load.data() + 4, 4);  // {1, 1, 4, 2}
  EXPECT_EQ(l1.hottest, 2);
  EXPECT_DOUBLE_EQ(l1.max_over_mean, 2.0);
  EXPECT_NEAR(l1.entropy_bits, 1.75, 1e-12);
  // Alpha, layer 0: P = (1/2, 1/4, 1/4, 0) against overall Q = (1/2, 1/4, 1/8, 1/8).
  const double m2 = 0.1875, m3 = 0.0625;
  const double js = 0.5 * (0.25 * std::log2(0.25 / m2)) +
                    0.5 * (0.125 * std::log2(0.125 / m2) + 0.125 * std::log2(0.125 / m3));
  EXPECT_NEAR(js_divergence_bits(s.load_by_domain.data(), s.load.data(), 4), js, 1e-12);
  EXPECT_EQ(js_divergence_bits(s.load.data(), s.load.data(), 4), 0.0);
  EXPECT_EQ(hottest_experts(s.load_by_domain.data(), 4, 2), (std::vector<int>{0, 1}));

  const StatsReport r = make_report(s, {});
  ASSERT_EQ(r.domains.size(), 2u);
  EXPECT_NEAR(r.domains[0].layers[0].js_bits, js, 1e-12);
  EXPECT_DOUBLE_EQ(r.domains[0].layers[0].load.max_over_mean, 2.0);  // {2, 1, 1, 0}
}

TEST(Stats, PairLiftByHand) {
  const TraceStats s = stats_of(tiny_trace());
  // Layer 0: p = load / tokens = (1, 1/2, 1/4, 1/4), sum p^2 = 1.375, k = 2, T = 4:
  // expected(a, b) = T k (k-1) p_a p_b / (k^2 - sum p^2) = 8 p_a p_b / 2.625.
  const PairLift p = pair_lift(s, 0, 0, 1);
  EXPECT_EQ(p.count, 2u);
  EXPECT_NEAR(p.expected, 8 * 0.5 / 2.625, 1e-12);
  EXPECT_NEAR(p.lift, 2 / (8 * 0.5 / 2.625), 1e-12);
  // The expected counts of all pairs add up to the observed T k(k-1)/2 = 4 pairs.
  double total = 0;
  for (int a = 0; a < 4; ++a)
    for (int b = a + 1; b < 4; ++b) total += pair_lift(s, 0, a, b).expected;
  EXPECT_NEAR(total, 4.0, 1e-12);
  const auto top = top_pairs(s, 0, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(std::make_pair(top[0].a, top[0].b), std::make_pair(0, 1));
  EXPECT_EQ(std::make_pair(top[1].a, top[1].b), std::make_pair(0, 2));  // tie with (0, 3)
  EXPECT_EQ(top_pairs(s, 0, 10).size(), 3u);
}

TEST(Stats, UniformRouterHasLiftNearOne) {
  const Trace t = random_trace(4000, 2, 8, 2, 7);  // about 20000 tokens
  const TraceStats s = stats_of(t);
  for (int a = 0; a < 8; ++a)
    for (int b = a + 1; b < 8; ++b) EXPECT_NEAR(pair_lift(s, 1, a, b).lift, 1.0, 0.12);
  EXPECT_LT(transition_mutual_information(s, 0), 0.01);
}

TEST(Stats, BlockSizeAndOrderDoNotMatter) {
  for (int k : {1, 2, 3, 8}) {
    const Trace t = random_trace(60, 3, 16, k, static_cast<unsigned>(k));
    const TraceStats whole = stats_of(t);
    for (uint64_t bs : {1u, 3u, 7u}) {
      StatsAccumulator acc(t.header, t.requests);
      std::vector<uint64_t> starts;
      for (uint64_t f = 0; f < t.header.num_tokens; f += bs) starts.push_back(f);
      std::reverse(starts.begin(), starts.end());  // any order, each token once
      for (uint64_t f : starts) acc.add(slice(t.tokens, f, std::min(bs, t.header.num_tokens - f)));
      expect_same(acc.take(), whole);
    }
  }
}

TEST(Stats, StreamingFromFileMatchesInMemory) {
  ScratchDir dir;
  const Trace t = random_trace(50, 4, 8, 2, 3);
  write_trace(dir.path("t.h5"), t);
  TraceReader reader(dir.path("t.h5"));
  const TraceStats mem = stats_of(t);
  for (uint64_t bs : {1u, 3u, 0u}) {
    StatsOptions opt;
    opt.block_tokens = bs;
    expect_same(compute_stats(reader, opt), mem);
  }
}

TEST(Stats, StatsMidStreamThenContinue) {
  const Trace t = random_trace(30, 2, 8, 2, 5);
  StatsAccumulator acc(t.header, t.requests);
  const uint64_t half = t.header.num_tokens / 2;
  acc.add(slice(t.tokens, 0, half));
  EXPECT_EQ(acc.stats().tokens, half);
  acc.add(slice(t.tokens, half, t.header.num_tokens - half));
  expect_same(acc.stats(), stats_of(t));
}

TEST(Stats, OptionsTurnPartsOff) {
  StatsOptions opt;
  opt.pairs = false;
  opt.transitions = false;
  const TraceStats s = stats_of(tiny_trace(), opt);
  EXPECT_TRUE(s.pairs.empty());
  EXPECT_TRUE(s.transitions_top1.empty());
  EXPECT_EQ(s.load, stats_of(tiny_trace()).load);
  EXPECT_TRUE(top_pairs(s, 0, 5).empty());
}

TEST(Stats, NoDomains) {
  Trace t = tiny_trace();
  t.header.domains.clear();
  t.requests.domain.clear();
  const TraceStats s = stats_of(t);
  EXPECT_TRUE(s.tokens_by_domain.empty());
  EXPECT_TRUE(s.load_by_domain.empty());
  EXPECT_EQ(s.load, stats_of(tiny_trace()).load);
  EXPECT_TRUE(make_report(s, {}).domains.empty());
}

TEST(Stats, BadBlocksAreRejected) {
  Trace t = tiny_trace();
  StatsAccumulator acc(t.header, t.requests);
  TokenBlock bad = t.tokens;
  bad.expert_ids[3] = 4;  // E = 4
  EXPECT_THROW(acc.add(bad), InputError);
  bad = t.tokens;
  bad.first_token = 1;  // runs past the last request
  EXPECT_THROW(acc.add(bad), InputError);
  bad = t.tokens;
  bad.phase[0] = 2;
  EXPECT_THROW(acc.add(bad), InputError);
  acc.add(t.tokens);  // rejected blocks leave no trace
  expect_same(acc.take(), stats_of(t));
  t.requests.domain[1] = 2;  // two domain names
  EXPECT_THROW(StatsAccumulator(t.header, t.requests), InputError);
}

// ---- the command ----

class StatsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    trace_ = random_trace(40, 3, 8, 2, 11);
    write_trace(dir_.path("t.h5"), trace_);
  }
  ScratchDir dir_;
  Trace trace_;
};

TEST_F(StatsCli, TableHasHeadingAndLayers) {
  const auto r = test::run_epbench({"trace", "stats", dir_.path("t.h5")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("test-model"), std::string::npos);
  EXPECT_NE(r.out.find("tokens    " + std::to_string(trace_.header.num_tokens)), std::string::npos);
  EXPECT_NE(r.out.find("requests  40"), std::string::npos);
  EXPECT_NE(r.out.find("lift"), std::string::npos);
  EXPECT_NE(r.out.find("JS mean"), std::string::npos);
}

TEST_F(StatsCli, OutputFileEqualsInMemoryStats) {
  const std::string out = dir_.path("stats.h5");
  const auto r = test::run_epbench({"trace", "stats", dir_.path("t.h5"), "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const TraceStats s = stats_of(trace_);
  h5::File f = h5::open_file(out);
  EXPECT_EQ(h5::read_attr_string(f.id(), "format"), std::string(kStatsFormat));
  EXPECT_EQ(h5::read_attr_int(f.id(), "version"), kStatsVersion);
  EXPECT_EQ(h5::read_attr_string(f.id(), "source"), dir_.path("t.h5"));
  EXPECT_EQ(h5::read_attr_string(f.id(), "model"), std::string("test-model"));
  auto read = [&](const std::string& name, std::vector<hsize_t> dims) {
    h5::Dataset d = h5::open_dataset(f.id(), name);
    EXPECT_EQ(h5::dims(d.id()), dims) << name;
    return h5::read_all<uint64_t>(d.id());
  };
  EXPECT_EQ(read("load", {3, 8}), s.load);
  EXPECT_EQ(read("load_by_phase", {2, 3, 8}), s.load_by_phase);
  EXPECT_EQ(read("load_by_domain", {3, 3, 8}), s.load_by_domain);
  EXPECT_EQ(read("pairs", {3, 8, 8}), s.pairs);
  EXPECT_EQ(read("transitions_top1", {2, 8, 8}), s.transitions_top1);
  EXPECT_EQ(read("transitions_rank", {2, 8, 8}), s.transitions_rank);
  EXPECT_EQ(read("tokens_by_domain", {3}), s.tokens_by_domain);
  h5::Dataset cv = h5::open_dataset(f.id(), "summary/cv");
  EXPECT_NEAR(h5::read_all<double>(cv.id())[1], summarize_load(s.load.data() + 8, 8).cv, 1e-12);
  h5::Dataset mi = h5::open_dataset(f.id(), "summary/transition_mi_bits");
  EXPECT_NEAR(h5::read_all<double>(mi.id())[0], transition_mutual_information(s, 0), 1e-12);
  EXPECT_TRUE(test::files_matching(dir_.path(""), ".tmp").empty());
}

TEST_F(StatsCli, JsonParsesWithExpectedNumbers) {
  const auto r = test::run_epbench(
      {"trace", "stats", dir_.path("t.h5"), "--json", "--layers", "1:3", "--top-pairs", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const TraceStats s = stats_of(trace_);
  EXPECT_EQ(j["format"], kStatsFormat);
  EXPECT_EQ(j["tokens"], s.tokens);
  EXPECT_EQ(j["tokens_prefill"], s.tokens_by_phase[0]);
  ASSERT_EQ(j["layers"].size(), 2u);
  const auto& l1 = j["layers"][0];
  EXPECT_EQ(l1["layer"], 1);
  EXPECT_EQ(l1["load"].get<V>(), V(s.load.begin() + 8, s.load.begin() + 16));
  EXPECT_NEAR(l1["max_over_mean"].get<double>(), summarize_load(s.load.data() + 8, 8).max_over_mean,
              1e-12);
  ASSERT_EQ(l1["top_pairs"].size(), 2u);
  const PairLift top = top_pairs(s, 1, 1)[0];
  EXPECT_EQ(l1["top_pairs"][0]["count"], top.count);
  EXPECT_NEAR(l1["top_pairs"][0]["lift"].get<double>(), top.lift, 1e-12);
  EXPECT_FALSE(j["layers"][1].contains("transition_mi_bits"));  // layer 2 is the last
  ASSERT_EQ(j["domains"].size(), 3u);
  EXPECT_EQ(j["domains"][0]["tokens"], s.tokens_by_domain[0]);
}

TEST_F(StatsCli, NoPairsSkipsThem) {
  const std::string out = dir_.path("stats.h5");
  const auto r = test::run_epbench({"trace", "stats", dir_.path("t.h5"), "--no-pairs", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  h5::File f = h5::open_file(out);
  EXPECT_FALSE(h5::exists(f.id(), "pairs"));
  EXPECT_TRUE(h5::exists(f.id(), "transitions_top1"));
}

TEST_F(StatsCli, MissingFileExitsTwo) {
  const std::string missing = dir_.path("missing.h5"), out = dir_.path("out.h5");
  const auto r = test::run_epbench({"trace", "stats", missing, "--output", out});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(out));
  EXPECT_TRUE(test::files_matching(dir_.path(""), "out.h5").empty());
}

TEST_F(StatsCli, NotHdf5ExitsTwo) {
  const std::string text = dir_.path("notes.h5"), out = dir_.path("out.h5");
  std::ofstream(text) << "this is not an HDF5 file\n";
  const auto r = test::run_epbench({"trace", "stats", text, "--output", out});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
  EXPECT_TRUE(test::files_matching(dir_.path(""), "out.h5").empty());
}

TEST_F(StatsCli, BadLayersExitTwo) {
  for (std::string bad : {"3", "x", "0:9", "2:1", "1,,2"}) {
    const auto r = test::run_epbench({"trace", "stats", dir_.path("t.h5"), "--layers", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("--layers"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace epbench
