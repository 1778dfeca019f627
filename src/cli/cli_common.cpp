#include "cli/cli_common.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "common/error.h"
#include "model/model_spec.h"
#include "routing/routing.h"

namespace epbench::cli {

namespace {
std::string g_command_line;

uint64_t parse_u64(std::string_view s, const std::string& option, const std::string& text) {
  return parse_uint(s, option, "A:B with non-negative integers A < B", text);
}
// One side of a token range: tokens, or percent of `total` when it ends in '%'.
uint64_t parse_range_end(std::string_view s, uint64_t total, uint64_t empty_value,
                         const std::string& option, const std::string& text) {
  if (s.empty()) return empty_value;
  if (s.back() != '%') return parse_u64(s, option, text);
  const uint64_t pct = parse_u64(s.substr(0, s.size() - 1), option, text);
  if (pct > 100) throw InputError(option + ": expected percentages <= 100%, got '" + text + "'");
  return static_cast<uint64_t>(static_cast<long double>(total) * pct / 100);
}

}  // namespace

uint64_t parse_uint(std::string_view s, const std::string& option, const std::string& expected,
                    const std::string& text) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size())
    throw InputError(option + ": expected " + expected + ", got '" + text + "'");
  return v;
}

const std::string& command_line() {
  return g_command_line;
}

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
  if (a >= b) throw InputError(option + ": expected A:B with A < B, got '" + text + "'");
  return {a, b};
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    out.push_back(text.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

std::vector<std::string> split_distinct(const std::string& text, const std::string& option) {
  std::vector<std::string> out = split_commas(text);
  for (size_t i = 0; i < out.size(); ++i)
    if (!out[i].empty() && std::find(out.begin(), out.begin() + i, out[i]) != out.begin() + i)
      throw InputError(option + ": expected each item once, got '" + out[i] + "' twice in '" +
                       text + "'");
  return out;
}

std::vector<int> parse_positive_list(const std::string& text, const std::string& option) {
  const std::string expected = "distinct positive integers separated by commas";
  std::vector<int> out;
  for (const std::string& item : split_commas(text)) {
    const uint64_t v = parse_uint(item, option, expected, text);
    if (v < 1 || v > INT32_MAX || std::find(out.begin(), out.end(), v) != out.end())
      throw InputError(option + ": expected " + expected + ", got '" + text + "'");
    out.push_back(static_cast<int>(v));
  }
  return out;
}

std::pair<uint64_t, uint64_t> parse_token_range(const std::string& text, uint64_t total,
                                                const std::string& option) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos)
    throw InputError(option + ": expected A:B (tokens) or A%:B% (percent), got '" + text + "'");
  const std::string_view sv(text);
  const uint64_t a = parse_range_end(sv.substr(0, colon), total, 0, option, text);
  const uint64_t b = parse_range_end(sv.substr(colon + 1), total, total, option, text);
  if (b > total)
    throw InputError(option + ": range '" + text + "' ends beyond the trace's " +
                     std::to_string(total) + " tokens");
  if (a >= b) throw InputError(option + ": expected a non-empty range, got '" + text + "'");
  return {a, b};
}

}  // namespace epbench::cli

namespace epbench::cli {

namespace {

// A finite number spanning all of `s`; false otherwise.
bool parse_double(std::string_view s, double& v) {
  const std::string text(s);
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return false;
  char* end = nullptr;
  errno = 0;
  v = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && std::isfinite(v);
}

}  // namespace

std::vector<double> parse_positive_numbers(const std::string& text, const std::string& option) {
  std::vector<double> out;
  for (const std::string& item : split_commas(text)) {
    double v = 0;
    if (!parse_double(item, v) || !(v > 0))
      throw InputError(option + ": expected numbers > 0 separated by commas, got '" + text + "'");
    out.push_back(v);
  }
  return out;
}

double parse_duration(const std::string& text, const std::string& option) {
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"us", 1e-6}, {"ms", 1e-3}, {"s", 1.0}};
  const std::string expected = "a duration >= 0 with a unit (us, ms or s; e.g. 200ms)";
  for (const auto& [unit, scale] : kUnits) {
    if (text.size() <= unit.size() || !text.ends_with(unit)) continue;
    const std::string_view number(text.data(), text.size() - unit.size());
    if (unit == "s" && (number.ends_with("m") || number.ends_with("u"))) continue;
    double v = 0;
    if (!parse_double(number, v) || v < 0) break;
    return v * scale;
  }
  throw InputError(option + ": expected " + expected + ", got '" + text + "'");
}

std::string routing_help() {
  std::string s = "Routing policies, comma-separated:";
  for (const auto& name : routing_names()) s += " " + name + ",";
  s.back() = ' ';
  return s + "(docs/evaluate.md)";
}

std::pair<int, int> priced_sizes(const std::string& price_as, int d_model, int d_ff) {
  if (price_as.empty()) return {d_model, d_ff};
  const ModelPreset m = resolve_model(price_as, "--price-as");
  return {m.d_model, m.d_ff};
}

void add_price_as(CLI::App* cmd, std::string& target) {
  cmd->add_option("--price-as", target,
                  "Price the trace's experts at this model's sizes (preset or FILE.json; d_model "
                  "and d_ff only); default: the trace's own");
}

}  // namespace epbench::cli
