// Serving schedules run for real (docs/serve.md, docs/run.md): `serve --schedule-out` writes
// the simulator's steps, `run --schedule` executes them under mpirun and measures TTFT and
// TPOT; bad schedules are refused before anything runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "io/h5.h"
#include "placement/layout.h"
#include "sim/schedule_file.h"
#include "sim/schedule_metrics.h"
#include "test_util.h"

namespace epbench {
namespace {

const std::string kTrace = std::string(EPBENCH_SOURCE_DIR) + "/traces/brown-moe-8e-top2.h5";
const std::string kOtherTrace = std::string(EPBENCH_SOURCE_DIR) + "/traces/brown-moe-32e-top4.h5";

class Schedule : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.path(name); }

  std::string place(const std::string& name, int nodes, int gpus_per_node) {
    const std::string out = path(name + ".json");
    const auto r = test::run_epbench({"place", "--algo", "round-robin", "--trace", kTrace,
                                      "--nodes", std::to_string(nodes), "--gpus-per-node",
                                      std::to_string(gpus_per_node), "-o", out});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }

  // A few short requests at a low rate: a run of a few dozen steps.
  test::CommandResult serve(const std::string& layout, const std::string& schedule,
                            const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"serve",
                                  "--trace",
                                  kTrace,
                                  "--layouts",
                                  layout,
                                  "--requests",
                                  "5",
                                  "--rate",
                                  "40",
                                  "--prompt-tokens",
                                  "7",
                                  "--output-tokens",
                                  "4",
                                  "--token-budget",
                                  "8",
                                  "--schedule-out",
                                  schedule,
                                  "-o",
                                  path("serve.h5")};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_epbench(args);
  }

  test::CommandResult run(int ranks, const std::string& trace, const std::string& layout,
                          const std::string& schedule, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = test::mpirun_args(ranks);
    argv.insert(argv.end(),
                {EPBENCH_EXE, "run", "--trace", trace, "--layouts", layout, "--schedule", schedule,
                 "--d-model", "32", "--d-ff", "64", "-o", path("run.h5")});
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::run_command(argv);
  }

  test::ScratchDir dir_;
};

// Which steps ran each request's items, and the positions its prefill chunks computed.
struct RequestItems {
  std::vector<std::pair<uint32_t, uint32_t>> prefill;  // (position, tokens)
  uint32_t decodes = 0, produced = 0;
  size_t first_step = SIZE_MAX, first_token_step = SIZE_MAX;
};

std::vector<RequestItems> items_by_request(const ScheduleFile& s) {
  std::vector<RequestItems> out(s.requests());
  const ScheduledSteps& st = s.steps;
  for (size_t k = 0; k < st.steps(); ++k)
    for (uint64_t i = st.item_offset[k]; i < st.item_offset[k + 1]; ++i) {
      RequestItems& r = out[st.request[i]];
      r.first_step = std::min(r.first_step, k);
      if (st.prefill[i])
        r.prefill.push_back({st.position[i], st.tokens[i]});
      else
        r.decodes += st.tokens[i];
      if (st.produces[i] && r.produced++ == 0) r.first_token_step = k;
    }
  return out;
}

TEST_F(Schedule, ServeWritesEveryTokenOnceAndItsTtft) {
  const std::string layout = place("rr2", 1, 2), sched = path("s.h5");
  const auto r = serve(layout, sched);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ScheduleFile s = read_schedule_file(sched);
  ASSERT_EQ(s.requests(), 5u);
  EXPECT_EQ(s.id.layout_hash.size(), 16u);
  const std::vector<RequestItems> items = items_by_request(s);
  for (size_t q = 0; q < s.requests(); ++q) {
    std::vector<std::pair<uint32_t, uint32_t>> chunks = items[q].prefill;
    std::sort(chunks.begin(), chunks.end());
    uint32_t next = 0;  // prefill chunks tile [0, prompt) exactly once
    for (const auto& [pos, n] : chunks) {
      EXPECT_EQ(pos, next) << q;
      next = pos + n;
    }
    EXPECT_EQ(next, s.prompt[q]) << q;
    EXPECT_EQ(items[q].decodes, s.output[q] - 1) << q;  // one decode token per later output
    EXPECT_EQ(items[q].produced, s.output[q]) << q;
    ASSERT_LT(items[q].first_token_step, s.steps.steps());
    EXPECT_NEAR(s.step_end[items[q].first_token_step] - s.arrival[q], s.ttft[q], 1e-12) << q;
    EXPECT_GE(s.step_start[items[q].first_step], s.arrival[q]) << q;
  }
  EXPECT_EQ(s.steps.token.size(), s.steps.token_offset.back());
}

// By hand: r0 (arrives 0) prefills in step 0 and decodes in steps 1, 2; r1 (arrives 1.5)
// prefills in two chunks, steps 1 and 2. Measured step ends 1, 3, 6 (step 1 ran late).
TEST(ScheduleMetrics, TtftAndTpotFromTheStepEnds) {
  ScheduleFile s;
  s.arrival = {0, 1.5}, s.prompt = {2, 4}, s.output = {3, 1};
  s.step_start = {0, 1.5, 2}, s.step_end = {1, 2, 2.5};
  ScheduledSteps& st = s.steps;
  st.item_offset = {0, 1, 3, 5};
  st.request = {0, 0, 1, 0, 1}, st.produces = {1, 1, 0, 1, 1};
  EXPECT_EQ(step_ready_times(s), (std::vector<double>{0, 1.5, 1.5}));
  const ScheduleComparison c = compare_schedule(s, {0, 2, 4}, {1, 3, 6});
  EXPECT_EQ(c.ttft_measured, (std::vector<double>{1, 4.5}));
  EXPECT_EQ(c.ttft_simulated, (std::vector<double>{1, 1}));
  EXPECT_DOUBLE_EQ(c.tpot_measured[0], 2.5);  // (6 - 1) / 2
  EXPECT_DOUBLE_EQ(c.tpot_simulated[0], 0.75);
  EXPECT_TRUE(std::isnan(c.tpot_measured[1]));  // one output token: no TPOT
  EXPECT_EQ(c.decode_intervals, (std::vector<uint32_t>{2, 0}));
  EXPECT_EQ(c.output_tokens, 4u);
  EXPECT_DOUBLE_EQ(c.duration_measured, 6);
  EXPECT_DOUBLE_EQ(c.duration_simulated, 2.5);
  EXPECT_NE(comparison_table(c).find("2 of 3 steps started later"), std::string::npos);
  // r1 first ran in step 1, which started 0.5 after its simulated start: its own TTFT is 4
  EXPECT_EQ(c.first_step_late, (std::vector<double>{0, 0.5}));
  EXPECT_EQ(own_ttft(c, 0), 1);
  EXPECT_EQ(own_ttft(c, 1), 4);
  EXPECT_NE(comparison_table(c).find("TTFT own"), std::string::npos);
}

TEST_F(Schedule, ServeRefusesASweep) {
  const std::string layout = place("rr2", 1, 2), sched = path("s.h5");
  const auto r = serve(layout, sched, {"--policy", "fcfs,chunked"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--schedule-out"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2 policies"), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(sched));
  EXPECT_FALSE(test::file_exists(path("serve.h5")));
}

// The measured comparison in the run's results file.
struct Measured {
  std::vector<double> ttft, step_start, step_end;
  std::vector<uint32_t> intervals;
  std::vector<double> first_step_late;
};

Measured read_measured(const std::string& file, const std::string& run) {
  const h5::File f = h5::open_file(file);
  const h5::Group g = h5::open_group(f.id(), "runs/" + run + "/schedule");
  const auto get = [&](const char* name) {
    return h5::read_all<double>(h5::open_dataset(g.id(), name).id());
  };
  return {get("ttft_measured"), get("step_start"), get("step_end"),
          h5::read_all<uint32_t>(h5::open_dataset(g.id(), "decode_intervals").id()),
          get("first_step_late")};
}

void expect_executed(const ScheduleFile& s, const Measured& m) {
  ASSERT_EQ(m.step_end.size(), s.steps.steps());  // every scheduled step ran
  for (size_t k = 0; k < m.step_end.size(); ++k) EXPECT_GT(m.step_end[k], m.step_start[k]) << k;
  const std::vector<RequestItems> items = items_by_request(s);
  ASSERT_EQ(m.ttft.size(), s.requests());
  for (size_t q = 0; q < s.requests(); ++q) {
    const size_t first = items[q].first_step;
    EXPECT_GE(m.step_start[first], s.arrival[q]) << q;  // no step before its arrivals
    EXPECT_GE(m.ttft[q], 0) << q;
    EXPECT_GE(m.ttft[q], m.step_end[first] - m.step_start[first]) << q;
    EXPECT_EQ(m.intervals[q], s.output[q] - 1) << q;
    // the lateness its TTFT inherited: its first step's start, measured less simulated
    EXPECT_DOUBLE_EQ(m.first_step_late[q], m.step_start[first] - s.step_start[first]) << q;
  }
}

TEST_F(Schedule, RunExecutesItOn2Ranks) {
  const std::string layout = place("rr2", 1, 2), sched = path("s.h5");
  ASSERT_EQ(serve(layout, sched).exit_code, 0);
  const auto r = run(2, kTrace, layout, sched);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("serving schedule: 5 requests"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TTFT"), std::string::npos) << r.out;
  expect_executed(read_schedule_file(sched), read_measured(path("run.h5"), "rr2.first.schedule"));
}

TEST_F(Schedule, RunExecutesItOn4RanksIn2VirtualNodes) {
  const std::string layout = place("rr4", 2, 2), sched = path("s.h5");
  ASSERT_EQ(serve(layout, sched).exit_code, 0);
  // --check: every token's output against the reference FFN of the hidden states it was given,
  // which the replay makes ahead of each step.
  const auto r = run(4, kTrace, layout, sched, {"--ranks-per-node", "2", "--check"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_executed(read_schedule_file(sched), read_measured(path("run.h5"), "rr4.first.schedule"));
}

// Bad schedules: one line naming the file and the field, exit 2, no results file.
class ScheduleRefused : public Schedule {
 protected:
  void SetUp() override {
    layout_ = place("rr2", 1, 2), sched_ = path("s.h5");
    ASSERT_EQ(serve(layout_, sched_).exit_code, 0);
  }
  void expect_refused(const std::string& trace, const std::string& layout, const std::string& sched,
                      const std::string& field) {
    const auto r = run(2, trace, layout, sched);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(sched), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(field), std::string::npos) << r.err;
    // One message, from rank 0 (mpirun may add its own lines about the exit status).
    size_t messages = 0;
    for (size_t at = r.err.find("epbench: error"); at != std::string::npos;
         at = r.err.find("epbench: error", at + 1))
      ++messages;
    EXPECT_EQ(messages, 1u) << r.err;
    EXPECT_FALSE(test::file_exists(path("run.h5")));
  }
  // A copy of the schedule changed by `edit` on the open file.
  template <class Edit>
  std::string edited(const std::string& name, Edit edit) {
    const std::string out = path(name);
    std::filesystem::copy_file(sched_, out);
    const h5::File f = h5::open_file(out, true);
    edit(f.id());
    return out;
  }
  std::string layout_, sched_;
};

TEST_F(ScheduleRefused, AnotherTrace) {
  expect_refused(kOtherTrace, layout_, sched_, "trace_model");
}

TEST_F(ScheduleRefused, AnotherLayout) {
  Layout l = read_layout(layout_);  // same shape, two experts swapped between the GPUs
  std::swap(l.layers[0].gpu_experts[0][0], l.layers[0].gpu_experts[1][0]);
  const std::string other = path("swapped.json");
  write_layout(other, l);
  expect_refused(kTrace, other, sched_, "layout_hash");
}

TEST_F(ScheduleRefused, ATruncatedFile) {
  const std::string cut = path("cut.h5");
  std::filesystem::copy_file(sched_, cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
  expect_refused(kTrace, layout_, cut, "file: expected an HDF5 schedule file");
}

TEST_F(ScheduleRefused, AnotherFormatOrVersion) {
  expect_refused(kTrace, layout_,
                 edited("fmt.h5", [](hid_t f) { h5::write_attr(f, "format", std::string("x")); }),
                 "format");
  expect_refused(kTrace, layout_,
                 edited("ver.h5", [](hid_t f) { h5::write_attr(f, "version", int64_t{2}); }),
                 "version: expected 1");
}

TEST_F(ScheduleRefused, AMissingOrInconsistentDataset) {
  expect_refused(kTrace, layout_,
                 edited("nohome.h5", [](hid_t f) { H5Ldelete(f, "items/home", H5P_DEFAULT); }),
                 "items/home");
  expect_refused(kTrace, layout_,
                 edited("short.h5",
                        [](hid_t f) {
                          H5Ldelete(f, "steps/end", H5P_DEFAULT);
                          h5::write_all<double>(f, "steps/end", {1},
                                                std::vector<double>{1.0}.data());
                        }),
                 "steps/end");
}

}  // namespace
}  // namespace epbench
