// Layout files: JSON round trip, and every broken invariant refused with one line naming the
// file and the field, both from the library (InputError) and through the CLI (exit 2).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "common/error.h"
#include "fuzz_regressions.h"
#include "model/cluster.h"
#include "model/presets.h"
#include "placement/layout.h"
#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using test::ScratchDir;

// Mixtral shape (8 experts) on 2 nodes x 2 GPUs x 3 slots: 12 slots, 4 spare (replicas).
Layout small_layout() {
  Layout lay;
  lay.model = "mixtral-8x7b";
  lay.num_layers = 32;
  lay.num_experts = 8;
  lay.nodes = 2;
  lay.gpus_per_node = 2;
  lay.slots_per_gpu = 3;
  lay.algorithm = "test";
  lay.params = {{"seed", 3}};
  lay.fit_trace = "traces/x.h5";
  lay.fit_begin = 10;
  lay.fit_end = 500;
  for (int l = 0; l < lay.num_layers; ++l)
    lay.layers.push_back({{{0, 1, 7}, {2, 3}, {4, 5, 0}, {6, 7}}});
  return lay;
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::ofstream(path) << j.dump();
}

// A version 2 layout rewritten as version 1 wrote it: each GPU's distinct experts.
void to_version1(nlohmann::json& j) {
  j["version"] = 1;
  for (auto& layer : j["layers"]) {
    nlohmann::json gpus = nlohmann::json::array();
    for (const auto& row : layer["gpu_slots"]) {
      nlohmann::json ids = nlohmann::json::array();
      for (const auto& e : row)
        if (e.get<int>() >= 0) ids.push_back(e);
      gpus.push_back(ids);
    }
    layer = {{"gpu_experts", gpus}};
  }
}

// Reads a broken file, expects one InputError whose message names the file and `needle`.
void expect_rejected(const std::string& path, const std::string& needle) {
  try {
    read_layout(path);
    ADD_FAILURE() << "accepted: " << needle;
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(Layout, JsonRoundTrip) {
  ScratchDir dir;
  const Layout a = small_layout();
  write_layout(dir.path("a.json"), a);
  const Layout b = read_layout(dir.path("a.json"));
  EXPECT_EQ(layout_to_json(a), layout_to_json(b));
  EXPECT_EQ(b.fit_trace, "traces/x.h5");
  EXPECT_EQ(b.fit_end, 500u);
  EXPECT_EQ(b.layers[5].gpu_experts[2], (std::vector<uint16_t>{4, 5, 0}));
  const nlohmann::json j = layout_to_json(a);
  EXPECT_EQ(j.at("format"), "epbench-layout");
  EXPECT_EQ(j.at("fitted_on").at("tokens"), nlohmann::json::array({10, 500}));
  EXPECT_TRUE(test::files_matching(dir.path(""), ".tmp").empty());
}

// Version 2 writes every physical slot: -1 for an empty one, so a short GPU list is padded.
TEST(Layout, WritesEverySlot) {
  const nlohmann::json j = layout_to_json(small_layout());
  EXPECT_EQ(j.at("version"), 2);
  EXPECT_EQ(j.at("layers")[0].at("gpu_slots"),
            nlohmann::json::parse("[[0, 1, 7], [2, 3, -1], [4, 5, 0], [6, 7, -1]]"));
}

// Two replicas of one expert on one GPU and an empty slot between two others are slots, as
// EPLB's phy2log can say; they survive a round trip in place.
TEST(Layout, DuplicatesAndEmptySlotsRoundTrip) {
  ScratchDir dir;
  Layout a = small_layout();
  a.layers[3].gpu_experts[1] = {2, kEmptySlot, 3};
  a.layers[4].gpu_experts[0] = {0, 0, 1};
  a.layers[4].gpu_experts[1] = {2, 3, 7};
  write_layout(dir.path("a.json"), a);
  const Layout b = read_layout(dir.path("a.json"));
  EXPECT_EQ(b.layers[3].gpu_experts[1], (std::vector<uint16_t>{2, kEmptySlot, 3}));
  EXPECT_EQ(b.layers[4].gpu_experts[0], (std::vector<uint16_t>{0, 0, 1}));
  EXPECT_EQ(b.layers[0].gpu_experts[1], (std::vector<uint16_t>{2, 3}));  // trailing -1 trimmed
  EXPECT_EQ(occupied_slots(b.layers[4]), 11u);
  EXPECT_EQ(replica_map(b.layers[4], 8).replicas[0], (std::vector<int>{0, 0, 2}));
}

// A version 1 file (distinct experts per GPU) reads into the same layout as version 2.
TEST(Layout, ReadsVersion1) {
  ScratchDir dir;
  nlohmann::json j = layout_to_json(small_layout());
  to_version1(j);
  write_json(dir.path("v1.json"), j);
  const Layout b = read_layout(dir.path("v1.json"));
  EXPECT_EQ(layout_to_json(b), layout_to_json(small_layout()));
}

TEST(Layout, ReplicaMap) {
  const ReplicaMap m = replica_map(small_layout().layers[0], 8);
  EXPECT_EQ(m.replicas[0], (std::vector<int>{0, 2}));
  EXPECT_EQ(m.replicas[7], (std::vector<int>{0, 3}));
  EXPECT_EQ(m.replicas[3], (std::vector<int>{1}));
}

TEST(Layout, SamePlacementIgnoresSlotsButNotGpusOrReplicas) {
  const Layout a = small_layout();
  Layout b = a;
  b.algorithm = "other";
  std::reverse(b.layers[5].gpu_experts[0].begin(), b.layers[5].gpu_experts[0].end());
  b.layers[5].gpu_experts[1].push_back(kEmptySlot);  // an empty slot holds nothing
  EXPECT_TRUE(same_placement(a, b));
  Layout moved = a;  // expert 7's replica on GPU 3 moved to GPU 1's spare slot
  moved.layers[9].gpu_experts[1].push_back(7);
  moved.layers[9].gpu_experts[3] = {6};
  EXPECT_FALSE(same_placement(a, moved));
  Layout swapped = a;  // GPU 0 and GPU 1 trade their whole sets: another placement
  std::swap(swapped.layers[0].gpu_experts[0], swapped.layers[0].gpu_experts[1]);
  EXPECT_FALSE(same_placement(a, swapped));
  Layout fewer = a;
  fewer.layers.pop_back();
  EXPECT_FALSE(same_placement(a, fewer));
}

struct BadCase {
  const char* name;
  void (*mutate)(nlohmann::json& j);
  const char* needle;
};

const BadCase kBad[] = {
    {"missing_expert",
     [](nlohmann::json& j) {
       j["layers"][0]["gpu_slots"][3] = {7, -1, -1};
     },
     "layers[0]: expected every expert 0..7 at least once, got expert 6 missing"},
    {"over_slots",
     [](nlohmann::json& j) {
       j["layers"][3]["gpu_slots"][1] = {2, 3, 4, 6};
     },
     "layers[3].gpu_slots[1]: expected 3 slots (slots_per_gpu), got 4"},
    {"short_row",
     [](nlohmann::json& j) {
       j["layers"][3]["gpu_slots"][1] = {2, 3};
     },
     "layers[3].gpu_slots[1]: expected 3 slots (slots_per_gpu), got 2"},
    {"id_out_of_range",
     [](nlohmann::json& j) {
       j["layers"][1]["gpu_slots"][1] = {2, 3, 8};
     },
     "layers[1].gpu_slots[1]: expected expert ids in [0, 8) or -1 (empty), got 8"},
    {"negative_id",
     [](nlohmann::json& j) {
       j["layers"][1]["gpu_slots"][1] = {2, -3, -1};
     },
     "layers[1].gpu_slots[1]: expected expert ids >= 0 or -1 (empty), got -3"},
    {"wrong_gpu_count", [](nlohmann::json& j) { j["layers"][4]["gpu_slots"].erase(3); },
     "layers[4].gpu_slots: expected 4 GPUs (nodes x gpus_per_node), got 3"},
    {"wrong_layer_count", [](nlohmann::json& j) { j["layers"].erase(31); },
     "layers: expected an array of 32 layers, got 31"},
    {"newer_version", [](nlohmann::json& j) { j["version"] = 3; },
     "version: expected at most 2 (this epbench), got 3"},
    {"other_format", [](nlohmann::json& j) { j["format"] = "epbench-trace"; }, "format"},
    {"missing_cluster", [](nlohmann::json& j) { j.erase("cluster"); }, "cluster"},
    {"zero_slots", [](nlohmann::json& j) { j["cluster"]["slots_per_gpu"] = 0; },
     "cluster.slots_per_gpu: expected an integer >= 1, got 0"},
    {"bad_fit",
     [](nlohmann::json& j) {
       j["fitted_on"]["tokens"] = {5, 1};
     },
     "fitted_on"},
    {"layer_not_object", [](nlohmann::json& j) { j["layers"][0] = 3; }, "layers[0].gpu_slots"},
    // Version 1 files are read by version 1's rules: distinct experts per GPU, no -1.
    {"v1_duplicate_on_gpu",
     [](nlohmann::json& j) {
       to_version1(j);
       j["layers"][2]["gpu_experts"][1] = {2, 3, 3};
     },
     "layers[2].gpu_experts[1]: expected each expert at most once per GPU (version 1), got "
     "expert 3 twice"},
    {"v1_empty_marker",
     [](nlohmann::json& j) {
       to_version1(j);
       j["layers"][2]["gpu_experts"][1] = {2, 3, -1};
     },
     "layers[2].gpu_experts[1]: expected expert ids (integers >= 0), got -1"},
    {"v1_over_slots",
     [](nlohmann::json& j) {
       to_version1(j);
       j["layers"][3]["gpu_experts"][1] = {2, 3, 4, 6};
     },
     "layers[3].gpu_experts[1]: expected at most 3 slots (slots_per_gpu), got 4"},
};

// The small layout broken as `c` says, written to its own file; returns the path.
std::string write_bad_layout(const ScratchDir& dir, const BadCase& c) {
  nlohmann::json j = layout_to_json(small_layout());
  c.mutate(j);
  const std::string path = dir.path(std::string(c.name) + ".json");
  write_json(path, j);
  return path;
}

TEST(Layout, EachBrokenInvariantRejected) {
  ScratchDir dir;
  for (const BadCase& c : kBad) {
    SCOPED_TRACE(c.name);
    const std::string path = write_bad_layout(dir, c);
    expect_rejected(path, c.needle);
  }
}

TEST(Layout, MalformedJsonRejected) {
  ScratchDir dir;
  std::ofstream(dir.path("m.json")) << "{\"format\": \"epbench-layout\", \"version\": ";
  expect_rejected(dir.path("m.json"), "expected valid JSON");
  expect_rejected(dir.path("none.json"), "cannot open");
}

TEST(Layout, ValidateInMemory) {
  Layout lay = small_layout();
  EXPECT_NO_THROW(validate_layout(lay, "mem"));
  lay.layers[7].gpu_experts[0] = {0, 1};  // expert 7 still on GPU 3
  EXPECT_NO_THROW(validate_layout(lay, "mem"));
  lay.layers[7].gpu_experts[3] = {6};
  EXPECT_THROW(validate_layout(lay, "mem"), InputError);
}

TEST(Layout, MustMatchModelAndCluster) {
  const Layout lay = small_layout();
  ClusterSpec c = load_cluster("h800");
  c.nodes = 2;
  c.gpus_per_node = 2;
  c.slots_per_gpu = 3;
  EXPECT_NO_THROW(require_layout_matches(lay, find_preset("mixtral-8x7b"), c, "f.json"));
  auto fails = [&](const ModelPreset& m, const ClusterSpec& cc, const std::string& needle) {
    try {
      require_layout_matches(lay, m, cc, "f.json");
      ADD_FAILURE() << needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  fails(find_preset("olmoe-1b-7b"), c, "f.json: model: expected 'olmoe-1b-7b', got 'mixtral-8x7b'");
  ClusterSpec other = c;
  other.gpus_per_node = 4;
  fails(find_preset("mixtral-8x7b"), other,
        "f.json: cluster: expected 2 nodes x 4 GPUs x 3 slots (the cluster), got 2 nodes x 2 "
        "GPUs x 3 slots");
}

// Through the CLI: `place --check` reads a layout; a bad one is one line, exit 2.
TEST(Layout, CliRejectsBadLayouts) {
  ScratchDir dir;
  for (const BadCase& c : kBad) {
    SCOPED_TRACE(c.name);
    const std::string path = write_bad_layout(dir, c);
    const auto r = test::run_epbench({"place", "--check", path});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  }
  write_layout(dir.path("good.json"), small_layout());
  const auto ok = test::run_epbench({"place", "--check", dir.path("good.json")});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("valid"), std::string::npos) << ok.out;
}

// evaluate reads layouts too: a bad one stops it before any output file exists.
TEST(Layout, EvaluateRefusesBadLayoutWithoutOutput) {
  ScratchDir dir;
  const std::string trace = dir.path("t.h5");
  Trace t = test::make_trace(4, 10, 32, 8, 2);
  t.header.model = "mixtral-8x7b";
  write_trace(trace, t);
  nlohmann::json j = layout_to_json(small_layout());
  kBad[0].mutate(j);
  write_json(dir.path("bad.json"), j);
  const std::string out = dir.path("res.h5");
  const auto r = test::run_epbench({"evaluate", "--trace", trace, "--layouts", dir.path("bad.json"),
                                    "--cluster", "h800", "-o", out});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(dir.path("bad.json")), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(out));
}

// Found by fuzz/layout.cpp: a number too large for a double is nlohmann's out_of_range, not
// its parse_error, and escaped the reader.
TEST(Layout, FuzzRegressions) {
  test::expect_clean_error(
      "layout-number-overflow.json", [](const std::string& p) { read_layout(p); },
      "(JSON): expected valid JSON");
}

}  // namespace
}  // namespace epbench
