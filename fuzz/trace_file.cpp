// Fuzzes the HDF5 trace reader on raw bytes: the input is written as a file and opened with
// TraceReader. This mostly exercises libhdf5 itself, which hangs on some corrupt files, so
// scripts/fuzz.sh skips it by default (docs/fuzzing.md); trace_reader.cpp fuzzes the contents.
#include "trace_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = epbench::fuzz::write_input("trace.h5", data, size);
  epbench::fuzz::expect_parse_or_input_error([&] { epbench::fuzz::read_and_check_trace(path); });
  epbench::fuzz::require_hdf5_closed();
  return 0;
}
