// Reads and writes profile files (docs/profile.md): HDF5, versioned, every field validated.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "common/atomic_file.h"
#include "common/error.h"
#include "costmodel/profile.h"
#include "io/h5.h"

namespace epbench {

namespace {

constexpr const char* kFormat = "epbench-profile";
// 2 added ffn/warm_time_s, cache_bytes_per_rank; 3 ffn/reuse_*; 4 a2a_cache_state, rows/*.
constexpr int64_t kVersion = 4;

template <class T>
void write_vec(hid_t f, const std::string& name, const std::vector<T>& v,
               std::vector<hsize_t> dims = {}) {
  if (dims.empty()) dims = {v.size()};
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  if (n != v.size())  // a caller's bug: the table and its grids disagree
    throw std::logic_error("profile " + name + ": " + std::to_string(v.size()) + " values for " +
                           std::to_string(n) + " cells");
  h5::write_all<T>(f, name, dims, v.data(), h5::DatasetOptions{{}, false, 0});
}

void write_root(hid_t f, const Profile& p) {
  h5::write_attr(f, "format", std::string(kFormat));
  h5::write_attr(f, "version", kVersion);
  h5::write_attr(f, "backend", p.backend);
  h5::write_attr(f, "dtype", p.dtype);
  h5::write_attr(f, "d_model", p.d_model);
  h5::write_attr(f, "d_ff", p.d_ff);
  h5::write_attr(f, "world_size", p.world_size);
  h5::write_attr(f, "ranks_per_node", p.ranks_per_node);
  h5::write_attr(f, "repetitions", p.repetitions);
  h5::write_attr(f, "weight_sets", p.weight_sets);
  h5::write_attr(f, "sweeps", p.sweeps);
  h5::write_attr(f, "cache_bytes_per_rank", p.cache_bytes_per_rank);
  h5::write_attr(f, "a2a_cache_state", p.a2a_cache_state);
  h5::write_attr(f, "hosts", p.hosts);
  h5::write_attr(f, "created_at", p.created_at);
  h5::write_attr(f, "command_line", p.command_line);
}

// Reads fields of one open file, each mistake named "FILE: FIELD: expected ..., got ...".
class ProfileReader {
 public:
  ProfileReader(const std::string& path) : path_(path) {
    try {
      f_ = h5::open_file(path);
    } catch (const InputError& e) {
      throw_field_error(path, "(file)", "a readable HDF5 epbench-profile file", e.what());
    }
  }
  hid_t id() const { return f_.id(); }
  std::string text(const char* name) const {
    const auto v = guarded([&] { return h5::read_attr_string(f_.id(), name); }, name);
    if (!v) throw_field_error(path_, name, "a string attribute", "nothing (missing)");
    return *v;
  }
  int64_t integer(const char* name, int64_t min) const {
    const auto v = guarded([&] { return h5::read_attr_int(f_.id(), name); }, name);
    if (!v || *v < min)
      throw_field_error(path_, name, "an integer attribute >= " + std::to_string(min),
                        v ? std::to_string(*v) : "nothing (missing)");
    return *v;
  }
  std::vector<std::string> strings(hid_t obj, const char* name, const std::string& field) const {
    const auto v = guarded([&] { return h5::read_attr_strings(obj, name); }, field);
    if (!v) throw_field_error(path_, field, "a string list attribute", "nothing (missing)");
    return *v;
  }
  // A dataset of `rows` x `cols` elements (rows 0: a 1-D one of any length >= 1).
  template <class T>
  std::vector<T> dataset(const std::string& name, size_t rows, size_t cols) const {
    if (!h5::exists(f_.id(), name))
      throw_field_error(path_, name, "a dataset", "nothing (missing)");
    return guarded(
        [&] {
          h5::Dataset d = h5::open_dataset(f_.id(), name);
          const std::vector<hsize_t> dims = h5::dims(d.id());
          const bool ok = rows == 0 ? dims.size() == 1 && dims[0] >= 1
                                    : dims.size() == 2 && dims[0] == rows && dims[1] == cols;
          if (!ok || !h5::stored_type_is<T>(d.id()))
            throw_field_error(path_, name,
                              rows == 0 ? "a non-empty 1-D dataset"
                                        : "a dataset of " + std::to_string(rows) + " x " +
                                              std::to_string(cols) + " numbers",
                              "another shape or type");
          return h5::read_all<T>(d.id());
        },
        name);
  }
  [[noreturn]] void bad(const std::string& field, const std::string& expected) const {
    throw_field_error(path_, field, expected);
  }

 private:
  // HDF5 failures below the field (a damaged dataset) still name the file and the field.
  template <class F>
  auto guarded(F f, const std::string& field) const -> decltype(f()) {
    try {
      return f();
    } catch (const InputError& e) {
      if (std::string(e.what()).rfind(path_ + ": " + field, 0) == 0) throw;
      throw_field_error(path_, field, "a readable value", e.what());
    }
  }
  std::string path_;
  h5::File f_;
};

void check_grid(const ProfileReader& r, const std::vector<int64_t>& g, const std::string& field) {
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i] < 1 || (i > 0 && g[i] <= g[i - 1])) r.bad(field, "ascending integers >= 1");
}

void check_times(const ProfileReader& r, const std::vector<double>& t, const std::string& field) {
  for (double v : t)
    if (!(v > 0) || !std::isfinite(v)) r.bad(field, "positive finite times in seconds");
}

void read_root(const ProfileReader& r, Profile& p) {
  if (r.text("format") != kFormat) r.bad("format", "\"epbench-profile\"");
  const int64_t version = r.integer("version", 1);
  if (version > kVersion) r.bad("version", "1 to 4 (this epbench)");
  p.backend = r.text("backend");
  p.dtype = r.text("dtype");
  p.d_model = r.integer("d_model", 1);
  p.d_ff = r.integer("d_ff", 1);
  p.world_size = r.integer("world_size", 1);
  p.ranks_per_node = r.integer("ranks_per_node", 1);
  p.repetitions = r.integer("repetitions", 1);
  p.weight_sets = r.integer("weight_sets", 1);
  if (h5::has_attr(r.id(), "sweeps")) p.sweeps = r.integer("sweeps", 1);  // added later: 1
  if (version >= 2) p.cache_bytes_per_rank = r.integer("cache_bytes_per_rank", 0);
  if (version >= 4) {
    p.a2a_cache_state = r.text("a2a_cache_state");
    if (p.a2a_cache_state != kCacheHot && p.a2a_cache_state != kCacheAfterExperts)
      r.bad("a2a_cache_state", "\"hot\" or \"after_experts\"");
  }
  p.hosts = r.strings(r.id(), "hosts", "hosts");
  p.created_at = r.text("created_at");
  p.command_line = r.text("command_line");
}

void read_turns(const ProfileReader& r, Profile& p) {
  if (!h5::exists(r.id(), "ffn/turns_ratio")) return;
  p.ffn_turns_ratio = r.dataset<double>("ffn/turns_ratio", 0, 0);
  if (static_cast<int64_t>(p.ffn_turns_ratio.size()) != ranks_per_host(p))
    r.bad("ffn/turns_ratio",
          "one ratio per rank of a host (" + std::to_string(ranks_per_host(p)) + ")");
  for (double v : p.ffn_turns_ratio)
    if (!(v > 0) || !std::isfinite(v)) r.bad("ffn/turns_ratio", "positive finite ratios");
}

// A 1-D table of times, one per entry of the grid `grid_name` (n entries).
std::vector<double> read_times_per(const ProfileReader& r, const std::string& name, size_t n,
                                   const std::string& grid_name) {
  std::vector<double> t = r.dataset<double>(name, 0, 0);
  if (t.size() != n) r.bad(name, "one time per " + grid_name + " entry");
  check_times(r, t, name);
  return t;
}

// The reuse curves (version 3), which price what the warm table measured: only beside it.
void read_reuse(const ProfileReader& r, Profile& p) {
  if (!h5::exists(r.id(), "ffn/reuse_bytes")) return;
  p.ffn_reuse_bytes = r.dataset<int64_t>("ffn/reuse_bytes", 0, 0);
  check_grid(r, p.ffn_reuse_bytes, "ffn/reuse_bytes");
  const size_t D = p.ffn_reuse_bytes.size();
  p.ffn_reuse_time_s = read_times_per(r, "ffn/reuse_time_s", D, "ffn/reuse_bytes");
  p.ffn_reuse_loop_time_s = read_times_per(r, "ffn/reuse_loop_time_s", D, "ffn/reuse_bytes");
}

void read_ffn(const ProfileReader& r, Profile& p) {
  p.ffn_tokens = r.dataset<int64_t>("ffn/tokens", 0, 0);
  p.ffn_active = r.dataset<int64_t>("ffn/active_experts", 0, 0);
  check_grid(r, p.ffn_tokens, "ffn/tokens");
  check_grid(r, p.ffn_active, "ffn/active_experts");
  p.ffn_time_s = r.dataset<double>("ffn/time_s", p.ffn_active.size(), p.ffn_tokens.size());
  check_times(r, p.ffn_time_s, "ffn/time_s");
  read_turns(r, p);
  if (!h5::exists(r.id(), "ffn/warm_time_s") && p.cache_bytes_per_rank == 0) return;  // version 1
  p.ffn_warm_time_s = read_times_per(r, "ffn/warm_time_s", p.ffn_tokens.size(), "ffn/tokens");
  read_reuse(r, p);
}

// The back-to-back tables (version 4), beside those timed after an expert phase.
void read_hot_a2a(const ProfileReader& r, Profile& p) {
  if (!h5::exists(r.id(), "a2a/hot_time_s")) return;
  p.a2a_hot_time_s = r.dataset<double>("a2a/hot_time_s", p.a2a_patterns.size(), p.a2a_bytes.size());
  check_times(r, p.a2a_hot_time_s, "a2a/hot_time_s");
  const std::vector<double> c = r.dataset<double>("count_exchange/hot_time_s", 0, 0);
  check_times(r, c, "count_exchange/hot_time_s");
  p.count_exchange_hot_s = c[0];
}

void read_a2a(const ProfileReader& r, Profile& p) {
  p.a2a_bytes = r.dataset<int64_t>("a2a/bytes", 0, 0);
  check_grid(r, p.a2a_bytes, "a2a/bytes");
  p.a2a_destinations = r.dataset<int64_t>("a2a/destinations", 0, 0);
  {
    h5::Dataset d = h5::open_dataset(r.id(), "a2a/destinations");
    p.a2a_patterns = r.strings(d.id(), "patterns", "a2a/destinations.patterns");
  }
  if (p.a2a_patterns.size() != p.a2a_destinations.size())
    r.bad("a2a/destinations.patterns", "one pattern name per destination count");
  for (size_t i = 0; i < p.a2a_patterns.size(); ++i) {
    const std::string& n = p.a2a_patterns[i];
    if (n != kPatternSameNode && n != kPatternOtherNode)
      r.bad("a2a/destinations.patterns", "same_node or other_node");
    if (p.a2a_destinations[i] < 1) r.bad("a2a/destinations", "integers >= 1");
  }
  p.a2a_time_s = r.dataset<double>("a2a/time_s", p.a2a_patterns.size(), p.a2a_bytes.size());
  check_times(r, p.a2a_time_s, "a2a/time_s");
  const std::vector<double> c = r.dataset<double>("count_exchange/time_s", 0, 0);
  check_times(r, c, "count_exchange/time_s");
  p.count_exchange_s = c[0];
  read_hot_a2a(r, p);
}

// The row moves (version 4, optional: a GPU backend's are not measured).
void read_row_moves(const ProfileReader& r, Profile& p) {
  if (!h5::exists(r.id(), "rows/count")) return;
  p.row_moves = r.dataset<int64_t>("rows/count", 0, 0);
  check_grid(r, p.row_moves, "rows/count");
  p.row_move_time_s = read_times_per(r, "rows/move_time_s", p.row_moves.size(), "rows/count");
  p.row_move_hot_time_s =
      read_times_per(r, "rows/hot_move_time_s", p.row_moves.size(), "rows/count");
}

}  // namespace

uint64_t expert_weight_bytes(const Profile& p) {
  const uint64_t value_bytes = p.backend == "cpu" || p.dtype == "fp32" ? 4 : 2;
  return 3 * static_cast<uint64_t>(p.d_model) * static_cast<uint64_t>(p.d_ff) * value_bytes;
}

int64_t ranks_per_host(const Profile& p) {
  return p.world_size / std::max<int64_t>(1, static_cast<int64_t>(p.hosts.size()));
}

void write_profile(const std::string& path, const Profile& p) {
  AtomicOutput out(path);
  {
    h5::File f = h5::create_memory_file(path);
    write_root(f.id(), p);
    h5::Group ffn = h5::create_group(f.id(), "ffn");
    write_vec(f.id(), "ffn/tokens", p.ffn_tokens);
    write_vec(f.id(), "ffn/active_experts", p.ffn_active);
    write_vec(f.id(), "ffn/time_s", p.ffn_time_s, {p.ffn_active.size(), p.ffn_tokens.size()});
    if (!p.ffn_warm_time_s.empty()) write_vec(f.id(), "ffn/warm_time_s", p.ffn_warm_time_s);
    if (!p.ffn_reuse_bytes.empty()) {
      write_vec(f.id(), "ffn/reuse_bytes", p.ffn_reuse_bytes);
      write_vec(f.id(), "ffn/reuse_time_s", p.ffn_reuse_time_s);
      write_vec(f.id(), "ffn/reuse_loop_time_s", p.ffn_reuse_loop_time_s);
    }
    if (!p.ffn_turns_ratio.empty()) write_vec(f.id(), "ffn/turns_ratio", p.ffn_turns_ratio);
    h5::Group a2a = h5::create_group(f.id(), "a2a");
    write_vec(f.id(), "a2a/bytes", p.a2a_bytes);
    write_vec(f.id(), "a2a/destinations", p.a2a_destinations);
    {
      h5::Dataset d = h5::open_dataset(f.id(), "a2a/destinations");
      h5::write_attr(d.id(), "patterns", p.a2a_patterns);
    }
    write_vec(f.id(), "a2a/time_s", p.a2a_time_s, {p.a2a_patterns.size(), p.a2a_bytes.size()});
    h5::Group count = h5::create_group(f.id(), "count_exchange");
    write_vec(f.id(), "count_exchange/time_s", std::vector<double>{p.count_exchange_s});
    if (!p.a2a_hot_time_s.empty()) {
      write_vec(f.id(), "a2a/hot_time_s", p.a2a_hot_time_s,
                {p.a2a_patterns.size(), p.a2a_bytes.size()});
      write_vec(f.id(), "count_exchange/hot_time_s", std::vector<double>{p.count_exchange_hot_s});
    }
    if (!p.row_moves.empty()) {
      h5::Group rows = h5::create_group(f.id(), "rows");
      write_vec(f.id(), "rows/count", p.row_moves);
      write_vec(f.id(), "rows/move_time_s", p.row_move_time_s);
      write_vec(f.id(), "rows/hot_move_time_s", p.row_move_hot_time_s);
    }
    h5::write_image(f.id(), out);
  }
  out.commit();
}

Profile read_profile(const std::string& path) {
  const ProfileReader r(path);
  Profile p;
  p.path = path;
  read_root(r, p);
  read_ffn(r, p);
  read_a2a(r, p);
  read_row_moves(r, p);
  return p;
}

void check_profile_shape(const Profile& p, int d_model, int d_ff, int world_size) {
  const auto same = [&](const char* field, int64_t have, int want) {
    if (have != want)
      throw_field_error(p.path, field, std::to_string(want) + " (this job's)",
                        std::to_string(have) + " (measured with another shape: profile again)");
  };
  same("d_model", p.d_model, d_model);
  same("d_ff", p.d_ff, d_ff);
  same("world_size", p.world_size, world_size);
}

void check_profile_backend(const Profile& p, const std::string& backend, const std::string& dtype) {
  if (p.backend != backend)
    throw_field_error(p.path, "backend", "'" + backend + "' (this job's)", "'" + p.backend + "'");
  if (p.dtype != dtype)
    throw_field_error(p.path, "dtype", "'" + dtype + "' (this job's)", "'" + p.dtype + "'");
}

}  // namespace epbench
