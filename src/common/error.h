#pragma once
// Errors epbench reports to its user. An InputError is bad input (a file, a field, an option):
// the CLI prints its message on one line and exits with status 2.
#include <stdexcept>
#include <string>

namespace epbench {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "FILE: FIELD: expected WHAT, got GOT" -- the one shape every input error takes.
std::string field_error(const std::string& file, const std::string& field,
                        const std::string& expected, const std::string& got = "");

[[noreturn]] void throw_field_error(const std::string& file, const std::string& field,
                                    const std::string& expected, const std::string& got = "");

}  // namespace epbench
