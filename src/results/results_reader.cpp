#include "results/results_reader.h"

#include <hdf5.h>

#include <algorithm>
#include <functional>

#include "common/error.h"
#include "results/schema_names.h"

namespace epbench {

namespace attr = results::attr;
namespace dset = results::dset;

namespace {

void check_root(hid_t f, const std::string& path) {
  const auto format = h5::read_attr_string(f, attr::format);
  if (format != std::string(results::kFormat))
    throw_field_error(
        path, attr::format,
        "\"" + std::string(results::kFormat) + "\" (a results file of evaluate or run)",
        format ? "\"" + *format + "\"" : "nothing");
  const auto version = h5::read_attr_int(f, attr::version);
  if (version != int64_t{results::kVersion})
    throw_field_error(path, attr::version, std::to_string(results::kVersion),
                      version ? std::to_string(*version) : "nothing");
}

std::vector<std::string> group_names(hid_t f, const std::string& path) {
  const std::string field = std::string("/") + results::kRunsGroup;
  if (!h5::exists(f, results::kRunsGroup))
    throw_field_error(path, field, "a group of runs", "nothing");
  const h5::Group runs = h5::open_group(f, results::kRunsGroup);
  H5G_info_t info{};
  if (H5Gget_info(runs.id(), &info) < 0 || info.nlinks == 0)
    throw_field_error(path, field, "at least one run", "none");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n =
        H5Lget_name_by_idx(runs.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n <= 0) throw_field_error(path, field, "named runs", "an unreadable link");
    std::string name(static_cast<size_t>(n), '\0');
    H5Lget_name_by_idx(runs.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                       H5P_DEFAULT);
    const hid_t obj = H5Oopen(runs.id(), name.c_str(), H5P_DEFAULT);
    const bool is_group = obj >= 0 && H5Iget_type(obj) == H5I_GROUP;
    if (obj >= 0) H5Oclose(obj);
    if (!is_group)
      throw_field_error(path, field + "/" + name, "a group (one configuration)", "another object");
    names.push_back(name);
  }
  return names;
}

template <class T>
std::vector<T> read_rows_of(const h5::Dataset& d, size_t cells) {
  std::vector<T> out(cells);
  const auto dims = h5::dims(d.id());
  if (!dims.empty() && dims[0] > 0) h5::read_rows<T>(d.id(), 0, dims[0], out.data());
  return out;
}

}  // namespace

ResultsReader::ResultsReader(const std::string& path)
    : path_(path), file_(std::make_unique<h5::File>(h5::open_file(path))) {
  check_root(file_->id(), path_);
  names_ = group_names(file_->id(), path_);
}

ResultsReader::~ResultsReader() = default;

std::string ResultsReader::tool() const {
  return h5::read_attr_string(file_->id(), attr::tool).value_or("");
}

ConfigReader ResultsReader::config(const std::string& name) const {
  return ConfigReader(path_, name,
                      h5::open_group(file_->id(), std::string(results::kRunsGroup) + "/" + name));
}

ConfigReader::ConfigReader(const std::string& path, const std::string& name, h5::Group group)
    : path_(path), name_(name), group_(std::move(group)) {}

std::string ConfigReader::field(const std::string& what) const {
  return std::string("/") + results::kRunsGroup + "/" + name_ + "/" + what;
}

std::optional<std::string> ConfigReader::string_attr(const char* a) const {
  return h5::read_attr_string(group_.id(), a);
}

int ConfigReader::int_attr(const char* a, int min) const {
  const auto v = h5::read_attr_int(group_.id(), a);
  if (!v || *v < min || *v > (int64_t{1} << 30))
    throw_field_error(path_, field(a), "an integer >= " + std::to_string(min),
                      v ? std::to_string(*v) : "nothing (attribute missing)");
  return static_cast<int>(*v);
}

h5::Dataset ConfigReader::open_cube(const std::string& name, size_t gpus, bool floating,
                                    const std::vector<hsize_t>* like) const {
  const std::string where = field(name);
  if (!h5::exists(group_.id(), name))
    throw_field_error(path_, where, "a [steps, layers, GPUs] dataset", "nothing (missing)");
  h5::Dataset d = h5::open_dataset(group_.id(), name);
  if (floating ? !h5::stored_type_is<double>(d.id()) : !h5::stored_type_is<uint64_t>(d.id()))
    throw_field_error(path_, where, floating ? "floating-point seconds" : "integer counts",
                      "another type");
  const auto dims = h5::dims(d.id());
  if (dims.size() != 3 || dims[2] != gpus || dims[1] > (hsize_t{1} << 20) ||
      (like && dims != *like))
    throw_field_error(path_, where,
                      "[steps, layers, " + std::to_string(gpus) +
                          " GPUs] like time/dispatch (nodes x gpus_per_node)",
                      "another shape");
  // A chunked dataset can declare 2^40 steps in a few bytes of file; read_all would allocate
  // and fill them all. One that stores nothing declares cells it does not hold.
  const bool nonempty = std::all_of(dims.begin(), dims.end(), [](hsize_t n) { return n > 0; });
  if (nonempty && H5Dget_storage_size(d.id()) == 0)
    throw_field_error(path_, where, "a dataset that stores its values",
                      "[" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) + ", " +
                          std::to_string(dims[2]) + "] declared, nothing stored");
  return d;
}

bool ConfigReader::has_cubes(const std::string& prefix) const {
  return h5::exists(group_.id(), prefix + dset::time_dispatch);
}

// One [S] series of the same length as steps/time (S given; 0: any, returned).
template <class T>
std::vector<T> read_series_of(const h5::Group& g, const std::string& name, size_t* steps,
                              const std::function<std::string(const std::string&)>& field,
                              const std::string& path) {
  if (!h5::exists(g.id(), name))
    throw_field_error(path, field(name), "a [steps] dataset", "nothing");
  const h5::Dataset d = h5::open_dataset(g.id(), name);
  const auto dims = h5::dims(d.id());
  constexpr hsize_t kMaxSteps = hsize_t{1} << 28;
  if (dims.size() != 1 || dims[0] > kMaxSteps || (*steps && dims[0] != *steps))
    throw_field_error(path, field(name), "[steps] like steps/time, at most 2^28", "another shape");
  if (dims[0] > 0 && H5Dget_storage_size(d.id()) == 0)
    throw_field_error(path, field(name), "a dataset that stores its values", "nothing stored");
  *steps = dims[0];
  return read_rows_of<T>(d, dims[0]);
}

void ConfigReader::read_series(const std::string& prefix, ConfigResult& r) const {
  const auto f = [this](const std::string& what) { return field(what); };
  size_t S = 0;
  r.step_time = read_series_of<double>(group_, prefix + dset::steps_time, &S, f, path_);
  r.steps = S;
  r.step_lower_bound =
      read_series_of<double>(group_, prefix + dset::steps_lower_bound, &S, f, path_);
  r.step_tokens = read_series_of<uint32_t>(group_, prefix + dset::steps_tokens, &S, f, path_);
  r.step_prefill = read_series_of<uint8_t>(group_, prefix + dset::steps_prefill, &S, f, path_);
  if (!h5::exists(group_.id(), prefix + dset::steps_dispatch)) return;  // run files: no phases
  r.step_dispatch = read_series_of<double>(group_, prefix + dset::steps_dispatch, &S, f, path_);
  r.step_compute = read_series_of<double>(group_, prefix + dset::steps_compute, &S, f, path_);
  r.step_combine = read_series_of<double>(group_, prefix + dset::steps_combine, &S, f, path_);
}

void ConfigReader::read_totals(ConfigResult& r) const {
  if (!h5::exists(group_.id(), dset::totals_tokens_per_gpu)) return;
  const std::vector<hsize_t> want{r.layers, r.gpus};
  if (r.gpus > (size_t{1} << 28) || r.layers * r.gpus > (size_t{1} << 28))
    throw_field_error(path_, field(dset::totals_tokens_per_gpu), "at most 2^28 cells",
                      std::to_string(r.layers) + " layers x " + std::to_string(r.gpus) + " GPUs");
  const auto read = [&](const char* name) {
    if (!h5::exists(group_.id(), name))
      throw_field_error(path_, field(name), "[layers, GPUs] totals", "nothing");
    const h5::Dataset d = h5::open_dataset(group_.id(), name);
    if (h5::dims(d.id()) != want || !h5::stored_type_is<uint64_t>(d.id()))
      throw_field_error(path_, field(name),
                        "integer [" + std::to_string(r.layers) + ", " + std::to_string(r.gpus) +
                            "] like tokens/per_expert's layers",
                        "another shape or type");
    return read_rows_of<uint64_t>(d, r.layers * r.gpus);
  };
  r.total_pairs = read(dset::totals_tokens_per_gpu);
  r.total_bytes_same_node = read(dset::totals_bytes_same_node);
  r.total_bytes_other_node = read(dset::totals_bytes_other_node);
}

ConfigResult ConfigReader::read_all(const std::string& prefix) const {
  ConfigResult r;
  r.name = name_;
  r.layout_path = string_attr(attr::layout).value_or("");
  r.algorithm = string_attr(attr::algorithm).value_or("");
  r.batch_size = int_attr(attr::batch_size, 0);
  const size_t gpus = static_cast<size_t>(int_attr(attr::nodes, 1)) *
                      static_cast<size_t>(int_attr(attr::gpus_per_node, 1));
  if (!has_cubes(prefix) && h5::exists(group_.id(), prefix + dset::steps_time)) {
    read_series(prefix, r);  // evaluate without --cubes
    r.gpus = gpus;
    if (h5::exists(group_.id(), dset::tokens_per_expert)) {
      const auto dims = h5::dims(h5::open_dataset(group_.id(), dset::tokens_per_expert).id());
      if (dims.size() == 2 && dims[0] <= (hsize_t{1} << 20)) r.layers = dims[0];
    }
    read_totals(r);
    return r;
  }
  const h5::Dataset d = open_cube(prefix + dset::time_dispatch, gpus, true);
  const auto dims = h5::dims(d.id());
  r.steps = dims[0], r.layers = dims[1], r.gpus = dims[2];
  const auto cube = [&](const char* name, bool floating) {
    return open_cube(prefix + name, gpus, floating, &dims);
  };
  // Each factor is bounded before the product, which could otherwise wrap around to a small
  // count (2^63 + 1 steps of 2 GPUs: 2 cells) and the read overrun it.
  constexpr size_t kMaxCells = size_t{1} << 28;
  const bool too_many = r.steps > kMaxCells || r.layers > kMaxCells || r.gpus > kMaxCells ||
                        r.steps * r.layers > kMaxCells || r.steps * r.layers * r.gpus > kMaxCells;
  if (too_many)
    throw_field_error(path_, field(prefix + dset::time_dispatch),
                      "at most 2^28 cells to read at once (read larger runs chunk by chunk)",
                      "[" + std::to_string(r.steps) + ", " + std::to_string(r.layers) + ", " +
                          std::to_string(r.gpus) + "]");
  const size_t cells = r.steps * r.layers * r.gpus;
  r.dispatch = read_rows_of<double>(d, cells);
  r.compute = read_rows_of<double>(cube(dset::time_compute, true), cells);
  r.combine = read_rows_of<double>(cube(dset::time_combine, true), cells);
  r.bytes_same_node = read_rows_of<uint64_t>(cube(dset::bytes_same_node, false), cells);
  r.bytes_other_node = read_rows_of<uint64_t>(cube(dset::bytes_other_node, false), cells);
  r.tokens_per_gpu = read_rows_of<uint32_t>(cube(dset::tokens_per_gpu, false), cells);
  r.experts_active = read_rows_of<uint32_t>(cube(dset::experts_active, false), cells);
  if (h5::exists(group_.id(), prefix + dset::steps_time)) {
    const size_t steps = r.steps;
    read_series(prefix, r);
    if (r.steps != steps)
      throw_field_error(path_, field(prefix + dset::steps_time),
                        std::to_string(steps) + " steps like time/dispatch", "another length");
    read_totals(r);
  }
  return r;
}

}  // namespace epbench
