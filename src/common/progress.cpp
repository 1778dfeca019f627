#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace epbench {

Progress::Progress(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(total > 0 && isatty(STDERR_FILENO) == 1),  // total 0: nothing to show
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() {
  if (enabled_) std::fprintf(stderr, "\r\033[K");
}

void Progress::update(uint64_t done) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(100) && done < total_) return;
  last_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double pct = total_ ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0;
  std::fprintf(stderr, "\r\033[K%s: %5.1f%%  %llu/%llu %s  %.1f s", label_.c_str(), pct,
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
               unit_.c_str(), secs);
  std::fflush(stderr);
}

}  // namespace epbench
