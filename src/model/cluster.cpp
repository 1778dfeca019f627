// Cluster presets and JSON cluster files (docs/cluster.md gives the sources of every number).
#include "model/cluster.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/text_file.h"
#include "costmodel/profile.h"

namespace epbench {

namespace {

constexpr double kGB = 1e9;
constexpr double kUs = 1e-6;
constexpr double kTera = 1e12;

// KV capacity: an 80 GB GPU keeping about 35 GB for the KV cache after its expert and
// attention weights; at DeepSeek-V3's 70 KB of MLA cache per token (61 layers x 576 values x
// 2 bytes) that is about 500k tokens. A rough default: override it per model in a JSON file.
constexpr double kKvTokens80GB = 500000;

ClusterSpec make_preset(const std::string& name, double nvlink_GBps, double nic_GBps, double tflops,
                        double hbm_GBps, const std::string& source) {
  ClusterSpec c;
  c.name = name;
  c.nodes = 1;
  c.gpus_per_node = 8;
  c.kv_capacity_tokens = kKvTokens80GB;
  // Latencies: NVLink all-to-all messages start in a few microseconds, RDMA over InfiniBand
  // in a few more (NCCL-tests small-message times); both are estimates, see docs/cluster.md.
  c.same_node = {3 * kUs, nvlink_GBps * kGB};
  c.other_node = {6 * kUs, nic_GBps * kGB};
  c.gpus_per_nic = 1;
  c.gpu_flops = tflops * kTera;
  c.hbm_bandwidth_Bps = hbm_GBps * kGB;
  // Scheduling, sampling and kernel launches between layers with CUDA graphs: about half a
  // millisecond per step in SGLang and vLLM decode traces; an estimate, calibrate it.
  c.step_overhead_s = 500 * kUs;
  c.source = source;
  return c;
}

std::vector<ClusterSpec> presets() {
  return {
      make_preset("h800", 160, 50, 989, 3350,
                  "DeepSeek-V3 report sec. 3.2.1 (NVLink 160 GB/s, IB 50 GB/s per GPU); "
                  "H100/H800 SXM datasheet (989 TFLOP/s bf16 dense, 3.35 TB/s HBM3)"),
      make_preset("h100", 450, 50, 989, 3350,
                  "NVIDIA H100 SXM datasheet (NVLink 900 GB/s both ways, 989 TFLOP/s bf16 "
                  "dense, 3.35 TB/s); DGX H100 ConnectX-7 400 Gb/s per GPU"),
      make_preset("a100", 300, 25, 312, 2039,
                  "NVIDIA A100 80GB SXM datasheet (NVLink 600 GB/s both ways, 312 TFLOP/s "
                  "bf16 dense, 2.04 TB/s); DGX A100 HDR 200 Gb/s per GPU"),
  };
}

// Reads JSON fields one by one so every mistake names its field.
class FieldReader {
 public:
  FieldReader(const nlohmann::json& j, std::string file, std::string prefix = "")
      : j_(j), file_(std::move(file)), prefix_(std::move(prefix)) {}

  bool has(const char* key) const { return j_.contains(key); }
  // The value times `scale` (its unit in SI): positive, and finite once scaled, so 1e308
  // TFLOP/s is refused rather than becoming an infinite speed.
  double positive(const char* key, double fallback, bool required, double scale = 1) const {
    if (!has(key)) return missing(key, fallback, required, "a positive number") * scale;
    const auto& v = j_.at(key);
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>() * scale))
      throw_field_error(file_, prefix_ + key, "a positive number", v.dump());
    return v.get<double>() * scale;
  }
  // Optional; 0 allowed (a term that vanishes).
  double non_negative(const char* key, double fallback, double scale) const {
    if (!has(key)) return fallback * scale;
    const auto& v = j_.at(key);
    if (!v.is_number() || !(v.get<double>() >= 0) || !std::isfinite(v.get<double>() * scale))
      throw_field_error(file_, prefix_ + key, "a number >= 0", v.dump());
    return v.get<double>() * scale;
  }
  int integer(const char* key, int fallback, bool required, int min) const {
    const std::string want = "an integer >= " + std::to_string(min);
    if (!has(key)) return static_cast<int>(missing(key, fallback, required, want));
    const auto& v = j_.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > (1 << 20))
      throw_field_error(file_, prefix_ + key, want, v.dump());
    return v.get<int>();
  }
  std::string text(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const auto& v = j_.at(key);
    if (!v.is_string()) throw_field_error(file_, prefix_ + key, "a string", v.dump());
    return v.get<std::string>();
  }
  FieldReader object(const char* key) const {
    if (has(key) && !j_.at(key).is_object())
      throw_field_error(file_, prefix_ + key, "an object", j_.at(key).dump());
    return FieldReader(has(key) ? j_.at(key) : empty(), file_, prefix_ + key + ".");
  }
  void only(std::initializer_list<const char*> keys) const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      const std::string& k = it.key();
      bool known = false;
      for (const char* key : keys) known = known || k == key;
      if (!known)
        throw_field_error(file_, prefix_ + k, "a known field (docs/cluster.md)", "an unknown one");
    }
  }

 private:
  static const nlohmann::json& empty() {
    static const nlohmann::json e = nlohmann::json::object();
    return e;
  }
  double missing(const char* key, double fallback, bool required, const std::string& w) const {
    if (required) throw_field_error(file_, prefix_ + key, w, "nothing (field missing)");
    return fallback;
  }
  const nlohmann::json& j_;
  std::string file_, prefix_;
};

// "base" names a preset, never another file: a file naming itself would recurse forever.
ClusterSpec base_preset(const std::string& name, const std::string& file) {
  for (const auto& c : presets())
    if (c.name == name) return c;
  std::string known;
  for (const auto& n : cluster_preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw_field_error(file, "base", "a cluster preset (" + known + ")", "'" + name + "'");
}

LinkSpec read_link(const FieldReader& r, const LinkSpec& base, bool required) {
  r.only({"latency_us", "bandwidth_GBps"});
  LinkSpec l;
  l.latency_s = r.positive("latency_us", base.latency_s / kUs, required, kUs);
  l.bandwidth_Bps = r.positive("bandwidth_GBps", base.bandwidth_Bps / kGB, required, kGB);
  return l;
}

// "profile": a path relative to the JSON file's directory (docs/profile.md).
void read_profile_field(const FieldReader& r, const std::string& file, ClusterSpec& c) {
  const std::string rel = r.text("profile", "");
  if (rel.empty()) return;
  const size_t slash = file.rfind('/');
  c.profile_path =
      rel[0] == '/' || slash == std::string::npos ? rel : file.substr(0, slash + 1) + rel;
  c.profile = std::make_shared<const Profile>(read_profile(c.profile_path));
}

// Without "base" every field describing hardware is required; with it, fields override.
ClusterSpec cluster_from_json(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) throw_field_error(file, "(top level)", "a JSON object", j.type_name());
  FieldReader r(j, file);
  r.only({"format", "version", "name", "base", "nodes", "gpus_per_node", "slots_per_gpu",
          "kv_capacity_tokens", "same_node", "other_node", "gpus_per_nic", "gpu_tflops", "hbm_GBps",
          "bytes_per_activation", "bytes_per_weight", "hbm_GB", "step_overhead_us", "source",
          "profile"});
  if (r.text("format", "epbench-cluster") != "epbench-cluster")
    throw_field_error(file, "format", "\"epbench-cluster\"", j.at("format").dump());
  if (r.integer("version", 1, false, 1) > 1)
    throw_field_error(file, "version", "at most 1 (this epbench)", j.at("version").dump());
  const bool based = r.has("base");
  const ClusterSpec base = based ? base_preset(r.text("base", ""), file) : ClusterSpec{};
  const bool req = !based;
  ClusterSpec c = base;
  c.name = r.text("name", file);
  c.nodes = r.integer("nodes", base.nodes, false, 1);
  c.gpus_per_node = r.integer("gpus_per_node", base.gpus_per_node, req, 1);
  c.slots_per_gpu = r.integer("slots_per_gpu", base.slots_per_gpu, false, 0);
  c.kv_capacity_tokens = r.positive("kv_capacity_tokens", base.kv_capacity_tokens, req);
  c.same_node = read_link(r.object("same_node"), base.same_node, req);
  c.other_node = read_link(r.object("other_node"), base.other_node, req);
  c.gpus_per_nic = r.integer("gpus_per_nic", base.gpus_per_nic, false, 1);
  c.gpu_flops = r.positive("gpu_tflops", base.gpu_flops / kTera, req, kTera);
  c.hbm_bandwidth_Bps = r.positive("hbm_GBps", base.hbm_bandwidth_Bps / kGB, req, kGB);
  c.bytes_per_activation = r.integer("bytes_per_activation", base.bytes_per_activation, false, 1);
  c.bytes_per_weight = r.integer("bytes_per_weight", base.bytes_per_weight, false, 1);
  c.hbm_bytes = r.positive("hbm_GB", base.hbm_bytes / kGB, false, kGB);
  c.step_overhead_s = r.non_negative("step_overhead_us", base.step_overhead_s / kUs, kUs);
  c.source = r.text("source", based ? base.source + " (via " + file + ")" : file);
  read_profile_field(r, file, c);
  if (c.gpus_per_node % c.gpus_per_nic != 0)
    throw_field_error(file, "gpus_per_nic", "a divisor of gpus_per_node",
                      std::to_string(c.gpus_per_nic));
  return c;
}

}  // namespace

std::vector<std::string> cluster_preset_names() {
  std::vector<std::string> names;
  for (const auto& c : presets()) names.push_back(c.name);
  return names;
}

bool is_cluster_preset(const std::string& name) {
  const std::vector<std::string> names = cluster_preset_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

ClusterSpec load_cluster(const std::string& name_or_path) {
  for (const auto& c : presets())
    if (c.name == name_or_path) return c;
  if (name_or_path.find('/') == std::string::npos &&
      name_or_path.find(".json") == std::string::npos) {
    std::string known;
    for (const auto& n : cluster_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw OptionError("cluster", "unknown cluster preset '" + name_or_path +
                                     "', expected one of: " + known + " or a JSON file path");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(
        read_text_file(name_or_path, "cluster file (and no preset of that name)"));
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number too large for a double (1e309).
    throw_field_error(name_or_path, "(JSON)", "valid JSON", e.what());
  }
  return cluster_from_json(j, name_or_path);
}

ClusterSpec shape_cluster(ClusterSpec c, int nodes, int gpus_per_node, int slots_per_gpu,
                          int num_experts) {
  if (nodes > 0) c.nodes = nodes;
  if (gpus_per_node > 0) c.gpus_per_node = gpus_per_node;
  if (slots_per_gpu > 0) c.slots_per_gpu = slots_per_gpu;
  // A node resized by --gpus-per-node no longer splits evenly over its NICs: give each GPU
  // its own, the common case (DGX) and the one that needs no extra option.
  if (c.gpus_per_node % c.gpus_per_nic != 0) c.gpus_per_nic = 1;
  const int gpus = c.num_gpus();
  // Slots 0 means "just enough": ceil(E / G), no spare slot unless G does not divide E.
  if (c.slots_per_gpu <= 0) c.slots_per_gpu = (num_experts + gpus - 1) / gpus;
  if (static_cast<int64_t>(gpus) * c.slots_per_gpu < num_experts)
    throw OptionError("slots", std::to_string(c.nodes) + " nodes x " +
                                   std::to_string(c.gpus_per_node) + " GPUs x " +
                                   std::to_string(c.slots_per_gpu) +
                                   " slots cannot hold the model's " + std::to_string(num_experts) +
                                   " experts (expected nodes x gpus-per-node x "
                                   "slots >= " +
                                   std::to_string(num_experts) + ")");
  return c;
}

}  // namespace epbench
