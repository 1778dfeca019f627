// `epbench run` under mpirun with 2, 4 and 8 ranks (oversubscribed), always in 2 virtual nodes:
// every placement algorithm and routing policy passes the reference check, the bytes each rank
// sends equal what `evaluate` predicts for the same steps, and every expert's token count
// matches the trace.
#include <algorithm>

#include <gtest/gtest.h>

#include "io/h5.h"
#include "placement/layout.h"
#include "runtime/reference_check.h"
#include "sim/evaluate.h"
#include "test_run_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

const std::vector<std::string> kAlgorithms{"round-robin", "balanced", "eplb", "spread",
                                           "colocate",    "topo",     "exact"};
const std::string kRoutings = "first,round-robin,least-loaded,local-first,optimal";

// Token-expert pairs per (layer, expert) over the whole trace.
std::vector<uint64_t> trace_expert_counts(const std::string& path) {
  const TraceReader reader(path);
  const TraceHeader& h = reader.header();
  const TokenBlock b = reader.read(0, h.num_tokens);
  std::vector<uint64_t> out(static_cast<size_t>(h.num_layers * h.num_experts), 0);
  for (size_t t = 0; t < h.num_tokens; ++t)
    for (int l = 0; l < h.num_layers; ++l)
      for (int j = 0; j < h.top_k; ++j)
        ++out[static_cast<size_t>(l * h.num_experts) + b.experts(t, l)[j]];
  return out;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out{""};
  for (char c : s) {
    if (c == ',')
      out.emplace_back();
    else
      out.back().push_back(c);
  }
  return out;
}

template <class T>
std::vector<T> read(hid_t group, const std::string& name) {
  return h5::read_all<T>(h5::open_dataset(group, name).id());
}

// Measured bytes use the run's hidden size (fp32); evaluate's, the trace's model in bf16.
void expect_same_bytes(hid_t run, hid_t eval, const std::string& name, uint64_t run_row,
                       uint64_t eval_row) {
  for (const char* d : {"bytes/same_node", "bytes/other_node"}) {
    const auto a = read<uint64_t>(run, d), b = read<uint64_t>(eval, d);
    ASSERT_EQ(a.size(), b.size()) << name << " " << d;
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_EQ(a[i] * eval_row, b[i] * run_row) << name << " " << d << " cell " << i;
  }
}

void check_against_evaluate(const RunFixture& f, const std::string& run_file,
                            const std::string& eval_file, int ranks) {
  h5::File run = h5::open_file(run_file), eval = h5::open_file(eval_file);
  const auto expected = trace_expert_counts(f.trace);
  const uint64_t eval_row = static_cast<uint64_t>(f.header.d_model) * 2;  // bf16 in h800
  int configs = 0;
  for (const std::string& algo : kAlgorithms)
    for (const std::string& routing : split_commas(kRoutings))
      for (const char* b : {".b2", ".b5"}) {
        const std::string name = "runs/" + algo + "." + routing + b;
        h5::Group r = h5::open_group(run.id(), name), e = h5::open_group(eval.id(), name);
        EXPECT_GT(h5::read_attr_int(r.id(), "check_tokens").value_or(0), 0) << name;
        EXPECT_EQ(h5::read_attr_int(r.id(), "world_size"), ranks) << name;
        EXPECT_EQ(h5::read_attr_int(r.id(), "virtual_nodes"), 1) << name;
        EXPECT_EQ(read<uint32_t>(r.id(), "tokens/per_gpu"),
                  read<uint32_t>(e.id(), "tokens/per_gpu"))
            << name;
        expect_same_bytes(r.id(), e.id(), name, kDModel * 4, eval_row);
        EXPECT_EQ(read<uint64_t>(r.id(), "tokens/per_expert"), expected) << name;
        ++configs;
      }
  EXPECT_EQ(configs, 70);
}

class RunMpi : public RunFixture, public ::testing::WithParamInterface<int> {};

TEST_P(RunMpi, EveryAlgorithmAndRoutingIsCorrectAndMovesThePredictedBytes) {
  const int ranks = GetParam();
  std::string layouts;
  for (const std::string& algo : kAlgorithms)
    layouts += (layouts.empty() ? "" : ",") + place(algo, 2, ranks / 2);
  const std::string out = path("run.h5"), pred = path("eval.h5");
  // Every token of the trace, prompts included, so the expert counts cover the whole trace.
  const std::vector<std::string> steps{"--layouts",       layouts, "--routing", kRoutings,
                                       "--batch-sizes",   "2,5",   "--steps",   "0",
                                       "--prefill-chunk", "4"};
  std::vector<std::string> args = steps;
  args.insert(args.end(), {"--range", "0:100%", "--ranks-per-node", std::to_string(ranks / 2),
                           "--check", "--check-stride", "1", "--no-baseline"});
  const auto r = run_mpi(ranks, args, out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> eval{"evaluate", "--trace", trace, "--test",
                                "0:100%",   "--cubes", "-o",  pred};
  eval.insert(eval.end(), steps.begin(), steps.end());
  const auto e = test::run_epbench(eval);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  check_against_evaluate(*this, out, pred, ranks);
}

INSTANTIATE_TEST_SUITE_P(Ranks, RunMpi, ::testing::Values(2, 4, 8), [](const auto& param_info) {
  return "np" + std::to_string(param_info.param);
});

}  // namespace
}  // namespace epbench

namespace epbench {
namespace {

class RunMpiBf16 : public RunFixture {};

// bf16 on the wire and in the weights: the check's tolerance is derived from bf16's precision
// (8.3e-3 here), and the measured error must still be well above fp32's, or the dtype was not
// applied.
// The overheads are the median over (step, layer) of the slowest rank's dispatch + combine
// (repeated as the baseline is, bench/exchange) over the slowest rank's bare all-to-alls.
void expect_overhead_from_cubes(hid_t g, double with_counts, double without) {
  const auto cube = [&](const char* name) {
    return h5::read_all<double>(h5::open_dataset(g, name).id());
  };
  const std::vector<double> ours = cube("bench/exchange"), counts = cube("bench/count_exchange"),
                            raw = cube("raw/alltoallv");
  const size_t G = size_t(h5::read_attr_int(g, "world_size").value_or(0));
  ASSERT_GT(G, 0u);
  ASSERT_EQ(ours.size(), raw.size());
  std::vector<double> ratio, bare_ratio;
  for (size_t at = 0; at < ours.size(); at += G) {
    double o = 0, b = 0, r = 0;
    for (size_t i = at; i < at + G; ++i) {
      EXPECT_GT(raw[i], 0) << i;
      EXPECT_GT(counts[i], 0) << i;
      EXPECT_LT(counts[i], ours[i]) << i;
      o = std::max(o, ours[i]), b = std::max(b, ours[i] - counts[i]), r = std::max(r, raw[i]);
    }
    ratio.push_back(o / r), bare_ratio.push_back(b / r);
  }
  const auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  EXPECT_DOUBLE_EQ(with_counts, median(ratio));
  EXPECT_DOUBLE_EQ(without, median(bare_ratio));
}

TEST_F(RunMpiBf16, PassesTheCheckWithBf16Error) {
  const std::string out = path("bf16.h5");
  const auto r = run_mpi(
      4,
      {"--layouts", place("eplb", 2, 2, 3), "--routing", "least-loaded", "--ranks-per-node", "2",
       "--dtype", "bf16", "--batch-sizes", "4", "--steps", "3", "--check", "--check-stride", "1"},
      out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  h5::File f = h5::open_file(out);
  h5::Group g = h5::open_group(f.id(), "runs/eplb.least-loaded.b4");
  const double err = h5::read_attr_double(g.id(), "check_max_error").value_or(-1);
  EXPECT_GT(err, 1e-5);
  EXPECT_LE(err, check_tolerance(DType::kBf16, kDModel, kDFf, header.top_k));
  EXPECT_EQ(h5::read_attr_string(g.id(), "dtype"), std::string("bf16"));
  const double with_counts = h5::read_attr_double(g.id(), "overhead_vs_raw_alltoallv").value_or(0);
  const double without =
      h5::read_attr_double(g.id(), "overhead_vs_raw_alltoallv_no_counts").value_or(0);
  EXPECT_GT(without, 0);
  EXPECT_LE(without, with_counts);  // the count exchange is part of dispatch, never more
  // The count exchange is timed on every rank and layer, within its dispatch.
  const std::vector<double> counts =
      h5::read_all<double>(h5::open_dataset(g.id(), "comm/count_exchange").id());
  const std::vector<double> dispatch =
      h5::read_all<double>(h5::open_dataset(g.id(), "time/dispatch").id());
  ASSERT_EQ(counts.size(), dispatch.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    EXPECT_GT(counts[i], 0) << i;
    EXPECT_LE(counts[i], dispatch[i]) << i;
  }
  expect_overhead_from_cubes(g.id(), with_counts, without);
  for (const std::string phase : {"dispatch", "compute", "combine"}) {  // across ranks
    const auto at = [&](const char* s) {
      return h5::read_attr_double(g.id(), "time_" + phase + s).value_or(-1);
    };
    EXPECT_GT(at("_min"), 0) << phase;
    EXPECT_LE(at("_min"), at("_avg")) << phase;
    EXPECT_LE(at("_avg"), at("_max")) << phase;
  }
}

// Layout version 2's slots for real: a second copy of an expert on the same rank (as EPLB
// places a hot one) and an empty slot. Routing that spreads tokens over replicas sends some to
// each copy; the reference check passes and every expert's tokens are counted once. min-time
// routes with the cost model the run predicts with.
class RunMpiSlots : public RunFixture {};

TEST_F(RunMpiSlots, DuplicateAndEmptySlotsPassTheCheck) {
  Layout lay = read_layout(place("round-robin", 1, 2, 6));
  for (auto& layer : lay.layers) {
    layer.gpu_experts[0] = {0, 1, 2, 3, 0, kEmptySlot};  // expert 0 twice on rank 0
    layer.gpu_experts[1] = {4, 5, 6, 7, 4};              // the sixth slot empty
  }
  write_layout(path("slots.json"), lay);
  const std::string out = path("slots.h5");
  const auto r =
      run_mpi(2,
              {"--layouts", path("slots.json"), "--routing", "round-robin,least-loaded,min-time",
               "--batch-sizes", "6", "--steps", "4", "--check", "--check-stride", "1"},
              out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  h5::File f = h5::open_file(out);
  for (const char* routing : {"round-robin", "least-loaded", "min-time"}) {
    h5::Group g = h5::open_group(f.id(), std::string("runs/slots.") + routing + ".b6");
    EXPECT_GT(h5::read_attr_int(g.id(), "check_tokens").value_or(0), 0) << routing;
    uint64_t pairs = 0;
    for (uint64_t c : read<uint64_t>(g.id(), "tokens/per_expert")) pairs += c;
    EXPECT_GT(pairs, 0u) << routing;
  }
}

// --min-step-tokens measures a small batch over as many tokens as a large one: B = 1 runs 8
// steps where B = 4 keeps --steps' 2.
class RunMpiSteps : public RunFixture {};

TEST_F(RunMpiSteps, SmallBatchesRunTheMinimumTokensInSteps) {
  const std::string out = path("steps.h5");
  const auto r = run_mpi(2,
                         {"--layouts", place("round-robin", 1, 2), "--batch-sizes", "1,4",
                          "--steps", "2", "--min-step-tokens", "8"},
                         out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  h5::File f = h5::open_file(out);
  for (const auto& [batch, steps] : {std::pair{1, 8u}, std::pair{4, 2u}}) {
    h5::Group g = h5::open_group(f.id(), "runs/round-robin.first.b" + std::to_string(batch));
    EXPECT_EQ(read<double>(g.id(), "steps/time").size(), steps) << "B = " << batch;
  }
}

}  // namespace
}  // namespace epbench
