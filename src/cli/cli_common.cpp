#include "cli/cli_common.h"

#include <charconv>

#include "common/error.h"

namespace epbench::cli {

namespace {
std::string g_command_line;

uint64_t parse_u64(std::string_view s, const std::string& option, const std::string& text) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size())
    throw InputError(option + ": expected A:B with non-negative integers A < B, got '" + text +
                     "'");
  return v;
}
}  // namespace

const std::string& command_line() { return g_command_line; }

void set_command_line(int argc, char** argv) {
  g_command_line.clear();
  for (int i = 0; i < argc; ++i) g_command_line += (i ? " " : "") + std::string(argv[i]);
}

std::pair<uint64_t, uint64_t> parse_range(const std::string& text, const std::string& option) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos)
    throw InputError(option + ": expected A:B with non-negative integers A < B, got '" + text +
                     "'");
  const uint64_t a = parse_u64(std::string_view(text).substr(0, colon), option, text);
  const uint64_t b = parse_u64(std::string_view(text).substr(colon + 1), option, text);
  if (a >= b)
    throw InputError(option + ": expected A:B with A < B, got '" + text + "'");
  return {a, b};
}

}  // namespace epbench::cli
