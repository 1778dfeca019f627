// `epbench evaluate` end to end on a small hand-made trace, and its refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "fuzz_regressions.h"
#include "io/h5.h"
#include "placement/layout.h"
#include "results/reductions.h"
#include "results/results_reader.h"
#include "results/schema_names.h"
#include "sim/evaluate.h"
#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using test::run_epbench;

// 2 nodes x 2 GPUs for the test trace's 2 layers x 8 experts.
Layout make_layout(const std::string& algorithm, int slots) {
  Layout l;
  l.model = "test-model";
  l.num_layers = 2;
  l.num_experts = 8;
  l.nodes = 2;
  l.gpus_per_node = 2;
  l.slots_per_gpu = slots;
  l.algorithm = algorithm;
  for (int layer = 0; layer < 2; ++layer) {
    LayerPlacement p;
    p.gpu_experts.resize(4);
    for (uint16_t e = 0; e < 8; ++e) p.gpu_experts[e / 2].push_back(e);  // contiguous blocks
    for (int g = 0; slots > 2 && g < 4; ++g)  // a replica of the next GPU's first expert
      p.gpu_experts[static_cast<size_t>(g)].push_back(static_cast<uint16_t>((2 * g + 2) % 8));
    l.layers.push_back(p);
  }
  return l;
}

class Evaluate : public ::testing::Test {
 protected:
  void SetUp() override {
    write_trace(trace_, test::make_trace(6, 8, 2, 8, 2, true));
    write_layout(rr_, make_layout("round-robin", 2));
    write_layout(rep_, make_layout("replicated", 3));
  }
  test::CommandResult evaluate(std::vector<std::string> extra) {
    std::vector<std::string> args{"evaluate", "--trace", trace_, "--cluster", "h100", "-o", out_};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_epbench(args);
  }
  test::ScratchDir dir_;
  std::string trace_ = dir_.path("t.h5"), rr_ = dir_.path("rr.json"), rep_ = dir_.path("rep.json"),
              out_ = dir_.path("results.h5");
};

TEST_F(Evaluate, WritesTheResultsFormat) {
  const auto r = evaluate({"--layouts", rr_ + "," + rep_, "--routing", "first,optimal",
                           "--batch-sizes", "1,4", "--test", "50%:100%", "--cubes"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("predicted"), std::string::npos);
  EXPECT_NE(r.out.find("1.00x"), std::string::npos) << r.out;  // round-robin over itself
  h5::File f = h5::open_file(out_);
  EXPECT_EQ(h5::read_attr_string(f.id(), "format"), std::string(results::kFormat));
  EXPECT_EQ(h5::read_attr_string(f.id(), "tool"), std::string("evaluate"));
  for (const char* a : {"version", "command_line", "epbench_version", "created_at", "hosts"})
    EXPECT_TRUE(h5::has_attr(f.id(), a)) << a;
  const char* runs[] = {"rr.first.b1", "rr.optimal.b4", "rep.first.b1", "rep.optimal.b4"};
  for (const char* name : runs) {
    h5::Group g = h5::open_group(f.id(), std::string("runs/") + name);
    for (const char* a :
         {"tokens_per_s", "step_time_p50", "step_time_p99", "comm_share", "imbalance",
          "other_node_bytes_per_token", "layout", "routing", "batch_size", "fit_begin"})
      EXPECT_TRUE(h5::has_attr(g.id(), a)) << name << " " << a;
    const auto tokens = h5::read_all<uint32_t>(h5::open_dataset(g.id(), "steps/tokens").id());
    const uint64_t n = std::accumulate(tokens.begin(), tokens.end(), uint64_t{0});
    EXPECT_EQ(n, 24u) << name;  // the second half of 48 tokens, each once
    const std::vector<hsize_t> dims{tokens.size(), 2, 4};
    for (const char* d : {"time/dispatch", "time/compute", "time/combine", "bytes/same_node",
                          "bytes/other_node", "tokens/per_gpu"})
      EXPECT_EQ(h5::dims(h5::open_dataset(g.id(), d).id()), dims) << name << " " << d;
    // Conservation: every token's k = 2 pairs are computed once in each of the 2 layers.
    const auto per_gpu = h5::read_all<uint32_t>(h5::open_dataset(g.id(), "tokens/per_gpu").id());
    EXPECT_EQ(std::accumulate(per_gpu.begin(), per_gpu.end(), uint64_t{0}), n * 2 * 2) << name;
    const auto per_expert =
        h5::read_all<uint64_t>(h5::open_dataset(g.id(), "tokens/per_expert").id());
    EXPECT_EQ(per_expert.size(), 16u);
    EXPECT_EQ(std::accumulate(per_expert.begin(), per_expert.end(), uint64_t{0}), n * 2 * 2);
    EXPECT_GT(*h5::read_attr_double(g.id(), "tokens_per_s"), 0) << name;
  }
}

TEST_F(Evaluate, OptimalRoutingIsNeverSlowerToBalance) {
  const auto r = evaluate({"--layouts", rep_, "--routing", "first,least-loaded,optimal",
                           "--batch-sizes", "4", "--test", "0:48"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  h5::File f = h5::open_file(out_);
  auto imbalance = [&](const char* name) {
    return *h5::read_attr_double(h5::open_group(f.id(), name).id(), "imbalance");
  };
  EXPECT_LE(imbalance("runs/rep.optimal.b4"), imbalance("runs/rep.first.b4") + 1e-12);
  EXPECT_LE(imbalance("runs/rep.optimal.b4"), imbalance("runs/rep.least-loaded.b4") + 1e-12);
}

TEST_F(Evaluate, StepsCapsTheWork) {
  const auto r = evaluate({"--layouts", rr_, "--batch-sizes", "2", "--steps", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  h5::File f = h5::open_file(out_);
  h5::Group g = h5::open_group(f.id(), "runs/rr.first.b2");
  EXPECT_EQ(h5::dims(h5::open_dataset(g.id(), "steps/compute").id())[0], 3u);
}

// Without --cubes: the per-step series and [L, G] totals, no [S, L, G] cube; with it the
// same series plus cubes that reduce to them. Same bits either way.
TEST_F(Evaluate, CubesOnlyWhenAsked) {
  const std::vector<std::string> args{"--layouts",     rep_,  "--routing", "first,optimal",
                                      "--batch-sizes", "1,4", "--test",    "0:48"};
  ASSERT_EQ(evaluate(args).exit_code, 0);
  const std::string compact = dir_.path("compact.h5");
  std::filesystem::rename(out_, compact);
  auto with = args;
  with.push_back("--cubes");
  ASSERT_EQ(evaluate(with).exit_code, 0);
  const ResultsReader a(compact), b(out_);
  for (const std::string name : {"rep.first.b1", "rep.optimal.b4"}) {
    EXPECT_FALSE(a.config(name).has_cubes());
    EXPECT_TRUE(b.config(name).has_cubes());
    const ConfigResult x = a.config(name).read_all(), y = b.config(name).read_all();
    EXPECT_EQ(x.step_time, y.step_time) << name;
    EXPECT_EQ(x.step_lower_bound, y.step_lower_bound) << name;
    EXPECT_EQ(x.step_tokens, y.step_tokens) << name;
    EXPECT_EQ(x.step_dispatch, y.step_dispatch) << name;
    EXPECT_EQ(x.step_compute, y.step_compute) << name;
    EXPECT_EQ(step_times_from_cubes(y), y.step_time) << name;
    // The totals are the cube summed over steps.
    ASSERT_EQ(x.total_pairs.size(), y.layers * y.gpus);
    std::vector<uint64_t> sum(y.layers * y.gpus, 0);
    for (size_t c = 0; c < y.tokens_per_gpu.size(); ++c) sum[c % sum.size()] += y.tokens_per_gpu[c];
    EXPECT_EQ(x.total_pairs, sum) << name;
    h5::File fa = h5::open_file(compact), fb = h5::open_file(out_);
    for (const char* attr : {"tokens_per_s", "comm_share", "imbalance", "lower_bound_time",
                             "other_node_bytes_per_token"})
      EXPECT_EQ(h5::read_attr_double(h5::open_group(fa.id(), "runs/" + name).id(), attr),
                h5::read_attr_double(h5::open_group(fb.id(), "runs/" + name).id(), attr))
          << name << " " << attr;
  }
}

// Steps are priced in parallel; the file's datasets and attributes do not depend on how many
// threads did it.
TEST(EvaluateThreads, OneAndTwoThreadsGiveTheSameResults) {
  test::ScratchDir dir;
  const std::string trace = dir.path("t.h5"), layout = dir.path("rep.json");
  write_trace(trace, test::make_trace(40, 8, 2, 8, 2, true));
  write_layout(layout, make_layout("replicated", 3));
  std::vector<ConfigResult> runs[2];
  std::string files[2];
  for (int threads : {1, 2}) {
    EvaluateOptions opt;
    opt.trace = trace;
    opt.begin = 0, opt.end = TraceReader(trace).header().num_tokens;
    opt.layouts = {layout};
    opt.cluster = "h100";
    opt.routings = {RoutingPolicy::kFirst, RoutingPolicy::kLeastLoaded, RoutingPolicy::kOptimal};
    opt.batch_sizes = {1, 3, 16};
    opt.threads = threads;
    opt.output = files[threads - 1] = dir.path("r" + std::to_string(threads) + ".h5");
    runs[threads - 1] = run_evaluate(opt);
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  const ResultsReader a(files[0]), b(files[1]);
  for (size_t i = 0; i < runs[0].size(); ++i) {
    const std::string& name = runs[0][i].name;
    EXPECT_EQ(runs[0][i].summary.tokens_per_s, runs[1][i].summary.tokens_per_s) << name;
    EXPECT_EQ(runs[0][i].summary.imbalance, runs[1][i].summary.imbalance) << name;
    const ConfigResult x = a.config(name).read_all(), y = b.config(name).read_all();
    EXPECT_EQ(x.step_time, y.step_time) << name;
    EXPECT_EQ(x.step_lower_bound, y.step_lower_bound) << name;
    EXPECT_EQ(x.step_combine, y.step_combine) << name;
    EXPECT_EQ(x.total_pairs, y.total_pairs) << name;
    EXPECT_EQ(x.total_bytes_other_node, y.total_bytes_other_node) << name;
  }
}

TEST_F(Evaluate, AffinityPoliciesAndHierarchicalDispatch) {
  const auto r = evaluate({"--layouts", rep_, "--routing", "local-first", "--allocation",
                           "affinity", "--batching", "affinity", "--batch-sizes", "2",
                           "--hierarchical", "--prefill-chunk", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  h5::File f = h5::open_file(out_);
  h5::Group g = h5::open_group(f.id(), "runs/rep.local-first.b2");
  EXPECT_EQ(h5::read_attr_string(g.id(), "comm"), std::string("hierarchical"));
  EXPECT_EQ(h5::read_attr_string(g.id(), "allocation"), std::string("affinity"));
  // Decode tokens only: 3 requests x 6 decode tokens.
  EXPECT_EQ(h5::read_attr_int(g.id(), "tokens"), 18);
}

// Layout names are the whole file stem: files told apart by a later dot stay apart in the
// table and the results groups, and same-named files of two folders get a suffix.
TEST_F(Evaluate, LayoutNamesTellFilesApart) {
  const std::string eplb = dir_.path("e16.eplb.json"), spread = dir_.path("e16.spread.json");
  std::filesystem::create_directories(dir_.path("other"));
  const std::string twin = dir_.path("other/e16.eplb.json");
  for (const auto& p : {eplb, spread, twin}) write_layout(p, make_layout("round-robin", 2));
  const auto r = evaluate(
      {"--layouts", eplb + "," + spread + "," + twin, "--batch-sizes", "2", "--range", "50%:100%"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"e16.eplb", "e16.spread", "e16.eplb_2"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name << " missing from\n" << r.out;
  h5::File f = h5::open_file(out_);
  for (const char* group :
       {"runs/e16.eplb.first.b2", "runs/e16.spread.first.b2", "runs/e16.eplb_2.first.b2"})
    EXPECT_TRUE(h5::exists(f.id(), group)) << group;
}

TEST_F(Evaluate, BadInputExitsTwo) {
  auto refused = [&](std::vector<std::string> extra, const std::string& words) {
    const auto r = evaluate(extra);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(words), std::string::npos) << r.err;
    EXPECT_FALSE(test::file_exists(out_));
  };
  refused({"--layouts", rr_, "--test", "50%:50%"}, "--range");  // --test: --range's old name
  refused({"--layouts", rr_, "--routing", "fastest"}, "--routing");
  refused({"--layouts", rr_, "--batch-sizes", "0"}, "--batch-sizes");
  refused({"--layouts", rr_, "--nodes", "4"}, "cluster");
  Layout other = make_layout("round-robin", 2);
  other.model = "mixtral-8x7b";
  const std::string bad = dir_.path("other.json");
  write_layout(bad, other);
  refused({"--layouts", bad}, "model");
  refused({"--layouts", dir_.path("missing.json")}, "missing.json");
}

// Results files that once got past ResultsReader (docs/fuzzing.md).
TEST(ResultsReader, FuzzRegressions) {
  const auto reader = [](const std::string& prefix) {
    return [prefix](const std::string& p) {
      const ResultsReader r(p);
      (void)r.config(r.config_names().at(0)).read_all(prefix);
    };
  };
  const auto read_all = reader("");
  // Found by fuzz/results_reader.cpp (a 10 s timeout): predicted/ cubes declaring 8388608
  // steps, chunked and never written, so a tiny file; read_all allocated and filled 151M
  // cells per cube.
  test::expect_clean_error("results-declared-not-stored.h5", reader(results::kPredictedPrefix),
                           "predicted/time/dispatch: expected a dataset that stores its values");
  // Review while writing the harness: 2^62 + 1 steps of 1 layer x 4 GPUs, step 0 written.
  // steps x layers x GPUs wrapped around to 4 cells, under the 2^28 limit, and the read of
  // 2^62 + 1 rows into them did not return.
  test::expect_clean_error("results-steps-overflow.h5", read_all,
                           "/runs/round-robin.first.b8/time/dispatch: expected at most 2^28 cells");
}

}  // namespace
}  // namespace epbench
