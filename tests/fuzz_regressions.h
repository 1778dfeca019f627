#pragma once
// Inputs a fuzzer once crashed a reader with (tests/data/fuzz-regressions/, docs/fuzzing.md):
// each must now give a clean InputError naming the file and the field.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "common/error.h"

namespace epbench::test {

inline std::string fuzz_regression(const std::string& name) {
  return std::string(EPBENCH_TEST_DATA) + "/fuzz-regressions/" + name;
}

// `read` is called on the regression input `name`; its InputError must start with the path
// (and a colon) and contain `needle` (the field and what was expected).
inline void expect_clean_error(const std::string& name,
                               const std::function<void(const std::string&)>& read,
                               const std::string& needle) {
  SCOPED_TRACE(name);
  const std::string path = fuzz_regression(name);
  try {
    read(path);
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ":", 0), 0u) << msg;  // "PATH: field" or "PATH:LINE: field"
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

}  // namespace epbench::test
