#include "fuzz_util.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/h5.h"

namespace epbench::fuzz {

namespace {

// One directory per process, so parallel fuzzers (-jobs) do not share files.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    // HDF5 prints a stack for every failed call otherwise; the readers report errors.
    h5::silence_errors();
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/epbench-fuzz-XXXXXX";
    if (!mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const TempDir& temp_dir() {
  static const TempDir dir;
  return dir;
}

}  // namespace

std::string scratch_path(const std::string& name) {
  return (temp_dir().path / name).string();
}

std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_path(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

void require_hdf5_closed() {
  require(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "HDF5 handles left open");
}

void note_input_error(const char* message) {
  static const bool verbose = std::getenv("EPBENCH_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "%s\n", message ? message : "accepted");
}

void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

}  // namespace epbench::fuzz
