// Cluster presets and JSON cluster files: documented numbers, overrides, and every bad field
// refused with one line naming the file and the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "fuzz_regressions.h"
#include "model/cluster.h"
#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using test::ScratchDir;

TEST(Cluster, PresetsHaveDocumentedNumbers) {
  EXPECT_EQ(cluster_preset_names(), (std::vector<std::string>{"h800", "h100", "a100"}));
  const ClusterSpec h800 = load_cluster("h800");
  EXPECT_EQ(h800.gpus_per_node, 8);
  EXPECT_DOUBLE_EQ(h800.same_node.bandwidth_Bps, 160e9);
  EXPECT_DOUBLE_EQ(h800.other_node.bandwidth_Bps, 50e9);
  const ClusterSpec h100 = load_cluster("h100");
  EXPECT_DOUBLE_EQ(h100.same_node.bandwidth_Bps, 450e9);
  EXPECT_DOUBLE_EQ(h100.other_node.bandwidth_Bps, 50e9);
  const ClusterSpec a100 = load_cluster("a100");
  EXPECT_DOUBLE_EQ(a100.same_node.bandwidth_Bps, 300e9);
  EXPECT_DOUBLE_EQ(a100.other_node.bandwidth_Bps, 25e9);
  for (const auto& name : cluster_preset_names()) {
    const ClusterSpec c = load_cluster(name);
    EXPECT_GT(c.gpu_flops, 1e14) << name;
    EXPECT_GT(c.hbm_bandwidth_Bps, 1e12) << name;
    EXPECT_GT(c.kv_capacity_tokens, 0) << name;
    EXPECT_GT(c.same_node.latency_s, 0) << name;
    EXPECT_LT(c.same_node.latency_s, c.other_node.latency_s) << name;
    EXPECT_FALSE(c.source.empty()) << name;
  }
}

TEST(Cluster, UnknownPresetNamesKnownOnes) {
  try {
    load_cluster("h200x");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("h800, h100, a100"), std::string::npos) << e.what();
  }
}

TEST(Cluster, ShapeOverridesAndRefusesTooFewSlots) {
  const ClusterSpec c = shape_cluster(load_cluster("h800"), 4, 0, 0, 256);
  EXPECT_EQ(c.nodes, 4);
  EXPECT_EQ(c.gpus_per_node, 8);
  EXPECT_EQ(c.slots_per_gpu, 8);                                                // E / G
  EXPECT_EQ(shape_cluster(load_cluster("h800"), 1, 3, 0, 8).slots_per_gpu, 3);  // ceil(8/3)
  EXPECT_EQ(shape_cluster(load_cluster("h800"), 4, 8, 9, 256).total_slots(), 288);
  EXPECT_THROW(shape_cluster(load_cluster("h800"), 2, 2, 1, 8), InputError);
  try {
    shape_cluster(load_cluster("a100"), 1, 2, 3, 8);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot hold the model's 8 experts"), std::string::npos)
        << e.what();
  }
}

nlohmann::json full_cluster() {
  return {{"format", "epbench-cluster"},
          {"version", 1},
          {"name", "lab"},
          {"nodes", 2},
          {"gpus_per_node", 4},
          {"slots_per_gpu", 3},
          {"kv_capacity_tokens", 100000},
          {"same_node", {{"latency_us", 2}, {"bandwidth_GBps", 100}}},
          {"other_node", {{"latency_us", 8}, {"bandwidth_GBps", 12.5}}},
          {"gpus_per_nic", 2},
          {"gpu_tflops", 150},
          {"hbm_GBps", 1000},
          {"bytes_per_activation", 1}};
}

std::string write(const ScratchDir& dir, const std::string& name, const nlohmann::json& j) {
  const std::string path = dir.path(name);
  std::ofstream(path) << j.dump();
  return path;
}

TEST(Cluster, JsonFileReadInUnits) {
  ScratchDir dir;
  const ClusterSpec c = load_cluster(write(dir, "c.json", full_cluster()));
  EXPECT_EQ(c.name, "lab");
  EXPECT_EQ(c.num_gpus(), 8);
  EXPECT_EQ(c.slots_per_gpu, 3);
  EXPECT_DOUBLE_EQ(c.same_node.latency_s, 2e-6);
  EXPECT_DOUBLE_EQ(c.other_node.bandwidth_Bps, 12.5e9);
  EXPECT_EQ(c.gpus_per_nic, 2);
  EXPECT_DOUBLE_EQ(c.gpu_flops, 150e12);
  EXPECT_EQ(c.bytes_per_activation, 1);
  EXPECT_EQ(c.bytes_per_weight, 2);
}

TEST(Cluster, JsonFileWithBaseOverrides) {
  ScratchDir dir;
  const ClusterSpec c = load_cluster(write(
      dir, "b.json", {{"base", "h100"}, {"nodes", 4}, {"other_node", {{"bandwidth_GBps", 25}}}}));
  EXPECT_EQ(c.nodes, 4);
  EXPECT_EQ(c.gpus_per_node, 8);
  EXPECT_DOUBLE_EQ(c.same_node.bandwidth_Bps, 450e9);
  EXPECT_DOUBLE_EQ(c.other_node.bandwidth_Bps, 25e9);
  EXPECT_DOUBLE_EQ(c.other_node.latency_s, load_cluster("h100").other_node.latency_s);
}

TEST(Cluster, JsonFileBadFieldsRejected) {
  ScratchDir dir;
  struct Bad {
    const char* name;
    void (*mutate)(nlohmann::json& j);
    const char* needle;
  };
  const Bad bad[] = {
      {"neg_bw", [](nlohmann::json& j) { j["same_node"]["bandwidth_GBps"] = -1; },
       "same_node.bandwidth_GBps: expected a positive number, got -1"},
      {"str_nodes", [](nlohmann::json& j) { j["nodes"] = "two"; },
       "nodes: expected an integer >= 1, got \"two\""},
      {"zero_gpus", [](nlohmann::json& j) { j["gpus_per_node"] = 0; }, "gpus_per_node"},
      {"missing", [](nlohmann::json& j) { j.erase("gpu_tflops"); },
       "gpu_tflops: expected a positive number, got nothing (field missing)"},
      {"unknown", [](nlohmann::json& j) { j["nvlink"] = 1; }, "nvlink: expected a known field"},
      {"unknown_link", [](nlohmann::json& j) { j["other_node"]["bw"] = 1; }, "other_node.bw"},
      {"newer", [](nlohmann::json& j) { j["version"] = 5; }, "version: expected at most 1"},
      {"format", [](nlohmann::json& j) { j["format"] = "x"; }, "format"},
      {"nic", [](nlohmann::json& j) { j["gpus_per_nic"] = 3; }, "gpus_per_nic"},
      {"link_type", [](nlohmann::json& j) { j["same_node"] = 5; }, "same_node: expected an object"},
      {"not_object", [](nlohmann::json& j) { j = nlohmann::json::array(); }, "(top level)"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name);
    nlohmann::json j = full_cluster();
    b.mutate(j);
    const std::string path = write(dir, std::string(b.name) + ".json", j);
    try {
      load_cluster(path);
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(b.needle), std::string::npos) << msg;
    }
  }
  std::ofstream(dir.path("m.json")) << "{\"nodes\": ";
  EXPECT_THROW(load_cluster(dir.path("m.json")), InputError);
  EXPECT_THROW(load_cluster(dir.path("missing.json")), InputError);
}

// Through the CLI: a bad cluster file is one line and exit 2, and no layout is written.
TEST(Cluster, CliRefusesBadClusterFile) {
  ScratchDir dir;
  nlohmann::json j = full_cluster();
  j["hbm_GBps"] = 0;
  const std::string path = write(dir, "bad.json", j);
  const std::string trace = dir.path("t.h5");
  write_trace(trace, test::make_trace());
  const auto r = test::run_epbench({"place", "--algo", "balanced", "--trace", trace, "--cluster",
                                    path, "-o", dir.path("out.json")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(path + ": hbm_GBps"), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(dir.path("out.json")));
}

// "base" is a preset name: a file naming itself as its base used to recurse until the stack
// overflowed (seen while writing the fuzzer, which cannot guess its own file's path).
TEST(Cluster, BaseMustBeAPreset) {
  ScratchDir dir;
  const std::string self = dir.path("self.json");
  write(dir, "self.json", {{"base", self}});
  try {
    load_cluster(self);
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(self + ": base: expected a cluster preset (h800"),
              std::string::npos)
        << e.what();
  }
}

// Found by fuzz/cluster.cpp: a number too large for a double is nlohmann's out_of_range, not
// its parse_error, and escaped the reader.
TEST(Cluster, FuzzRegressions) {
  test::expect_clean_error(
      "cluster-number-overflow.json", [](const std::string& p) { load_cluster(p); },
      "(JSON): expected valid JSON");
  // The harness's invariant (finite speeds): 1e308 TFLOP/s overflowed to an infinite speed.
  test::expect_clean_error(
      "cluster-tflops-overflow.json", [](const std::string& p) { load_cluster(p); },
      "gpu_tflops: expected a positive number, got 1e+308");
}

}  // namespace
}  // namespace epbench
