#pragma once
// Shared by the harnesses: inputs become files (the readers take paths), and the one rule
// every harness checks -- a parse succeeds or throws InputError -- lives here.
#include <cstddef>
#include <cstdint>
#include <string>

namespace epbench::fuzz {

// A file named `name` in this process's own temporary directory (made once, removed at
// exit), holding `size` bytes of `data`; returns its path. Rewritten on every call.
std::string write_input(const std::string& name, const uint8_t* data, size_t size);

// A path in the same directory for a reader's output (the importers write a trace).
std::string scratch_path(const std::string& name);

// Runs `parse`. InputError is the clean outcome for bad input and is swallowed; anything
// else escapes, and an exception leaving LLVMFuzzerTestOneInput aborts: libFuzzer reports
// it as a crash with the input.
template <class F>
void expect_parse_or_input_error(F&& parse);

// With EPBENCH_FUZZ_VERBOSE set, prints the InputError message (or "accepted" for nullptr):
// running a harness on one input then shows what the reader made of it.
void note_input_error(const char* message);

// Aborts with `what` when an invariant of a successful parse does not hold (assert() would
// vanish under NDEBUG, which the RelWithDebInfo fuzz build defines).
void require(bool ok, const char* what);

// Aborts when an HDF5 file or object is still open: every reader closes what it opened
// (h5::Handle), on success and on error alike.
void require_hdf5_closed();

// Runs `check` on something a reader accepted: an InputError now means the reader let
// through what its own validation refuses, so it aborts instead of counting as clean.
template <class F>
void require_accepted(const char* what, F&& check);

}  // namespace epbench::fuzz

#include "common/error.h"

template <class F>
void epbench::fuzz::expect_parse_or_input_error(F&& parse) {
  try {
    parse();
  } catch (const epbench::InputError& e) {
    // Bad input, reported cleanly: what the readers promise.
    note_input_error(e.what());
    return;
  }
  note_input_error(nullptr);
}

template <class F>
void epbench::fuzz::require_accepted(const char* what, F&& check) {
  try {
    check();
  } catch (const epbench::InputError& e) {
    require(false, (std::string(what) + ": " + e.what()).c_str());
  }
}
