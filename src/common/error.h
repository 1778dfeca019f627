#pragma once
// Errors epbench reports to its user. An InputError is bad input (a file, a field, an option):
// the CLI prints its message on one line and exits with status 2.
#include <functional>
#include <stdexcept>
#include <string>

namespace epbench {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad value of one field of a library call's options. The library names the field as its
// options spell it (`batch_sizes`), since it never saw a command line; the CLI, which knows
// the flag that set it, says the flag (`--batch-sizes`) through user_message.
class OptionError : public InputError {
 public:
  OptionError(const std::string& field, const std::string& problem)
      : InputError(field + ": " + problem), field_(field), problem_(problem) {}
  const std::string& field() const noexcept { return field_; }
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string field_, problem_;
};

// How the user spelled a field (the CLI installs one that returns its flag); by default the
// field itself.
using FieldNamer = std::function<std::string(const std::string& field)>;
void set_field_namer(FieldNamer namer);

// The message to show the user: what() with an OptionError's field as the user spelled it.
std::string user_message(const std::exception& e);

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
