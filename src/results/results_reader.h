#pragma once
// Reading results files (docs/formats.md) by the names of results/schema.json: the root's
// format and version, the configurations under /runs, their attributes and their [S, L, G]
// cubes, each checked. Every problem is an InputError naming the file, the field and what was
// expected. Readers of results (calibrate, tests) go through here.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/h5.h"
#include "results/config_result.h"

namespace epbench {

class ConfigReader;

class ResultsReader {
 public:
  explicit ResultsReader(const std::string& path);  // checks format, version and /runs
  ~ResultsReader();
  ResultsReader(const ResultsReader&) = delete;
  ResultsReader& operator=(const ResultsReader&) = delete;

  const std::string& path() const { return path_; }
  std::string tool() const;  // evaluate or run
  const std::vector<std::string>& config_names() const { return names_; }
  ConfigReader config(const std::string& name) const;

 private:
  std::string path_;
  std::unique_ptr<h5::File> file_;
  std::vector<std::string> names_;
};

// One group under /runs.
class ConfigReader {
 public:
  ConfigReader(const std::string& path, const std::string& name, h5::Group group);

  const std::string& name() const { return name_; }
  std::optional<std::string> string_attr(const char* attr) const;
  // An integer attribute in [min, 2^30]; InputError otherwise.
  int int_attr(const char* attr, int min) const;
  // A dataset of shape [S, L, G] (G given; all of `like` when given) whose stored type is
  // floating-point (seconds) or integer (counts) as `floating` says.
  h5::Dataset open_cube(const std::string& dset, size_t gpus, bool floating,
                        const std::vector<hsize_t>* like = nullptr) const;
  // Every cube and step series under `prefix` ("" or "predicted/") into memory. Without
  // cubes (evaluate's default) the step series and the [L, G] totals instead.
  ConfigResult read_all(const std::string& prefix = "") const;
  bool has_cubes(const std::string& prefix = "") const;

  std::string field(const std::string& what) const;  // "/runs/<name>/<what>"

 private:
  void read_series(const std::string& prefix, ConfigResult& r) const;
  void read_totals(ConfigResult& r) const;
  std::string path_, name_;
  h5::Group group_;
};

}  // namespace epbench
