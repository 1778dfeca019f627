// Layout files: JSON conversion and the invariants every layout must keep (DESIGN.md).
#include "placement/layout.h"

#include <algorithm>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/text_file.h"
#include "model/cluster.h"
#include "model/presets.h"

namespace epbench {

namespace {

std::string num(int64_t v) {
  return std::to_string(v);
}

void validate_gpu(const std::vector<uint16_t>& slots, const Layout& lay, const std::string& file,
                  const std::string& field, std::vector<bool>& seen) {
  if (static_cast<int>(slots.size()) > lay.slots_per_gpu)
    throw_field_error(file, field, "at most " + num(lay.slots_per_gpu) + " slots (slots_per_gpu)",
                      num(static_cast<int64_t>(slots.size())));
  for (uint16_t e : slots) {
    if (is_empty_slot(e)) continue;
    if (e >= lay.num_experts)
      throw_field_error(file, field,
                        "expert ids in [0, " + num(lay.num_experts) + ") or -1 (empty)", num(e));
    seen[e] = true;
  }
}

void validate_layer(const LayerPlacement& layer, const Layout& lay, const std::string& file, int l,
                    const char* key) {
  const std::string field = "layers[" + num(l) + "]";
  const int gpus = lay.num_gpus();
  if (static_cast<int>(layer.gpu_experts.size()) != gpus)
    throw_field_error(file, field + "." + key, num(gpus) + " GPUs (nodes x gpus_per_node)",
                      num(static_cast<int64_t>(layer.gpu_experts.size())));
  std::vector<bool> seen(static_cast<size_t>(lay.num_experts), false);
  for (int g = 0; g < gpus; ++g)
    validate_gpu(layer.gpu_experts[static_cast<size_t>(g)], lay, file,
                 field + "." + key + "[" + num(g) + "]", seen);
  for (int e = 0; e < lay.num_experts; ++e)
    if (!seen[static_cast<size_t>(e)])
      throw_field_error(file, field,
                        "every expert 0.." + num(lay.num_experts - 1) + " at least once",
                        "expert " + num(e) + " missing");
}

void validate_all(const Layout& layout, const std::string& file, const char* key) {
  if (layout.num_experts < 1 || layout.num_experts > kMaxLayoutExperts)
    throw_field_error(file, "num_experts", "in [1, " + num(kMaxLayoutExperts) + "]",
                      num(layout.num_experts));
  if (layout.nodes < 1 || layout.gpus_per_node < 1 || layout.slots_per_gpu < 1)
    throw_field_error(file, "cluster", "nodes, gpus_per_node and slots_per_gpu >= 1");
  if (static_cast<int>(layout.layers.size()) != layout.num_layers)
    throw_field_error(file, "layers", num(layout.num_layers) + " layers (num_layers)",
                      num(static_cast<int64_t>(layout.layers.size())));
  for (int l = 0; l < layout.num_layers; ++l)
    validate_layer(layout.layers[static_cast<size_t>(l)], layout, file, l, key);
}

// Typed getters over a JSON object: every mistake names the file and the field.
const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& file,
                            const std::string& prefix = "") {
  if (!j.contains(key)) throw_field_error(file, prefix + key, "a value", "nothing (missing)");
  return j.at(key);
}

int get_int(const nlohmann::json& j, const char* key, const std::string& file, int min,
            const std::string& prefix = "") {
  const auto& v = field(j, key, file, prefix);
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > (1 << 24))
    throw_field_error(file, prefix + key, "an integer >= " + num(min), v.dump());
  return v.get<int>();
}

std::string get_string(const nlohmann::json& j, const char* key, const std::string& file) {
  const auto& v = field(j, key, file);
  if (!v.is_string()) throw_field_error(file, key, "a string", v.dump());
  return v.get<std::string>();
}

// Returns the file's version.
int read_header(const nlohmann::json& j, const std::string& file, Layout& lay) {
  if (!j.is_object()) throw_field_error(file, "(top level)", "a JSON object", j.type_name());
  if (get_string(j, "format", file) != kLayoutFormat)
    throw_field_error(file, "format", std::string("\"") + kLayoutFormat + "\"",
                      j.at("format").dump());
  const int version = get_int(j, "version", file, 1);
  if (version > kLayoutVersion)
    throw_field_error(file, "version", "at most " + num(kLayoutVersion) + " (this epbench)",
                      j.at("version").dump() + " (a newer epbench wrote it)");
  lay.model = get_string(j, "model", file);
  lay.num_layers = get_int(j, "num_layers", file, 1);
  lay.num_experts = get_int(j, "num_experts", file, 1);
  if (lay.num_experts > kMaxLayoutExperts)
    throw_field_error(file, "num_experts", "at most " + num(kMaxLayoutExperts),
                      num(lay.num_experts));
  const auto& c = field(j, "cluster", file);
  if (!c.is_object()) throw_field_error(file, "cluster", "an object", c.dump());
  lay.nodes = get_int(c, "nodes", file, 1, "cluster.");
  lay.gpus_per_node = get_int(c, "gpus_per_node", file, 1, "cluster.");
  lay.slots_per_gpu = get_int(c, "slots_per_gpu", file, 1, "cluster.");
  lay.algorithm = get_string(j, "algorithm", file);
  if (j.contains("params")) {
    if (!j.at("params").is_object()) throw_field_error(file, "params", "an object");
    lay.params = j.at("params");
  }
  return version;
}

void read_fit(const nlohmann::json& j, const std::string& file, Layout& lay) {
  if (!j.contains("fitted_on")) return;
  const auto& f = j.at("fitted_on");
  const auto& t = f.is_object() && f.contains("tokens") ? f.at("tokens") : nlohmann::json();
  if (!f.is_object() || !f.contains("trace") || !f.at("trace").is_string() || !t.is_array() ||
      t.size() != 2 || !t[0].is_number_unsigned() || !t[1].is_number_unsigned() ||
      t[0].get<uint64_t>() > t[1].get<uint64_t>())
    throw_field_error(file, "fitted_on", "{\"trace\": PATH, \"tokens\": [A, B]} with A <= B",
                      f.dump());
  lay.fit_trace = f.at("trace").get<std::string>();
  lay.fit_begin = t[0].get<uint64_t>();
  lay.fit_end = t[1].get<uint64_t>();
}

// Version 1: a GPU's distinct experts. Version 2: exactly slots_per_gpu slots, -1 empty.
std::vector<uint16_t> read_gpu(const nlohmann::json& v, const std::string& file,
                               const std::string& name, int version, int slots) {
  const char* what =
      version == 1 ? "an array of expert ids" : "an array of slots (expert ids, -1 empty)";
  if (!v.is_array()) throw_field_error(file, name, what, v.dump());
  if (version >= 2 && static_cast<int>(v.size()) != slots)
    throw_field_error(file, name, num(slots) + " slots (slots_per_gpu)",
                      num(static_cast<int64_t>(v.size())));
  const int64_t lowest = version == 1 ? 0 : -1;
  std::vector<uint16_t> out;
  for (const auto& e : v) {
    if (!e.is_number_integer() || e.get<int64_t>() < lowest || e.get<int64_t>() >= kEmptySlot)
      throw_field_error(
          file, name, version == 1 ? "expert ids (integers >= 0)" : "expert ids >= 0 or -1 (empty)",
          e.dump());
    const auto id = e.get<int64_t>() < 0 ? kEmptySlot : static_cast<uint16_t>(e.get<int64_t>());
    // Version 1 listed distinct experts; a repeat there is a mistake, not a second replica.
    if (version == 1 && std::find(out.begin(), out.end(), id) != out.end())
      throw_field_error(file, name, "each expert at most once per GPU (version 1)",
                        "expert " + num(id) + " twice");
    out.push_back(id);
  }
  return out;
}

void read_layers(const nlohmann::json& j, const std::string& file, int version, Layout& lay) {
  const char* key = version == 1 ? "gpu_experts" : "gpu_slots";
  const auto& layers = field(j, "layers", file);
  if (!layers.is_array() || static_cast<int>(layers.size()) != lay.num_layers)
    throw_field_error(file, "layers", "an array of " + num(lay.num_layers) + " layers",
                      layers.is_array() ? num(static_cast<int64_t>(layers.size()))
                                        : std::string(layers.type_name()));
  for (size_t l = 0; l < layers.size(); ++l) {
    const std::string name = "layers[" + num(static_cast<int64_t>(l)) + "]." + key;
    const auto& g =
        layers[l].is_object() && layers[l].contains(key) ? layers[l].at(key) : nlohmann::json();
    if (!g.is_array()) throw_field_error(file, name, "an array of GPUs");
    LayerPlacement p;
    for (size_t i = 0; i < g.size(); ++i)
      p.gpu_experts.push_back(read_gpu(g[i], file, name + "[" + num(static_cast<int64_t>(i)) + "]",
                                       version, lay.slots_per_gpu));
    lay.layers.push_back(std::move(p));
  }
}

// Version 2's slot rows: every GPU padded to slots_per_gpu, empty slots as -1.
nlohmann::json slot_rows(const LayerPlacement& layer, int slots) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& gpu : layer.gpu_experts) {
    nlohmann::json row = nlohmann::json::array();
    for (int i = 0; i < slots; ++i) {
      const uint16_t e =
          i < static_cast<int>(gpu.size()) ? gpu[static_cast<size_t>(i)] : kEmptySlot;
      row.push_back(is_empty_slot(e) ? -1 : static_cast<int>(e));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

void trim_empty_slots(Layout& layout) {
  for (auto& layer : layout.layers)
    for (auto& gpu : layer.gpu_experts)
      while (!gpu.empty() && is_empty_slot(gpu.back())) gpu.pop_back();
}

namespace {

// One GPU's experts, in a form that ignores which slot holds which.
std::vector<uint16_t> held_experts(std::vector<uint16_t> slots) {
  slots.erase(std::remove_if(slots.begin(), slots.end(), is_empty_slot), slots.end());
  std::sort(slots.begin(), slots.end());
  return slots;
}

}  // namespace

bool same_placement(const Layout& a, const Layout& b) {
  if (a.layers.size() != b.layers.size()) return false;
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const auto& ga = a.layers[l].gpu_experts;
    const auto& gb = b.layers[l].gpu_experts;
    if (ga.size() != gb.size()) return false;
    for (size_t g = 0; g < ga.size(); ++g)
      if (held_experts(ga[g]) != held_experts(gb[g])) return false;
  }
  return true;
}

size_t occupied_slots(const LayerPlacement& layer) {
  size_t n = 0;
  for (const auto& gpu : layer.gpu_experts)
    n += static_cast<size_t>(
        std::count_if(gpu.begin(), gpu.end(), [](uint16_t e) { return !is_empty_slot(e); }));
  return n;
}

ReplicaMap replica_map(const LayerPlacement& layer, int num_experts) {
  ReplicaMap m;
  m.replicas.resize(static_cast<size_t>(num_experts));
  for (size_t g = 0; g < layer.gpu_experts.size(); ++g)
    for (uint16_t e : layer.gpu_experts[g])
      if (e < num_experts) m.replicas[e].push_back(static_cast<int>(g));
  return m;
}

void validate_layout(const Layout& layout, const std::string& file) {
  validate_all(layout, file, "gpu_slots");
}

void require_layout_matches(const Layout& layout, const ModelPreset& model,
                            const ClusterSpec& cluster, const std::string& file) {
  if (layout.model != model.name)
    throw_field_error(file, "model", "'" + model.name + "'", "'" + layout.model + "'");
  if (layout.num_layers != model.num_layers || layout.num_experts != model.num_experts)
    throw_field_error(file, "num_layers/num_experts",
                      num(model.num_layers) + " layers x " + num(model.num_experts) +
                          " experts for " + model.name,
                      num(layout.num_layers) + " x " + num(layout.num_experts));
  auto shape = [](int n, int g, int s) {
    return num(n) + " nodes x " + num(g) + " GPUs x " + num(s) + " slots";
  };
  const bool slots_ok = cluster.slots_per_gpu <= 0 || cluster.slots_per_gpu == layout.slots_per_gpu;
  if (layout.nodes != cluster.nodes || layout.gpus_per_node != cluster.gpus_per_node || !slots_ok)
    throw_field_error(
        file, "cluster",
        shape(cluster.nodes, cluster.gpus_per_node, cluster.slots_per_gpu) + " (the cluster)",
        shape(layout.nodes, layout.gpus_per_node, layout.slots_per_gpu));
}

nlohmann::json layout_to_json(const Layout& layout) {
  nlohmann::json j;
  j["format"] = kLayoutFormat;
  j["version"] = kLayoutVersion;
  j["model"] = layout.model;
  j["num_layers"] = layout.num_layers;
  j["num_experts"] = layout.num_experts;
  j["cluster"] = {{"nodes", layout.nodes},
                  {"gpus_per_node", layout.gpus_per_node},
                  {"slots_per_gpu", layout.slots_per_gpu}};
  j["algorithm"] = layout.algorithm;
  j["params"] = layout.params.is_object() ? layout.params : nlohmann::json::object();
  if (!layout.fit_trace.empty())
    j["fitted_on"] = {{"trace", layout.fit_trace}, {"tokens", {layout.fit_begin, layout.fit_end}}};
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : layout.layers)
    layers.push_back({{"gpu_slots", slot_rows(l, layout.slots_per_gpu)}});
  j["layers"] = std::move(layers);
  return j;
}

Layout layout_from_json(const nlohmann::json& j, const std::string& file) {
  Layout lay;
  const int version = read_header(j, file, lay);
  read_fit(j, file, lay);
  read_layers(j, file, version, lay);
  validate_all(lay, file, version == 1 ? "gpu_experts" : "gpu_slots");
  trim_empty_slots(lay);
  return lay;
}

Layout read_layout(const std::string& path) {
  const std::string text = read_text_file(path, "layout file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number too large for a double (1e309).
    throw_field_error(path, "(JSON)", "valid JSON", e.what());
  }
  return layout_from_json(j, path);
}

// Header fields in DESIGN.md's order (nlohmann::json sorts keys), then one layer per line:
// diffs stay readable and files small (dump(2) of DeepSeek-V3's 58 x 32 x 9 ids runs to
// thousands of lines).
void write_layout(const std::string& path, const Layout& layout) {
  const nlohmann::json j = layout_to_json(layout);
  nlohmann::ordered_json head;
  for (const char* key : {"format", "version", "model", "num_layers", "num_experts", "cluster",
                          "algorithm", "params", "fitted_on"})
    if (j.contains(key)) head[key] = nlohmann::ordered_json::parse(j.at(key).dump());
  std::string text = head.dump(1);
  text.erase(text.find_last_of('}'));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  text += ",\n \"layers\": [\n";
  const auto& layers = j.at("layers");
  for (size_t l = 0; l < layers.size(); ++l)
    text += "  " + layers[l].dump() + (l + 1 < layers.size() ? ",\n" : "\n");
  text += " ]\n}\n";
  write_text_file(path, text);
}

}  // namespace epbench
