// `trace import --vllm-routed` and `--megatron`: recordings in the structure vLLM and
// Megatron-core write (docs/engines.md) become exactly the expected trace; recordings of
// another model or with bad ids are refused with one line naming the file and field.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "npy_test_util.h"
#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using test::ScratchDir;

// brown-moe-8e-top2 (4 MoE layers, 8 experts, top-2) behind 2 dense layers, as a spec file.
std::string dense_model(const ScratchDir& dir) {
  const test::CommandResult r =
      test::run_epbench({"models", "--json", "--model", "brown-moe-8e-top2"});
  nlohmann::json spec = nlohmann::json::parse(r.out);
  spec["name"] = "dense-moe";
  spec["dense_layers"] = 2;
  const std::string path = dir.path("dense-moe.json");
  std::ofstream(path) << spec.dump();
  return path;
}

// The two experts of token t in MoE layer l of request r.
std::pair<int, int> experts(int r, int t, int l) {
  const int a = (r * 3 + t + l) % 8;
  return {a, (a + 1 + t % 3) % 8};
}

// vLLM's routed_experts of one request: [T, 6 hidden layers, 2], dense rows zero.
template <class T>
void write_vllm(const std::string& path, const std::string& descr, int r, int tokens) {
  std::vector<T> v;
  for (int t = 0; t < tokens; ++t)
    for (int l = 0; l < 6; ++l) {
      const auto [a, b] = l < 2 ? std::pair{0, 0} : experts(r, t, l - 2);
      v.push_back(static_cast<T>(a));
      v.push_back(static_cast<T>(b));
    }
  test::write_npy(path, descr, {static_cast<uint64_t>(tokens), 6, 2}, v);
}

// Checks the trace holds requests of `lengths` with experts(r, t, l), prompts as given.
void expect_trace(const std::string& path, const std::vector<int>& lengths,
                  const std::vector<uint32_t>& prompts) {
  TraceReader reader(path);
  ASSERT_EQ(reader.header().num_layers, 4);
  ASSERT_EQ(reader.requests().size(), lengths.size());
  EXPECT_EQ(reader.requests().prompt_len, prompts);
  const TokenBlock b = reader.read(0, reader.header().num_tokens);
  size_t tok = 0;
  for (size_t r = 0; r < lengths.size(); ++r)
    for (int t = 0; t < lengths[r]; ++t, ++tok) {
      EXPECT_EQ(b.position[tok], static_cast<uint32_t>(t));
      EXPECT_EQ(b.phase[tok], static_cast<uint32_t>(t) < prompts[r] ? 0 : 1);
      for (int l = 0; l < 4; ++l) {
        const auto [x, y] = experts(static_cast<int>(r), t, l);
        EXPECT_EQ(b.experts(tok, l)[0], x) << "request " << r << " token " << t << " layer " << l;
        EXPECT_EQ(b.experts(tok, l)[1], y);
      }
    }
  EXPECT_EQ(tok, reader.header().num_tokens);
}

TEST(ImportVllm, OneRequestPerFileDenseRowsDropped) {
  ScratchDir dir;
  const std::string model = dense_model(dir);
  write_vllm<int32_t>(dir.path("r0.npy"), "<i4", 0, 5);
  write_vllm<uint8_t>(dir.path("r1.npy"), "|u1", 1, 3);  // newer vLLM: uint8 for <= 256 experts
  const test::CommandResult r =
      test::run_epbench({"trace", "import", "--model", model, "--vllm-routed", dir.path("r0.npy"),
                         dir.path("r1.npy"), "--prompt-len", "2", "-o", dir.path("t.h5")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_trace(dir.path("t.h5"), {5, 3}, {2, 2});
}

// Megatron's records: one line per router call; layers numbered as the dynamic-inference path
// does (1-based global layer_number: MoE layers 3..6 behind 2 dense), two microbatches in
// step 0, an MTP call that is skipped.
std::string megatron_line(int step, int layer, int r, int tokens, const char* block = "decoder") {
  nlohmann::json rows = nlohmann::json::array();
  for (int t = 0; t < tokens; ++t) {
    const auto [a, b] = experts(r, t, layer - 3);
    rows.push_back({a, b});
  }
  return nlohmann::json{
      {"step", step}, {"stage", "pre_dispatch"}, {"block", block}, {"layer", layer},
      {"rank", 0},    {"num_tokens", tokens},    {"topk", 2},      {"top_indices", rows}}
      .dump();
}

TEST(ImportMegatron, EachForwardPassIsOneRequest) {
  ScratchDir dir;
  const std::string model = dense_model(dir);
  std::ofstream out(dir.path("router_trace_rank0.jsonl"));
  for (int l = 3; l <= 6; ++l) out << megatron_line(0, l, 0, 4) << "\n";  // step 0, micro 0
  for (int l = 3; l <= 6; ++l) out << megatron_line(0, l, 1, 2) << "\n";  // step 0, micro 1
  out << megatron_line(1, 3, 2, 3) << "\n" << megatron_line(1, 3, 2, 3, "mtp") << "\n";
  for (int l = 4; l <= 6; ++l) out << megatron_line(1, l, 2, 3) << "\n";  // step 1
  out.close();
  const test::CommandResult r =
      test::run_epbench({"trace", "import", "--model", model, "--megatron",
                         dir.path("router_trace_rank0.jsonl"), "-o", dir.path("t.h5")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_trace(dir.path("t.h5"), {4, 2, 3}, {4, 2, 3});
}

struct BadRecording {
  const char* name;
  std::function<std::vector<std::string>(const ScratchDir&)> write;  // the import options
  const char* needle;
};

std::vector<std::string> vllm_args(const ScratchDir& d) {
  return {"--vllm-routed", d.path("r.npy")};
}
std::vector<std::string> megatron_args(const ScratchDir& d, const std::vector<std::string>& lines) {
  std::ofstream out(d.path("trace.jsonl"));
  for (const auto& l : lines) out << l << "\n";
  return {"--megatron", d.path("trace.jsonl")};
}

const BadRecording kBad[] = {
    {"vllm_other_model",
     [](const ScratchDir& d) {
       test::write_npy(d.path("r.npy"), "<i4", {2, 32, 2}, std::vector<int32_t>(128, 1));
       return vllm_args(d);
     },
     "r.npy: shape: expected [tokens, layers, 2] with layers 6 (every hidden layer of dense-moe) "
     "or 4 (its MoE layers), got (2, 32, 2)"},
    {"vllm_id_out_of_range",
     [](const ScratchDir& d) {
       std::vector<int32_t> v = {0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
       test::write_npy(d.path("r.npy"), "<i4", {1, 6, 2}, v);
       return vllm_args(d);
     },
     "r.npy: expert id: expected ids in [0, 8) at token 0, layer 5, got 8"},
    {"vllm_float",
     [](const ScratchDir& d) {
       test::write_npy(d.path("r.npy"), "<f4", {1, 6, 2}, std::vector<float>(12, 1));
       return vllm_args(d);
     },
     "r.npy"},
    {"megatron_other_topk",
     [](const ScratchDir& d) {
       return megatron_args(
           d,
           {R"({"step":0,"layer":3,"num_tokens":1,"topk":8,"top_indices":[[0,1,2,3,4,5,6,7]]})"});
     },
     "trace.jsonl:1: topk: expected 2 (top-k of dense-moe), got 8"},
    {"megatron_missing_layer",
     [](const ScratchDir& d) {
       return megatron_args(
           d, {megatron_line(0, 3, 0, 2), megatron_line(0, 4, 0, 2), megatron_line(0, 5, 0, 2),
               megatron_line(0, 6, 0, 2), megatron_line(1, 3, 0, 2), megatron_line(1, 5, 0, 2),
               megatron_line(1, 6, 0, 2)});
     },
     "trace.jsonl:5: layer: expected a call of every MoE layer in step 1"},
    {"megatron_one_stage",
     [](const ScratchDir& d) {
       return megatron_args(d, {megatron_line(0, 3, 0, 2), megatron_line(0, 4, 0, 2)});
     },
     "trace.jsonl: layer: expected 4 distinct MoE layers"},
    {"megatron_tokens_differ",
     [](const ScratchDir& d) {
       return megatron_args(d, {megatron_line(0, 3, 0, 2), megatron_line(0, 4, 0, 3),
                                megatron_line(0, 5, 0, 2), megatron_line(0, 6, 0, 2)});
     },
     "trace.jsonl:2: num_tokens: expected 2 (as line 1, the same forward pass), got 3"},
    {"megatron_not_json", [](const ScratchDir& d) { return megatron_args(d, {"{\"step\": 0,"}); },
     "trace.jsonl:1: record: expected one JSON object per line"},
};

class ImportRecordingBad : public ::testing::TestWithParam<BadRecording> {};

TEST_P(ImportRecordingBad, RefusedWithOneLineAndNoTrace) {
  ScratchDir dir;
  std::vector<std::string> args = {"trace",          "import", "--model",
                                   dense_model(dir), "-o",     dir.path("t.h5")};
  const auto extra = GetParam().write(dir);
  args.insert(args.end(), extra.begin(), extra.end());
  const test::CommandResult r = test::run_epbench(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(GetParam().needle), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(test::file_exists(dir.path("t.h5")));
}

INSTANTIATE_TEST_SUITE_P(Engines, ImportRecordingBad, ::testing::ValuesIn(kBad),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace epbench
