// Engine placement files: every algorithm's layout survives layout -> export -> import ->
// layout in every format; DeepSeek EPLB's published example and the FlashLB example come out
// slot for slot as EPLB itself computes them; empty slots are filled by the documented rules;
// bad engine files are refused with one line naming the file and field, nothing written.
// (The files are parsed by the engines' own loader rules in analysis/tests/test_engine_files.py.)
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "common/error.h"
#include "engines/engine_format.h"
#include "model/cluster.h"
#include "model/presets.h"
#include "placement/algorithm.h"
#include "placement/common.h"
#include "test_util.h"
#include "trace/stats.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using test::ScratchDir;

const std::string kTrace = std::string(EPBENCH_SOURCE_DIR) + "/traces/brown-moe-8e-top2.h5";

// A model with `layers` MoE layers after `dense` dense ones and `experts` experts.
ModelPreset small_model(int layers, int experts, int dense = 0) {
  ModelPreset m = find_preset("brown-moe-8e-top2");
  m.name = "test-moe";
  m.num_layers = layers;
  m.num_experts = experts;
  m.dense_layers = dense;
  return m;
}

// Exports `lay` in `format` under `dir`, imports the first file back.
Layout round_trip(const Layout& lay, const ModelPreset& model, const EngineFormat& format,
                  const ScratchDir& dir) {
  const std::string out = dir.path(lay.algorithm + "." + format.name + ".json");
  for (const EngineFile& f : format.export_map({lay, "layout.json", model, out}))
    std::ofstream(f.path, std::ios::binary) << f.content;
  const SlotMap map = format.import_map(out, model, lay.num_gpus());
  return layout_of(map, {lay.model, lay.num_experts, lay.nodes, lay.gpus_per_node}, format.name,
                   out);
}

// The slots of every layer, which is what a round trip must keep.
std::vector<std::vector<std::vector<uint16_t>>> slots_of(const Layout& lay) {
  std::vector<std::vector<std::vector<uint16_t>>> out;
  for (const auto& l : lay.layers) out.push_back(l.gpu_experts);
  return out;
}

bool has_empty_slot(const Layout& lay) {
  for (const auto& l : lay.layers)
    if (occupied_slots(l) != static_cast<size_t>(lay.num_gpus() * lay.slots_per_gpu)) return true;
  return false;
}

// What engines hold for a layout: its slots with the empty ones filled.
Layout filled(const Layout& lay, EmptySlotFill fill) {
  return layout_of(slot_map_of(lay, fill),
                   {lay.model, lay.num_experts, lay.nodes, lay.gpus_per_node}, "filled", "filled");
}

bool twice_on_a_gpu(const Layout& lay) {
  for (const auto& l : lay.layers)
    for (const auto& gpu : l.gpu_experts)
      for (size_t i = 0; i < gpu.size(); ++i)
        for (size_t k = i + 1; k < gpu.size(); ++k)
          if (gpu[i] == gpu[k] && !is_empty_slot(gpu[i])) return true;
  return false;
}

// Every placement algorithm on the shipped Brown trace, without and with spare slots, in every
// format: identical when the layout fills its slots, identical after the documented filling
// otherwise (and a second trip changes nothing).
TEST(Engines, EveryAlgorithmRoundTripsInEveryFormat) {
  ScratchDir dir;
  TraceReader reader(kTrace);
  StatsOptions opt;
  opt.progress = false;
  opt.transitions = false;
  const TraceStats stats = compute_stats(reader, opt);
  const ModelPreset& model = find_preset(reader.header().model);
  int checked = 0, with_empty = 0;
  for (const int slots : {2, 3}) {
    ClusterSpec cluster = shape_cluster(load_cluster("h100"), 2, 2, slots, model.num_experts);
    for (const auto& algo : placement_algorithms()) {
      const Layout lay = algo.place({model.name, stats, cluster, 1, {}, 0, 0});
      with_empty += has_empty_slot(lay);
      for (const auto& format : engine_formats()) {
        SCOPED_TRACE(std::string(algo.name) + " " + format.name + " slots " +
                     std::to_string(slots));
        const bool distinct = std::string(format.name) == "vllm-ascend";
        if (distinct && twice_on_a_gpu(lay)) continue;  // refused, tested below
        const Layout back = round_trip(lay, model, format, dir);
        const EmptySlotFill fill = distinct ? EmptySlotFill::kDistinct : EmptySlotFill::kLocalCopy;
        EXPECT_EQ(slots_of(back),
                  has_empty_slot(lay) ? slots_of(filled(lay, fill)) : slots_of(lay));
        EXPECT_EQ(slots_of(round_trip(back, model, format, dir)), slots_of(back));
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 60);
  EXPECT_GT(with_empty, 0);  // round-robin leaves its spare slots empty: the filling is covered
}

// github.com/deepseek-ai/EPLB README example (2 layers, 12 experts, 16 slots on 2 nodes x 4
// GPUs). phy2log is the README's; log2phy and logcnt are what eplb.rebalance_experts returns
// for it (run with torch), log2phy here in ascending slot order as epbench writes it.
TEST(Engines, EplbPublishedExampleRoundTripsSlotForSlot) {
  const ModelPreset model = small_model(2, 12);
  TraceStats s;
  s.num_layers = 2;
  s.num_experts = 12;
  s.top_k = 2;
  s.load = {90, 132, 40,  61, 104, 165, 39,  4,   73,  56, 183, 86,
            20, 107, 104, 64, 19,  197, 187, 157, 172, 86, 16,  27};
  const ClusterSpec cluster = shape_cluster(load_cluster("h100"), 2, 4, 2, 12);
  const Layout lay =
      find_placement("eplb").place({model.name, s, cluster, 1, {{"groups", 4}}, 0, 0});
  ScratchDir dir;
  const std::string out = dir.path("eplb.json");
  for (const EngineFile& f : find_engine_format("eplb").export_map({lay, "x", model, out}))
    std::ofstream(f.path, std::ios::binary) << f.content;
  const nlohmann::json j = read_json(out);
  EXPECT_EQ(j.at("phy2log"),
            nlohmann::json::parse("[[5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1],"
                                  " [7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1]]"));
  EXPECT_EQ(j.at("logcnt"), nlohmann::json::parse("[[1, 2, 1, 1, 2, 2, 1, 1, 1, 1, 2, 1],"
                                                  " [1, 2, 1, 1, 1, 2, 2, 1, 2, 1, 1, 1]]"));
  EXPECT_EQ(j.at("log2phy")[0],
            nlohmann::json::parse("[[12, -1], [13, 15], [11, -1], [6, -1], [5, 7],"
                                  " [0, 2], [1, -1], [3, -1], [4, -1], [9, -1],"
                                  " [8, 10], [14, -1]]"));
  // EPLB's own log2phy (replicas in its replica order) is accepted on import as the same map.
  nlohmann::json theirs = j;
  theirs["log2phy"][0][1] = {15, 13};
  std::ofstream(dir.path("theirs.json")) << theirs.dump();
  const SlotMap map = find_engine_format("eplb").import_map(dir.path("theirs.json"), model, 8);
  EXPECT_EQ(map.phy2log, j.at("phy2log").get<std::vector<std::vector<int32_t>>>());
  EXPECT_EQ(slots_of(round_trip(lay, model, find_engine_format("eplb"), dir)), slots_of(lay));
}

// FlashLB's example: loads 600, 560, 120, 120, 20, 10, 10, 10 on 16 slots of 8 GPUs. EPLB puts
// two replicas of expert 1 on GPU 7 (eplb.rebalance_experts(w, 16, 1, 1, 8) with torch); the
// layout keeps both, so peak/mean GPU load under even splitting is EPLB's 1.28, not the 1.43
// of a layout that merged them.
TEST(Engines, FlashLbExampleKeepsTwoReplicasOnOneGpu) {
  const ModelPreset model = small_model(1, 8);
  TraceStats s;
  s.num_layers = 1;
  s.num_experts = 8;
  s.top_k = 2;
  s.load = {600, 560, 120, 120, 20, 10, 10, 10};
  const ClusterSpec cluster = shape_cluster(load_cluster("h100"), 1, 8, 2, 8);
  const Layout lay = find_placement("eplb").place({model.name, s, cluster, 1, {}, 0, 0});
  const std::vector<int32_t> eplb = {0, 1, 2, 1, 3, 1, 0, 4, 0, 5, 0, 6, 0, 7, 1, 1};
  EXPECT_EQ(slot_map_of(lay).phy2log[0], eplb);
  const std::vector<double> w = gpu_loads(lay.layers[0], layer_load(s, 0));
  const double peak = *std::max_element(w.begin(), w.end()), mean = 1450.0 / 8;
  EXPECT_NEAR(peak / mean, 232.0 / 181.25, 1e-9);
  ScratchDir dir;
  for (const char* f : {"sglang", "vllm", "trtllm", "eplb"})
    EXPECT_EQ(slot_map_of(round_trip(lay, model, find_engine_format(f), dir)).phy2log[0], eplb)
        << f;
  // vLLM-Ascend keeps one copy of an expert per device: refused, naming the GPU.
  try {
    find_engine_format("vllm-ascend").export_map({lay, "fl.json", model, dir.path("a.json")});
    ADD_FAILURE() << "vllm-ascend accepted two copies of expert 1 on GPU 7";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "fl.json: layers[0].gpu_slots[7]: expected each expert at most once per GPU (this "
                 "engine loads one copy per device), got expert 1 twice");
  }
}

// Empty slots: a copy of the GPU's own first expert; on a GPU with none, slot by slot the
// fewest-replica expert it lacks; vLLM-Ascend always the fewest-replica expert it lacks.
TEST(Engines, EmptySlotsFilledByTheDocumentedRules) {
  Layout lay;
  lay.model = "test-moe";
  lay.num_layers = 1;
  lay.num_experts = 4;
  lay.nodes = 1;
  lay.gpus_per_node = 3;
  lay.slots_per_gpu = 3;
  lay.layers.resize(1);
  lay.layers[0].gpu_experts = {{0, 1, 2}, {3, kEmptySlot, 0}, {}};
  // Replicas before filling: 0 twice, 1, 2, 3 once. GPU 1's hole: its own first expert, 3.
  // GPU 2 (nothing): 1 (fewest, lowest id), 2, then 0 (0 and 3 both at 2, lowest id).
  EXPECT_EQ(slot_map_of(lay).phy2log[0], (std::vector<int32_t>{0, 1, 2, 3, 3, 0, 1, 2, 0}));
  // Distinct: GPU 1 takes the fewest-replica expert it lacks (1), GPU 2 then 2, 3, 0.
  EXPECT_EQ(slot_map_of(lay, EmptySlotFill::kDistinct).phy2log[0],
            (std::vector<int32_t>{0, 1, 2, 3, 1, 0, 2, 3, 0}));
}

// The exported files start the layer numbering where each engine does: SGLang rows and
// TensorRT-LLM keys count DeepSeek's dense layers, vLLM-Ascend and EPLB count MoE layers.
TEST(Engines, DenseLayersNumberedAsEachEngineDoes) {
  const ModelPreset model = small_model(2, 4, 3);
  Layout lay;
  lay.model = model.name;
  lay.num_layers = 2;
  lay.num_experts = 4;
  lay.gpus_per_node = 2;
  lay.slots_per_gpu = 3;
  lay.layers.resize(2);
  lay.layers[0].gpu_experts = {{0, 1, 2}, {3, 0, 1}};
  lay.layers[1].gpu_experts = {{3, 2, 1}, {0, 3, 2}};
  const auto content = [&](const char* f) {
    return find_engine_format(f).export_map({lay, "x", model, "out"})[0].content;
  };
  const nlohmann::json sg = nlohmann::json::parse(content("sglang"));
  EXPECT_EQ(sg.at("physical_to_logical_map").size(), 5u);
  EXPECT_EQ(sg.at("physical_to_logical_map")[0], nlohmann::json::parse("[0, 1, 2, 3, 0, 1]"));
  EXPECT_EQ(sg.at("physical_to_logical_map")[3], nlohmann::json::parse("[0, 1, 2, 3, 0, 1]"));
  EXPECT_EQ(sg.at("physical_to_logical_map")[4], nlohmann::json::parse("[3, 2, 1, 0, 3, 2]"));
  const std::string trt = content("trtllm");
  EXPECT_NE(trt.find("\n  3: [0, 1, 2, 3, 0, 1]\n  4: [3, 2, 1, 0, 3, 2]"), std::string::npos)
      << trt;
  EXPECT_NE(trt.find("\nnum_slots: 6\nlayer_updates_per_iter: 0\n"), std::string::npos) << trt;
  const nlohmann::json asc = nlohmann::json::parse(content("vllm-ascend"));
  EXPECT_EQ(asc.at("moe_layer_count"), 2);
  EXPECT_EQ(asc.at("layer_list")[1].at("device_list")[1].at("device_expert"),
            nlohmann::json::parse("[0, 3, 2]"));
}

// A bad engine file: exit 2, one line naming the file and the field, no layout written.
struct BadEngineFile {
  const char* name;
  const char* format;
  const char* content;
  std::vector<std::string> extra;  // options beyond --model brown-moe-8e-top2 -o
  const char* needle;              // after "FILE: "
};

const BadEngineFile kBadFiles[] = {
    {"sglang_slots_not_divisible",
     "sglang",
     R"({"physical_to_logical_map": [[0,1,2,3,4,5,6,7,0],[0,1,2,3,4,5,6,7,0],)"
     R"([0,1,2,3,4,5,6,7,0],[0,1,2,3,4,5,6,7,0]]})",
     {"--gpus-per-node", "4"},
     "physical_to_logical_map[0]: expected a slot count divisible by the 4 ranks"},
    {"sglang_id_out_of_range",
     "sglang",
     R"({"physical_to_logical_map": [[0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,8],)"
     R"([0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,7]]})",
     {"--gpus-per-node", "4"},
     "physical_to_logical_map[1][7]: expected an expert id in [0, 8), got 8"},
    {"sglang_empty_marker",
     "sglang",
     R"({"physical_to_logical_map": [[0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,-1],)"
     R"([0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,7]]})",
     {"--gpus-per-node", "4"},
     "physical_to_logical_map[1][7]: expected an expert id in [0, 8), got -1"},
    {"sglang_other_model",
     "sglang",
     R"({"physical_to_logical_map": [[0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,7]]})",
     {"--gpus-per-node", "4"},
     "physical_to_logical_map: expected 4 rows (every hidden layer of brown-moe-8e-top2, 0 dense "
     "included), got 2 rows"},
    {"sglang_extra_key",
     "sglang",
     R"({"physical_to_logical_map": [], "logical_count": []})",
     {"--gpus-per-node", "4"},
     "logical_count: expected only the keys physical_to_logical_map"},
    {"sglang_no_ranks",
     "sglang",
     R"({"physical_to_logical_map": [[0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,7],)"
     R"([0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,7]]})",
     {},
     "the file does not say how many ranks it is for"},
    {"trtllm_missing_layer",
     "trtllm",
     "num_slots: 8\nlayer_updates_per_iter: 0\ninitial_global_assignments:\n"
     "  0: [0, 1, 2, 3, 4, 5, 6, 7]\n  1: [0, 1, 2, 3, 4, 5, 6, 7]\n  3: [0, 1, 2, 3, 4, 5, 6, "
     "7]\n",
     {"--gpus-per-node", "4"},
     "initial_global_assignments: expected a key for every MoE layer of brown-moe-8e-top2 (0..3), "
     "got no layer 2"},
    {"trtllm_expert_missing",
     "trtllm",
     "num_slots: 8\ninitial_global_assignments:\n  0: [0, 1, 2, 3, 4, 5, 6, 6]\n"
     "  1: [0, 1, 2, 3, 4, 5, 6, 7]\n  2: [0, 1, 2, 3, 4, 5, 6, 7]\n  3: [0, 1, 2, 3, 4, 5, 6, "
     "7]\n",
     {"--gpus-per-node", "4"},
     "initial_global_assignments[0]: expected every expert 0..7 in a slot, got expert 7 missing"},
    {"trtllm_unknown_key",
     "trtllm",
     "num_slots: 8\nslots: 3\n",
     {"--gpus-per-node", "4"},
     "slots: expected only num_slots, layer_updates_per_iter, initial_global_assignments"},
    {"trtllm_not_yaml", "trtllm", "num_slots: [8\n", {"--gpus-per-node", "4"}, "not valid YAML"},
    {"ascend_ragged",
     "vllm-ascend",
     R"({"moe_layer_count": 4, "layer_list": [)"
     R"({"device_list": [{"device_expert": [0,1,2,3]}, {"device_expert": [4,5,6]}]},)"
     R"({"device_list": [{"device_expert": [0,1,2,3]}, {"device_expert": [4,5,6,7]}]},)"
     R"({"device_list": [{"device_expert": [0,1,2,3]}, {"device_expert": [4,5,6,7]}]},)"
     R"({"device_list": [{"device_expert": [0,1,2,3]}, {"device_expert": [4,5,6,7]}]}]})",
     {},
     "layer_list[0].device_list[1].device_expert: expected 4 experts (as device 0), got 3"},
    {"ascend_missing_layer",
     "vllm-ascend",
     R"({"moe_layer_count": 4, "layer_list": [)"
     R"({"device_list": [{"device_expert": [0,1,2,3]}, {"device_expert": [4,5,6,7]}]}]})",
     {},
     "layer_list: expected 4 layers (moe_layer_count), got 1"},
    {"ascend_ranks_disagree",
     "vllm-ascend",
     R"({"moe_layer_count": 4, "layer_list": [)"
     R"({"device_list": [{"device_expert": [0,1,2,3]}, {"device_expert": [4,5,6,7]}]},)"
     R"({"device_list": [{"device_expert": [0,1,2,3]}, {"device_expert": [4,5,6,7]}]},)"
     R"({"device_list": [{"device_expert": [0,1,2,3]}, {"device_expert": [4,5,6,7]}]},)"
     R"({"device_list": [{"device_expert": [0,1,2,3]}, {"device_expert": [4,5,6,7]}]}]})",
     {"--gpus-per-node", "4"},
     "layer_list[0].device_list: expected 4 devices (--nodes x --gpus-per-node), got 2"},
    {"eplb_bad_logcnt",
     "eplb",
     R"({"phy2log": [[0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,7]],)"
     R"("logcnt": [[2,1,1,1,1,1,1,1],[1,1,1,1,1,1,1,1],[1,1,1,1,1,1,1,1],[1,1,1,1,1,1,1,1]]})",
     {"--gpus-per-node", "4"},
     "logcnt: expected each expert's replica count in phy2log"},
    {"vllm_other_model",
     "vllm",
     R"({"format": "vllm_offline_eplb_physical_to_logical", "num_logical_experts": 16,)"
     R"("physical_to_logical_map": [[0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,7],)"
     R"([0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,7]]})",
     {"--gpus-per-node", "4"},
     "num_logical_experts: expected 8 (experts of brown-moe-8e-top2)"},
};

class EngineBadFile : public ::testing::TestWithParam<BadEngineFile> {};

TEST_P(EngineBadFile, RefusedWithOneLineAndNothingWritten) {
  const BadEngineFile& c = GetParam();
  ScratchDir dir;
  const std::string in = dir.path(std::string(c.name) + ".in");
  std::ofstream(in) << c.content;
  std::vector<std::string> args = {"layout",
                                   "import",
                                   in,
                                   "--format",
                                   c.format,
                                   "--model",
                                   "brown-moe-8e-top2",
                                   "-o",
                                   dir.path("out.json")};
  args.insert(args.end(), c.extra.begin(), c.extra.end());
  const test::CommandResult r = test::run_epbench(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("epbench: error: " + in + ": " + c.needle), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(test::file_exists(dir.path("out.json")));
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineBadFile, ::testing::ValuesIn(kBadFiles),
                         [](const auto& p) { return std::string(p.param.name); });

// Export refuses a layout of another model than the one named, and writes nothing: with the
// EPLB format's four files, not one appears.
TEST(Engines, ExportRefusesAnotherModelAndWritesNothing) {
  ScratchDir dir;
  const std::string layout =
      std::string(EPBENCH_SOURCE_DIR) + "/layouts/mixtral-8x7b.2x4.eplb.json";
  const test::CommandResult r =
      test::run_epbench({"layout", "export", layout, "--format", "eplb", "--model", "olmoe-1b-7b",
                         "-o", dir.path("e.json")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(layout + ": model: expected 'olmoe-1b-7b', got 'mixtral-8x7b'"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(test::files_matching(dir.path(""), "e.").empty());
  const test::CommandResult ok =
      test::run_epbench({"layout", "export", layout, "--format", "eplb", "-o", dir.path("e.json")});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  for (const char* f : {"e.json", "e.phy2log.npy", "e.log2phy.npy", "e.logcnt.npy"})
    EXPECT_TRUE(test::file_exists(dir.path(f))) << f;
}

// `place --loads`: counts an engine recorded (FlashLB's) fit EPLB exactly as on a trace; the
// placements that need co-activation refuse them, saying why; a load file of another model or
// with a bad count is refused naming the field.
TEST(Engines, PlaceOnLoadFile) {
  ScratchDir dir;
  const auto write = [&](const std::string& name, const nlohmann::json& j) {
    std::ofstream(dir.path(name)) << j.dump();
    return dir.path(name);
  };
  nlohmann::json loads = {
      {"format", "epbench-loads"},
      {"version", 1},
      {"model", "brown-moe-8e-top2"},
      {"num_layers", 4},
      {"num_experts", 8},
      {"source", "FlashLB example"},
      {"loads", std::vector<std::vector<int>>(4, {600, 560, 120, 120, 20, 10, 10, 10})}};
  const std::string ok = write("loads.json", loads);
  const std::vector<std::string> shape = {"--nodes", "1", "--gpus-per-node", "8", "--slots", "2"};
  auto place = [&](const std::string& algo, const std::string& file) {
    std::vector<std::string> args = {
        "place", "--algo", algo, "--loads", file, "-o", dir.path(algo + ".json")};
    args.insert(args.end(), shape.begin(), shape.end());
    return test::run_epbench(args);
  };
  const test::CommandResult eplb = place("eplb", ok);
  ASSERT_EQ(eplb.exit_code, 0) << eplb.err;
  EXPECT_NE(eplb.out.find("max/mean GPU load 1.280 (mean over layers)"), std::string::npos)
      << eplb.out;
  EXPECT_EQ(slot_map_of(read_layout(dir.path("eplb.json"))).phy2log[3],
            (std::vector<int32_t>{0, 1, 2, 1, 3, 1, 0, 4, 0, 5, 0, 6, 0, 7, 1, 1}));
  const test::CommandResult spread = place("spread", ok);
  EXPECT_EQ(spread.exit_code, 2);
  EXPECT_NE(spread.err.find("'spread' places by co-activation, which a load file does not record"),
            std::string::npos)
      << spread.err;
  nlohmann::json other = loads;
  other["num_experts"] = 16;
  EXPECT_NE(place("eplb", write("other.json", other))
                .err.find("other.json: loads[0]: expected an array of 16 counts"),
            std::string::npos);
  nlohmann::json negative = loads;
  negative["loads"][2][5] = -3;
  EXPECT_NE(place("eplb", write("neg.json", negative))
                .err.find("neg.json: loads[2]: expected counts (integers >= 0), got -3"),
            std::string::npos);
  nlohmann::json renamed = loads;
  renamed["model"] = "mixtral-8x7b";
  const test::CommandResult r = place("eplb", write("renamed.json", renamed));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("renamed.json: model sizes: expected 32 layers, 8 experts, top-2 for "
                       "mixtral-8x7b, got 4, 8, top-2"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(test::file_exists(dir.path("spread.json")));
}

}  // namespace
}  // namespace epbench
