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

// Ends the command with `code` when the message was printed already (by rank 0 of an MPI
// command, so N ranks do not print N copies): main returns the code and prints nothing.
class SilentExit : public std::exception {
 public:
  explicit SilentExit(int code) : code_(code) {}
  int code() const { return code_; }
  const char* what() const noexcept override { return "exit without message"; }

 private:
  int code_;
};

// "FILE: FIELD: expected WHAT, got GOT" -- the one shape every input error takes.
std::string field_error(const std::string& file, const std::string& field,
                        const std::string& expected, const std::string& got = "");

[[noreturn]] void throw_field_error(const std::string& file, const std::string& field,
                                    const std::string& expected, const std::string& got = "");

}  // namespace epbench
