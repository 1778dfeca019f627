// `epbench serve` (docs/serve.md): queueing theory at batch 1, Little's law on every output,
// equality with `evaluate` for a closed loop of equal requests, KV capacity, token order,
// and the refusals of bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <cmath>
#include <fstream>
#include <numeric>

#include "io/h5.h"
#include "model/model_spec.h"
#include "placement/layout.h"
#include "results/schema_names.h"
#include "sim/evaluate.h"
#include "sim/serve.h"
#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

namespace dset = results::dset;
namespace attr = results::attr;
using ::testing::HasSubstr;

// 2 nodes x 2 GPUs, two experts per GPU, for make_trace's 2 layers x 8 experts.
Layout make_layout() {
  Layout l;
  l.model = "test-model";
  l.num_layers = 2, l.num_experts = 8;
  l.nodes = 2, l.gpus_per_node = 2, l.slots_per_gpu = 2;
  l.algorithm = "round-robin";
  for (int layer = 0; layer < 2; ++layer) {
    LayerPlacement p;
    p.gpu_experts.resize(4);
    for (uint16_t e = 0; e < 8; ++e) p.gpu_experts[e % 4].push_back(e);
    l.layers.push_back(p);
  }
  return l;
}

// The trace's model with attention sizes, at the trace's expert sizes (d_model 64, d_ff 128).
ModelPreset test_model() {
  ModelPreset m;
  m.name = "test-model";
  m.num_layers = 2, m.num_experts = 8, m.top_k = 2, m.d_model = 64, m.d_ff = 128;
  m.attention_heads = 4, m.kv_heads = 2, m.head_dim = 16;
  return m;
}

// One run's datasets, read back from the results file.
struct RunData {
  std::vector<double> arrival, admitted, first_token, finish, token_time;
  std::vector<uint64_t> token_offset;
  std::vector<uint32_t> output, preemptions;
  std::vector<double> step_time, occupancy, kv_max;
  int64_t preempted = 0;
  double kv_capacity = 0;
};

template <class T>
std::vector<T> read(hid_t g, const char* name) {
  return h5::read_all<T>(h5::open_dataset(g, name).id());
}

std::vector<RunData> read_runs(const std::string& path) {
  const h5::File f = h5::open_file(path);
  const h5::Group runs = h5::open_group(f.id(), results::kRunsGroup);
  std::vector<RunData> out;
  hsize_t n = 0;
  H5Gget_num_objs(runs.id(), &n);
  for (hsize_t i = 0; i < n; ++i) {
    char name[256];
    H5Gget_objname_by_idx(runs.id(), i, name, sizeof name);
    const h5::Group g = h5::open_group(runs.id(), name);
    RunData r;
    r.arrival = read<double>(g.id(), dset::requests_arrival);
    r.admitted = read<double>(g.id(), dset::requests_admitted);
    r.first_token = read<double>(g.id(), dset::requests_first_token);
    r.finish = read<double>(g.id(), dset::requests_finish);
    r.token_time = read<double>(g.id(), dset::requests_token_time);
    r.token_offset = read<uint64_t>(g.id(), dset::requests_token_offset);
    r.output = read<uint32_t>(g.id(), dset::requests_output_tokens);
    r.preemptions = read<uint32_t>(g.id(), dset::requests_preemptions);
    r.step_time = read<double>(g.id(), dset::steps_time);
    r.occupancy = read<double>(g.id(), dset::steps_occupancy);
    r.kv_max = read<double>(g.id(), dset::steps_kv_max);
    r.preempted = *h5::read_attr_int(g.id(), attr::preemptions);
    r.kv_capacity = *h5::read_attr_double(g.id(), attr::kv_capacity_tokens);
    out.push_back(std::move(r));
  }
  return out;
}

class Serve : public ::testing::Test {
 protected:
  void SetUp() override { write_layout(layout_, make_layout()); }
  // A trace of `requests` requests of `tokens` tokens (2 of them prompt).
  void make_trace(int requests, int tokens) {
    write_trace(trace_, test::make_trace(requests, tokens, 2, 8, 2, false));
    total_tokens_ = static_cast<uint64_t>(requests) * static_cast<uint64_t>(tokens);
  }
  ServeOptions options() const {
    ServeOptions o;
    o.trace = trace_, o.begin = 0, o.end = total_tokens_;
    o.layouts = {layout_};
    o.cluster = "h100";
    o.output = out_;
    o.progress = false;
    const std::string spec = dir_.path("model.json");
    std::ofstream(spec) << model_spec_json(test_model()).dump(1);
    o.model = spec;
    return o;
  }
  test::ScratchDir dir_;
  std::string trace_ = dir_.path("t.h5"), layout_ = dir_.path("rr.json"),
              out_ = dir_.path("serve.h5");
  uint64_t total_tokens_ = 0;
};

// Little's law: the time-average number in the system (from the steps' occupancy) equals the
// completion rate times the mean time in the system (from the requests' times).
void expect_littles_law(const RunData& r) {
  const double first = *std::min_element(r.arrival.begin(), r.arrival.end());
  const double end = *std::max_element(r.finish.begin(), r.finish.end());
  const double T = end - first;
  const double L = std::accumulate(r.occupancy.begin(), r.occupancy.end(), 0.0) / T;
  double W = 0;
  for (size_t i = 0; i < r.arrival.size(); ++i) W += r.finish[i] - r.arrival[i];
  W /= static_cast<double>(r.arrival.size());
  const double lambda = static_cast<double>(r.arrival.size()) / T;
  EXPECT_NEAR(L, lambda * W, 0.02 * L);
}

TEST_F(Serve, BatchOneConstantStepMatchesMD1) {
  make_trace(8, 4);
  for (double rho : {0.5, 0.8}) {
    ServeOptions o = options();
    const double D = 1e-3;  // every request takes one step of D: an M/D/1 queue
    o.step_cost = StepCostKind::kConstant;
    o.step_overhead_s = D;
    o.limits.max_running = 1;
    o.prompt_tokens = 1, o.output_tokens = 1;
    o.policies = {SchedulePolicy::kFcfs};
    o.rates = {rho / D};
    o.arrivals.requests = 400000;
    o.arrivals.seed = 11;
    run_serve(o);
    const RunData r = read_runs(out_).at(0);
    double wait = 0;
    for (size_t i = 0; i < r.arrival.size(); ++i) wait += r.admitted[i] - r.arrival[i];
    wait /= static_cast<double>(r.arrival.size());
    const double md1 = rho * D / (2 * (1 - rho));  // Pollaczek-Khinchine, deterministic service
    EXPECT_NEAR(wait, md1, 0.03 * md1) << "utilisation " << rho;
    expect_littles_law(r);
  }
}

TEST_F(Serve, LittlesLawHoldsOnEveryRun) {
  make_trace(12, 20);
  ServeOptions o = options();
  o.policies = {SchedulePolicy::kFcfs, SchedulePolicy::kChunked, SchedulePolicy::kDecodeFirst,
                SchedulePolicy::kSloAware};
  o.slo.tpot_s = 2e-3;
  o.limits.token_budget = 16;
  o.rates = {200, 2000, 20000};
  o.arrivals.requests = 300;
  run_serve(o);
  const std::vector<RunData> runs = read_runs(out_);
  ASSERT_EQ(runs.size(), 12u);
  for (const RunData& r : runs) expect_littles_law(r);
  o.arrivals.kind = ArrivalKind::kClosed;
  o.arrivals.users = 5;
  o.arrivals.think_s = 1e-3;
  o.rates.clear();
  run_serve(o);
  for (const RunData& r : read_runs(out_)) expect_littles_law(r);
}

TEST_F(Serve, ClosedLoopOfEqualRequestsGivesEvaluatesStaticSteps) {
  make_trace(9, 10);  // 2 prompt and 8 decode tokens each
  const int B = 3;
  EvaluateOptions e;
  e.trace = trace_, e.begin = 0, e.end = total_tokens_;
  e.layouts = {layout_};
  e.cluster = "h100";
  e.batch_sizes = {B};
  e.prefill_chunk = 4;
  e.output = dir_.path("evaluate.h5");
  e.progress = false;
  run_evaluate(e);
  ServeOptions o = options();
  o.arrivals.kind = ArrivalKind::kClosed;
  o.arrivals.users = B;
  o.policies = {SchedulePolicy::kFcfs};
  o.limits.token_budget = e.prefill_chunk;
  o.step_cost = StepCostKind::kMoe;  // the MoE layers only, as evaluate prices a step
  run_serve(o);
  const h5::File f = h5::open_file(e.output);
  const h5::Group g =
      h5::open_group(h5::open_group(f.id(), results::kRunsGroup).id(), "rr.first.b3");
  const std::vector<double> expected = read<double>(g.id(), dset::steps_time);
  const RunData served = read_runs(out_).at(0);
  ASSERT_EQ(served.step_time.size(), expected.size());
  for (size_t s = 0; s < expected.size(); ++s) EXPECT_EQ(served.step_time[s], expected[s]) << s;
}

TEST_F(Serve, KvCapacityHoldsAndShrinkingItPreemptsMore) {
  make_trace(16, 40);
  std::vector<int64_t> preempted;
  for (double capacity : {4000.0, 160.0, 100.0, 60.0}) {
    ServeOptions o = options();
    o.kv_capacity_tokens = capacity;
    o.policies = {SchedulePolicy::kChunked, SchedulePolicy::kFcfs};
    o.rates = {1e6};  // all at once: the KV cache is the limit
    o.arrivals.requests = 64;
    run_serve(o);
    int64_t total = 0;
    for (const RunData& r : read_runs(out_)) {
      EXPECT_EQ(r.kv_capacity, capacity);
      for (double kv : r.kv_max) EXPECT_LE(kv, capacity);
      total += r.preempted;
    }
    preempted.push_back(total);
  }
  EXPECT_EQ(preempted[0], 0);
  for (size_t i = 1; i < preempted.size(); ++i) EXPECT_GE(preempted[i], preempted[i - 1]);
  EXPECT_GT(preempted.back(), preempted[1]);
}

TEST_F(Serve, NoTokenIsDecodedBeforeItsPrefillEnds) {
  make_trace(10, 30);
  ServeOptions o = options();
  o.prompt_tokens = 24;  // longer than the budget: prefills take several steps
  o.limits.token_budget = 8;
  o.kv_capacity_tokens = 120;  // and some requests are preempted and prefilled again
  o.policies = {SchedulePolicy::kChunked, SchedulePolicy::kFcfs, SchedulePolicy::kDecodeFirst};
  o.rates = {5000};
  o.arrivals.requests = 40;
  run_serve(o);
  int64_t preempted = 0;
  for (const RunData& r : read_runs(out_)) {
    preempted += r.preempted;
    const double min_step = *std::min_element(r.step_time.begin(), r.step_time.end());
    for (size_t i = 0; i < r.arrival.size(); ++i) {
      // 24 prompt tokens at 8 per step: the first token comes after at least 3 steps.
      EXPECT_GE(r.first_token[i] - r.admitted[i], 3 * min_step * (1 - 1e-9)) << i;
      EXPECT_EQ(r.token_time[r.token_offset[i]], r.first_token[i]);
      for (uint64_t t = r.token_offset[i] + 1; t < r.token_offset[i + 1]; ++t)
        EXPECT_GT(r.token_time[t], r.token_time[t - 1]);
      EXPECT_EQ(r.token_time[r.token_offset[i + 1] - 1], r.finish[i]);
    }
  }
  EXPECT_GT(preempted, 0);
}

TEST_F(Serve, ResultsDoNotDependOnTheThreadCount) {
  make_trace(12, 20);
  ServeOptions o = options();
  o.policies = {SchedulePolicy::kFcfs, SchedulePolicy::kChunked, SchedulePolicy::kDecodeFirst};
  o.rates = {500, 5000};
  o.arrivals.requests = 100;
  o.kv_capacity_tokens = 200;  // with preemptions
  tbb::task_arena one(1);
  one.execute([&] { run_serve(o); });
  const std::vector<RunData> alone = read_runs(out_);
  tbb::task_arena four(4);
  four.execute([&] { run_serve(o); });
  const std::vector<RunData> together = read_runs(out_);
  ASSERT_EQ(alone.size(), 6u);
  ASSERT_EQ(together.size(), alone.size());
  for (size_t i = 0; i < alone.size(); ++i) {
    EXPECT_EQ(alone[i].step_time, together[i].step_time);
    EXPECT_EQ(alone[i].token_time, together[i].token_time);
    EXPECT_EQ(alone[i].preemptions, together[i].preemptions);
  }
}

// docs/serve.md's worked example: three requests from a CSV, 10 ms steps, 4 tokens per step.
TEST_F(Serve, WorkedExampleOfTheDocs) {
  make_trace(4, 6);
  const std::string csv = dir_.path("ex.csv");
  std::ofstream(csv)
      << "TIMESTAMP,ContextTokens,GeneratedTokens\n0.000,4,3\n0.005,4,2\n0.030,2,1\n";
  ServeOptions o = options();
  o.arrivals.kind = ArrivalKind::kCsv;
  o.arrivals.csv = csv;
  o.rates.clear();
  o.step_cost = StepCostKind::kConstant;
  o.step_overhead_s = 10e-3;
  o.limits.token_budget = 4;
  o.slo = {20e-3, 15e-3};
  o.policies = {SchedulePolicy::kFcfs, SchedulePolicy::kChunked};
  const std::vector<ServeRun> runs = run_serve(o);
  ASSERT_EQ(runs.size(), 2u);
  const std::vector<RunData> data = read_runs(out_);  // chunked, fcfs (by name)
  const std::vector<double> fcfs_tokens{10e-3, 30e-3, 50e-3, 20e-3, 30e-3, 40e-3};
  const std::vector<double> chunked_tokens{10e-3, 20e-3, 30e-3, 30e-3, 40e-3, 40e-3};
  for (size_t t = 0; t < 6; ++t) {
    EXPECT_NEAR(data[1].token_time[t], fcfs_tokens[t], 1e-12) << t;
    EXPECT_NEAR(data[0].token_time[t], chunked_tokens[t], 1e-12) << t;
  }
  EXPECT_NEAR(runs[0].summary.goodput, 40, 1e-9);  // fcfs: r0's TPOT is 20 ms
  EXPECT_NEAR(runs[1].summary.goodput, 50, 1e-9);  // chunked: r1's TTFT is 25 ms
  EXPECT_NEAR(runs[0].summary.mean_in_system, 1.7, 1e-9);
  EXPECT_NEAR(runs[0].summary.mean_time_in_system, 85e-3 / 3, 1e-12);
}

// Bad input: one line naming the option or file, the field and what was expected; exit 2;
// nothing written.
class ServeRefuses : public Serve {
 protected:
  void expect_refused(std::vector<std::string> extra, const std::string& needle) {
    make_trace(4, 6);
    std::vector<std::string> args{"serve",     "--trace", trace_, "--layouts", layout_,
                                  "--cluster", "h100",    "-o",   out_};
    if (std::find(extra.begin(), extra.end(), "--model") == extra.end())
      extra.insert(extra.end(), {"--model", options().model});
    args.insert(args.end(), extra.begin(), extra.end());
    const test::CommandResult r = test::run_epbench(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(needle));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(test::file_exists(out_));
  }
};

TEST_F(ServeRefuses, ARateNotAbove0) {
  expect_refused({"--rate", "0"}, "--rate: expected numbers > 0");
  expect_refused({"--rate", "2,-1"}, "--rate: expected numbers > 0");
}

TEST_F(ServeRefuses, AnSloWithoutAUnitOrNegative) {
  expect_refused({"--slo-ttft", "200"}, "--slo-ttft: expected a duration >= 0 with a unit");
  expect_refused({"--slo-tpot", "-5ms"}, "--slo-tpot: expected a duration >= 0 with a unit");
}

TEST_F(ServeRefuses, AModelSpecWithoutAttentionSizes) {
  auto j = model_spec_json(test_model());
  j.erase("head_dim");
  const std::string spec = dir_.path("no-attention.json");
  std::ofstream(spec) << j.dump(1);
  expect_refused({"--model", spec}, "no-attention.json: head_dim");
}

TEST_F(ServeRefuses, ACsvWithAMissingColumn) {
  const std::string csv = dir_.path("azure.csv");
  std::ofstream(csv) << "TIMESTAMP,ContextTokens\n0.5,10\n";
  expect_refused({"--arrival", "csv", "--arrival-file", csv}, "azure.csv:1");
}

TEST_F(ServeRefuses, ACsvLineThatDoesNotParseOrGoesBackInTime) {
  const std::string csv = dir_.path("azure.csv");
  std::ofstream(csv) << "TIMESTAMP,ContextTokens,GeneratedTokens\n0.5,10,3\n0.7,ten,3\n";
  expect_refused({"--arrival", "csv", "--arrival-file", csv}, "azure.csv:3: ContextTokens");
  std::ofstream(csv) << "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                        "2023-11-16 18:15:46.6805900,10,3\n2023-11-16 18:15:40,10,3\n";
  expect_refused({"--arrival", "csv", "--arrival-file", csv}, "azure.csv:3: TIMESTAMP");
}

TEST_F(ServeRefuses, SloAwareWithoutATpotTarget) {
  expect_refused({"--policy", "slo-aware"}, "--slo-tpot");
}

}  // namespace
}  // namespace epbench
