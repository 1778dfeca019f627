#pragma once
// A one-line progress indicator on stderr for long operations, shown only when stderr is a
// terminal (never in logs, pipes or CI) and redrawn at most ten times a second; a total of
// 0 shows nothing.
#include <chrono>
#include <cstdint>
#include <string>

namespace epbench {

class Progress {
 public:
  Progress(std::string label, uint64_t total, std::string unit = "tokens");
  ~Progress();
  void update(uint64_t done);

 private:
  std::string label_, unit_;
  uint64_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace epbench
