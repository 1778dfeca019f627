// Model spec files: every preset round-trips through its spec; every kind of bad spec is
// refused with one line naming the file and the field; and a model that is no preset goes
// through import, place and evaluate like a preset does.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "common/error.h"
#include "fuzz_regressions.h"
#include "io/h5.h"
#include "model/model_spec.h"
#include "placement/layout.h"
#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using nlohmann::json;
using test::run_epbench;
using test::ScratchDir;

// A made-up model: 6 MoE layers after 1 dense one, 12 experts, top-3.
json toy_spec() {
  return json::parse(R"({
    "format": "epbench-model", "version": 1, "name": "toy-moe",
    "num_layers": 6, "dense_layers": 1, "num_experts": 12, "top_k": 3,
    "d_model": 64, "d_ff": 128, "attention": "gqa", "attention_heads": 8, "kv_heads": 2,
    "head_dim": 8, "weight_bytes": 2, "kv_bytes": 2, "source": "made up for a test"})");
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// The InputError message of model_from_spec on `j` ("" when it accepts it).
std::string spec_error(const json& j) {
  try {
    model_from_spec(j, "m.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelSpec, ReadsEveryFieldAndDefaultsTheOptionalOnes) {
  const ModelPreset m = model_from_spec(toy_spec(), "toy.json");
  EXPECT_EQ(m.name, "toy-moe");
  EXPECT_EQ(m.num_layers, 6);
  EXPECT_EQ(m.total_layers(), 7);
  EXPECT_EQ(m.num_experts, 12);
  EXPECT_EQ(m.top_k, 3);
  EXPECT_EQ(m.kv_heads, 2);
  EXPECT_EQ(m.shared_experts, 0);
  EXPECT_EQ(m.expert_groups, 1);
  EXPECT_EQ(m.source, "made up for a test");
  EXPECT_EQ(kv_bytes_per_token(m), 2 * 2 * 8 * 7 * 2);
}

TEST(ModelSpec, EveryPresetRoundTripsThroughItsSpec) {
  for (const auto& p : all_presets()) {
    const json j = json::parse(model_spec_json(p).dump());
    const ModelPreset back = model_from_spec(j, p.name + ".json");
    EXPECT_TRUE(back.same_model(p)) << p.name;
    EXPECT_EQ(back.source, p.source) << p.name;
  }
}

TEST(ModelSpec, BadFieldsNameTheFileAndTheField) {
  const auto with = [](const char* key, json v) {
    json j = toy_spec();
    j[key] = std::move(v);
    return j;
  };
  const auto without = [](const char* key) {
    json j = toy_spec();
    j.erase(key);
    return j;
  };
  const std::vector<std::pair<json, std::string>> cases = {
      {without("d_ff"), "m.json: d_ff: expected an integer in [1, 1048576], got nothing"},
      {without("name"), "m.json: name: expected a string"},
      {without("format"), "m.json: format: expected \"epbench-model\""},
      {without("version"), "m.json: version: expected the integer 1"},
      {with("format", "epbench-layout"), "m.json: format: expected \"epbench-model\""},
      {with("version", 2), "m.json: version: expected at most 1 (this epbench), got 2"},
      {with("version", "1"), "m.json: version: expected a positive integer"},
      {with("top_k", "3"), "m.json: top_k: expected an integer in [1, 65535], got \"3\""},
      {with("top_k", 2.5), "m.json: top_k: expected an integer"},
      {with("num_experts", 0), "m.json: num_experts: expected an integer in [1, 65535], got 0"},
      {with("num_experts", 70000), "m.json: num_experts: expected an integer in [1, 65535]"},
      {with("top_k", 13), "m.json: top_k: expected at most num_experts (12), got 13"},
      {with("kv_heads", 3), "m.json: kv_heads: expected a divisor of attention_heads (8), got 3"},
      {with("attention", "mha"), "m.json: attention: expected \"gqa\" or \"mla\""},
      {with("kv_latent_dim", 576), "m.json: kv_latent_dim: expected 0 with \"gqa\""},
      {with("attention", "mla"), "m.json: kv_latent_dim: expected the cached latent width"},
      {with("expert_groups", 5), "m.json: expert_groups: expected a divisor of num_experts"},
      {with("shared_experts", 1), "m.json: shared_d_ff: expected positive exactly when"},
      {with("weight_bytes", 0), "m.json: weight_bytes: expected an integer in [1, 8], got 0"},
      {with("nmu_layers", 6), "m.json: nmu_layers: expected one of format, version, name"},
      {with("name", ""), "m.json: name: expected 1 to 200 characters"},
      {with("name", "mixtral-8x7b"), "m.json: name: expected a name that is no preset"},
      {json::array(), "m.json: (top level): expected a JSON object"},
  };
  for (const auto& [j, expected] : cases) {
    const std::string msg = spec_error(j);
    EXPECT_EQ(msg.rfind(expected, 0), 0u) << "got: " << msg << "\nexpected: " << expected;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ModelSpec, ResolveTakesPresetsThenFiles) {
  ScratchDir dir;
  EXPECT_EQ(resolve_model("olmoe-1b-7b").num_experts, 64);
  write_file(dir.path("toy"), toy_spec().dump());  // an existing file needs no .json
  EXPECT_EQ(resolve_model(dir.path("toy")).name, "toy-moe");
  try {
    resolve_model("no-such-model", "--model");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--model: unknown model preset 'no-such-model'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(resolve_model(dir.path("missing.json")), InputError);
}

// ---- the command line ----

TEST(ModelSpecCli, ModelsJsonPrintsLoadableSpecs) {
  ScratchDir dir;
  const auto all = run_epbench({"models", "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const json specs = json::parse(all.out);
  ASSERT_TRUE(specs.is_array());
  ASSERT_EQ(specs.size(), all_presets().size());
  for (size_t i = 0; i < specs.size(); ++i)
    EXPECT_TRUE(model_from_spec(specs[i], "out").same_model(all_presets()[i])) << i;

  const auto one = run_epbench({"models", "--json", "--model", "mixtral-8x7b"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  write_file(dir.path("mine.json"), one.out);
  EXPECT_TRUE(read_model_spec(dir.path("mine.json")).same_model(find_preset("mixtral-8x7b")));
  const auto check = run_epbench({"models", "--model", dir.path("mine.json")});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("mixtral-8x7b"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("131072"), std::string::npos) << check.out;  // KV bytes per token
}

// JSON lines for the toy model: `requests` requests of 10 tokens (4 prompt, 6 decode), each
// token choosing 3 distinct experts per layer, skewed towards low ids so placement matters.
std::string toy_recording(int requests) {
  std::string out;
  for (int r = 0; r < requests; ++r)
    for (int p = 0; p < 10; ++p)
      for (int l = 0; l < 6; ++l) {
        const int first = (r * 7 + p * 3 + l) % 12 / ((p + l) % 3 == 0 ? 3 : 1);
        out += "{\"request\": " + std::to_string(r) + ", \"position\": " + std::to_string(p) +
               ", \"layer\": " + std::to_string(l) + ", \"phase\": " + (p < 4 ? "0" : "1") +
               ", \"experts\": [" + std::to_string(first) + ", " +
               std::to_string((first + 1) % 12) + ", " + std::to_string((first + 5) % 12) + "]}\n";
      }
  return out;
}

TEST(ModelSpecCli, ImportPlaceAndEvaluateAModelThatIsNoPreset) {
  ScratchDir dir;
  const std::string spec = dir.path("toy.json"), trace = dir.path("toy.h5");
  write_file(spec, toy_spec().dump(2));
  write_file(dir.path("rec.jsonl"), toy_recording(8));
  const auto imp = run_epbench(
      {"trace", "import", "--model", spec, "--jsonl", dir.path("rec.jsonl"), "-o", trace});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_NE(imp.out.find("toy-moe (6 layers, 12 experts, top-3)"), std::string::npos) << imp.out;
  const Trace tr = read_trace(trace);
  EXPECT_EQ(tr.header.model, "toy-moe");
  EXPECT_EQ(tr.header.num_tokens, 80u);
  EXPECT_EQ(tr.header.d_model, 64);
  EXPECT_EQ(tr.header.d_ff, 128);
  EXPECT_EQ(run_epbench({"trace", "info", trace, "--model", spec}).exit_code, 0);
  const auto other = run_epbench({"trace", "info", trace, "--model", "mixtral-8x7b"});
  EXPECT_EQ(other.exit_code, 2) << other.err;

  for (const char* algo : {"balanced", "eplb"}) {
    const std::string lay = dir.path(std::string(algo) + ".json");
    const auto place =
        run_epbench({"place", "--algo", algo, "--trace", trace, "--fit", "0%:50%", "--cluster",
                     "h100", "--nodes", "1", "--gpus-per-node", "4", "-o", lay});
    ASSERT_EQ(place.exit_code, 0) << algo << ": " << place.err;
    const Layout l = read_layout(lay);
    EXPECT_EQ(l.model, "toy-moe");
    EXPECT_EQ(l.num_layers, 6);
    EXPECT_EQ(l.num_experts, 12);
  }
  const std::string results = dir.path("results.h5");
  const auto eval = run_epbench({"evaluate", "--trace", trace, "--layouts",
                                 dir.path("balanced.json") + "," + dir.path("eplb.json"),
                                 "--cluster", "h100", "--test", "50%:100%", "--batch-sizes", "2",
                                 "--routing", "first", "-o", results});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  h5::File f = h5::open_file(results);
  EXPECT_EQ(h5::read_attr_string(f.id(), "model"), std::string("toy-moe"));
  for (const char* run : {"runs/balanced.first.b2", "runs/eplb.first.b2"})
    EXPECT_GT(*h5::read_attr_double(h5::open_group(f.id(), run).id(), "tokens_per_s"), 0) << run;
}

TEST(ModelSpecCli, SynthTakesASpecToo) {
  ScratchDir dir;
  write_file(dir.path("toy.json"), toy_spec().dump());
  const auto r = run_epbench({"trace", "synth", "--model", dir.path("toy.json"), "--calibrate",
                              "uniform", "--requests", "2", "-o", dir.path("s.h5")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Trace tr = read_trace(dir.path("s.h5"));
  EXPECT_EQ(tr.header.model, "toy-moe");
  EXPECT_EQ(tr.header.num_layers, 6);
  EXPECT_EQ(tr.header.num_experts, 12);
  EXPECT_EQ(tr.header.top_k, 3);
}

// Runs `trace import --model SPEC`; expects exit 2, no trace, and one line on stderr that
// starts with the spec's path and names `field`.
void expect_bad_spec(const ScratchDir& dir, const std::string& text, const std::string& field) {
  const std::string spec = dir.path("bad.json");
  write_file(spec, text);
  write_file(dir.path("rec.jsonl"), toy_recording(1));
  const auto r = run_epbench({"trace", "import", "--model", spec, "--jsonl", dir.path("rec.jsonl"),
                              "-o", dir.path("out.h5")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(spec + ": " + field + ": expected"), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(dir.path("out.h5")));
}

TEST(ModelSpecCli, MalformedSpecsExitTwoWithOneLine) {
  ScratchDir dir;
  json missing = toy_spec(), wrong_type = toy_spec(), out_of_range = toy_spec(), newer = toy_spec();
  missing.erase("top_k");
  wrong_type["num_layers"] = "six";
  out_of_range["top_k"] = 13;
  newer["version"] = 2;
  expect_bad_spec(dir, missing.dump(), "top_k");
  expect_bad_spec(dir, wrong_type.dump(), "num_layers");
  expect_bad_spec(dir, out_of_range.dump(), "top_k");
  expect_bad_spec(dir, newer.dump(), "version");
  expect_bad_spec(dir, "{\"format\": \"epbench-model\", \"version\": 1,", "(JSON)");
  expect_bad_spec(dir, "", "(JSON)");
}

TEST(ModelSpecCli, MissingSpecFileExitsTwo) {
  ScratchDir dir;
  const auto r = run_epbench({"models", "--model", dir.path("none.json")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(dir.path("none.json") +
                       ": cannot open model spec file (epbench-model JSON) (no such file)"),
            std::string::npos)
      << r.err;
}

// Found by fuzz/model_spec.cpp: a number too large for a double is nlohmann's out_of_range,
// not its parse_error, and escaped read_model_spec.
TEST(ModelSpec, FuzzRegressions) {
  test::expect_clean_error(
      "model_spec-number-overflow.json", [](const std::string& p) { read_model_spec(p); },
      "(JSON): expected a model spec in JSON");
}

}  // namespace
}  // namespace epbench
