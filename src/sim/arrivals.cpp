// Arrival processes for `epbench serve`: open-loop times from a seed, and the Azure LLM
// inference trace CSV (docs/arrivals.md).
#include "sim/arrivals.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <optional>
#include <random>
#include <string_view>

#include "common/error.h"
#include "common/named.h"
#include "common/strprintf.h"

namespace epbench {

namespace {

constexpr Named<ArrivalKind> kKinds[] = {{"poisson", ArrivalKind::kPoisson},
                                         {"gamma", ArrivalKind::kGamma},
                                         {"closed", ArrivalKind::kClosed},
                                         {"csv", ArrivalKind::kCsv}};

// Beyond these the gamma shape 1/cv^2 overflows or underflows to nonsense.
constexpr double kMinCv = 1e-6, kMaxCv = 1e6;

std::string num(double v) {
  return strprintf("%g", v);
}

void require_finite_above(double v, double lo, bool inclusive, const char* field,
                          const std::string& expected) {
  const bool ok = std::isfinite(v) && (inclusive ? v >= lo : v > lo);
  if (!ok) throw OptionError(field, "expected " + expected + ", got " + num(v));
}

void check_open(const ArrivalSpec& s) {
  require_finite_above(s.rate, 0, false, "rate", "an arrival rate > 0 (requests/s)");
  if (s.kind == ArrivalKind::kGamma && !(s.cv >= kMinCv && s.cv <= kMaxCv))
    throw OptionError("cv", "expected a coefficient of variation > 0 (in [" + num(kMinCv) + ", " +
                                num(kMaxCv) + "]), got " + num(s.cv));
  if (s.requests == 0) throw OptionError("requests", "expected a number of requests > 0, got 0");
}

void check_closed(const ArrivalSpec& s) {
  if (s.users < 1)
    throw OptionError("users", "expected at least 1 user, got " + std::to_string(s.users));
  require_finite_above(s.think_s, 0, true, "think", "a think time >= 0 (seconds)");
}

// --- Random variates. std::mt19937_64 is specified exactly by the standard; the std::
// distributions are not, so the transforms are written here and the times are the same on
// every platform.

// Uniform in (0, 1] from 53 bits: never 0, so log() and pow() stay finite.
double uniform_open0(std::mt19937_64& g) {
  return (static_cast<double>(g() >> 11) + 1.0) * 0x1.0p-53;
}

// Exponential of mean 1 by inverse transform.
double unit_exponential(std::mt19937_64& g) {
  return -std::log(uniform_open0(g));
}

// Box-Muller, one of the pair (simpler than caching the other; speed does not matter here).
double standard_normal(std::mt19937_64& g) {
  const double r = std::sqrt(-2.0 * std::log(uniform_open0(g)));
  return r * std::cos(2.0 * std::numbers::pi * uniform_open0(g));
}

// Gamma(shape, scale 1): Marsaglia and Tsang (2000) for shape >= 1; below 1, through
// Gamma(shape + 1) * U^(1/shape), their boost for small shapes.
double unit_gamma(std::mt19937_64& g, double shape) {
  if (shape < 1) return unit_gamma(g, shape + 1) * std::pow(uniform_open0(g), 1.0 / shape);
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0, v = 0;
    do {
      x = standard_normal(g);
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = uniform_open0(g);
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;  // the cheap squeeze
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

// --- The Azure CSV.

constexpr const char* kColumns[] = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"};
constexpr size_t kTime = 0, kContext = 1, kGenerated = 2;

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

bool blank(std::string_view s) {
  return trim(s).empty();
}

// A field as written, for a message: quoted, shortened, control bytes shown as '?' so the
// message stays on one line.
std::string quoted(std::string_view s) {
  std::string out(s.substr(0, 40));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  if (s.size() > 40) out += "...";
  return "'" + out + "'";
}

void split(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  for (;;) {
    const size_t comma = line.find(',');
    fields.push_back(trim(line.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    line.remove_prefix(comma + 1);
  }
}

// A point in time: whole seconds and nanoseconds, both exact in a double. A number of seconds
// keeps its value in `whole` (nanos 0); compared as a pair, so date-times keep full precision.
struct Instant {
  double whole = 0;
  double nanos = 0;
};

bool before(const Instant& a, const Instant& b) {
  return a.whole < b.whole || (a.whole == b.whole && a.nanos < b.nanos);
}

double seconds_between(const Instant& from, const Instant& to) {
  return (to.whole - from.whole) + (to.nanos - from.nanos) * 1e-9;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
// days_from_civil), so day, month and year boundaries need no special case.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Reads exactly n decimal digits at s[pos].
bool digits(std::string_view s, size_t& pos, int n, int& value) {
  value = 0;
  for (int i = 0; i < n; ++i, ++pos) {
    if (pos >= s.size() || s[pos] < '0' || s[pos] > '9') return false;
    value = value * 10 + (s[pos] - '0');
  }
  return true;
}

bool literal(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

// ".fff..." (any number of digits, at least one): nanoseconds, digits past the 9th dropped.
bool fraction(std::string_view s, size_t& pos, int64_t& nanos) {
  nanos = 0;
  if (!literal(s, pos, '.')) return true;
  int n = 0;
  for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n)
    if (n < 9) nanos = nanos * 10 + (s[pos] - '0');
  for (int i = n; i < 9; ++i) nanos *= 10;
  return n > 0;
}

// "Z", "+HH:MM", "+HHMM" or nothing (UTC): the offset in seconds east of UTC.
bool utc_offset(std::string_view s, size_t& pos, int64_t& offset) {
  offset = 0;
  if (pos == s.size() || literal(s, pos, 'Z')) return true;
  const char sign = s[pos];
  if (sign != '+' && sign != '-') return false;
  ++pos;
  int h = 0, m = 0;
  if (!digits(s, pos, 2, h)) return false;
  literal(s, pos, ':');
  if (!digits(s, pos, 2, m) || h > 23 || m > 59) return false;
  offset = (sign == '-' ? -1 : 1) * (h * 3600 + m * 60);
  return true;
}

// "YYYY-MM-DD HH:MM:SS[.frac][Z|+HH:MM]" ('T' for the space also accepted).
std::optional<Instant> parse_date_time(std::string_view s) {
  size_t p = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  int64_t nanos = 0, offset = 0;
  if (!digits(s, p, 4, y) || !literal(s, p, '-') || !digits(s, p, 2, mo) || !literal(s, p, '-') ||
      !digits(s, p, 2, d))
    return std::nullopt;
  if (!literal(s, p, ' ') && !literal(s, p, 'T')) return std::nullopt;
  if (!digits(s, p, 2, h) || !literal(s, p, ':') || !digits(s, p, 2, mi) || !literal(s, p, ':') ||
      !digits(s, p, 2, sec) || !fraction(s, p, nanos) || !utc_offset(s, p, offset) || p != s.size())
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
    return std::nullopt;
  const int64_t whole = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  return Instant{static_cast<double>(whole), static_cast<double>(nanos)};
}

// A date-time starts with a 4-digit year and a dash; anything else is read as seconds.
bool looks_like_date(std::string_view s) {
  if (s.size() < 5 || s[4] != '-') return false;
  return std::all_of(s.begin(), s.begin() + 4, [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<double> parse_seconds(std::string_view s) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < 0)
    return std::nullopt;
  return v;
}

class CsvReader {
 public:
  explicit CsvReader(const std::string& path) : path_(path) {}
  std::vector<Arrival> read();

 private:
  std::string where() const { return path_ + ":" + std::to_string(line_); }
  void parse_header(std::string_view text);
  void parse_row(std::string_view text);
  Instant parse_time(std::string_view text);
  uint32_t parse_tokens(std::string_view text, size_t column) const;

  std::string path_;
  uint64_t line_ = 0;
  uint64_t header_line_ = 0;  // 0 until the header is read
  size_t num_fields_ = 0;     // fields per row, as in the header
  size_t index_[3] = {};      // where kColumns[i] is in a row
  std::vector<std::string_view> fields_;
  enum class TimeFormat { kUnknown, kSeconds, kDateTime } format_ = TimeFormat::kUnknown;
  Instant first_, prev_;
  std::string prev_text_;  // the previous row's TIMESTAMP as written, for a message
  std::vector<Arrival> out_;
};

std::vector<Arrival> CsvReader::read() {
  std::error_code ec;
  std::ifstream in;
  if (std::filesystem::is_regular_file(path_, ec)) in.open(path_, std::ios::binary);
  if (!in.is_open()) throw InputError(path_ + ": cannot open for reading");
  std::string text;
  while (std::getline(in, text)) {
    ++line_;
    if (line_ == 1 && text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);  // a UTF-8 BOM
    if (blank(text)) continue;
    if (header_line_ == 0)
      parse_header(text);
    else
      parse_row(text);
  }
  if (in.bad()) throw InputError(path_ + ": cannot read the file");
  if (header_line_ == 0)
    throw InputError(path_ + ":1: expected the columns TIMESTAMP, ContextTokens, " +
                     "GeneratedTokens; got an empty file");
  if (out_.empty())
    throw_field_error(path_ + ":" + std::to_string(header_line_), "rows",
                      "at least one request after the header", "none");
  return std::move(out_);
}

void CsvReader::parse_header(std::string_view text) {
  header_line_ = line_;
  split(text, fields_);
  num_fields_ = fields_.size();
  std::string missing;
  for (size_t c = 0; c < 3; ++c) {
    const auto first = std::find(fields_.begin(), fields_.end(), kColumns[c]);
    if (first == fields_.end()) {
      missing += (missing.empty() ? "" : ", ") + std::string(kColumns[c]);
      continue;
    }
    index_[c] = static_cast<size_t>(first - fields_.begin());
    const auto again = std::find(first + 1, fields_.end(), kColumns[c]);
    if (again != fields_.end())
      throw_field_error(where(), kColumns[c], "the column once in the header",
                        "columns " + std::to_string(index_[c] + 1) + " and " +
                            std::to_string(again - fields_.begin() + 1));
  }
  if (!missing.empty())
    throw InputError(where() + ": expected the columns TIMESTAMP, ContextTokens, " +
                     "GeneratedTokens; missing " + missing);
}

void CsvReader::parse_row(std::string_view text) {
  split(text, fields_);
  if (fields_.size() != num_fields_)
    throw_field_error(where(), "row",
                      std::to_string(num_fields_) + " comma-separated fields as in the header",
                      std::to_string(fields_.size()));
  const Instant t = parse_time(fields_[index_[kTime]]);
  Arrival a;
  a.prompt_tokens = parse_tokens(fields_[index_[kContext]], kContext);
  a.output_tokens = parse_tokens(fields_[index_[kGenerated]], kGenerated);
  // Rounding in the subtraction must not reorder equal-or-later times.
  a.time = out_.empty() ? 0.0 : std::max(seconds_between(first_, t), out_.back().time);
  out_.push_back(a);
}

Instant CsvReader::parse_time(std::string_view text) {
  const bool date = looks_like_date(text);
  if (format_ == TimeFormat::kUnknown)
    format_ = date ? TimeFormat::kDateTime : TimeFormat::kSeconds;
  const bool want_date = format_ == TimeFormat::kDateTime;
  // One format per file: the first row's.
  const std::string expected = std::string(want_date ? "a date-time YYYY-MM-DD HH:MM:SS[.fraction]"
                                                     : "a number of seconds >= 0") +
                               (out_.empty() ? "" : " as in the first row");
  std::optional<Instant> t;
  if (date && want_date) t = parse_date_time(text);
  if (!date && !want_date)
    if (const auto s = parse_seconds(text)) t = Instant{*s, 0};
  if (!t) throw_field_error(where(), kColumns[kTime], expected, quoted(text));
  if (out_.empty()) first_ = *t;
  if (!out_.empty() && before(*t, prev_))
    throw_field_error(where(), kColumns[kTime],
                      "a time not before the previous row's (" + prev_text_ + ")", quoted(text));
  prev_ = *t;
  prev_text_.assign(text.substr(0, 40));
  return *t;
}

uint32_t CsvReader::parse_tokens(std::string_view text, size_t column) const {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  const bool integer = !text.empty() && ec == std::errc() && end == text.data() + text.size();
  if (integer && v >= 1 && v <= UINT32_MAX) return static_cast<uint32_t>(v);
  const bool too_large = ec == std::errc::result_out_of_range || (integer && v > UINT32_MAX);
  throw_field_error(where(), kColumns[column],
                    too_large ? "an integer >= 1 that fits 32 bits" : "an integer >= 1",
                    quoted(text));
}

}  // namespace

std::vector<std::string> arrival_names() {
  return names_of<ArrivalKind>(kKinds);
}

ArrivalKind parse_arrival(const std::string& name) {
  return parse_named<ArrivalKind>(kKinds, name, "arrival");
}

const char* arrival_name(ArrivalKind k) {
  return name_of<ArrivalKind>(kKinds, k);
}

void check_arrival_spec(const ArrivalSpec& s) {
  switch (s.kind) {
    case ArrivalKind::kPoisson:
    case ArrivalKind::kGamma:
      check_open(s);
      return;
    case ArrivalKind::kClosed:
      check_closed(s);
      return;
    case ArrivalKind::kCsv:
      if (s.csv.empty())
        throw OptionError("arrival-file", "expected the path of an arrivals CSV file, got none");
      return;
  }
}

std::vector<Arrival> open_arrivals(const ArrivalSpec& s) {
  if (s.kind != ArrivalKind::kPoisson && s.kind != ArrivalKind::kGamma)
    throw OptionError("arrival", "expected poisson or gamma for generated arrivals, got '" +
                                     std::string(arrival_name(s.kind)) + "'");
  check_arrival_spec(s);
  std::mt19937_64 g(s.seed);
  const double mean = 1.0 / s.rate, shape = 1.0 / (s.cv * s.cv);
  std::vector<Arrival> out;
  // Not all of a mistaken huge count at once: that fails while generating, as it would anyway.
  out.reserve(std::min<uint64_t>(s.requests, uint64_t{1} << 24));
  double t = 0;
  for (uint64_t i = 0; i < s.requests; ++i) {
    // Gamma(shape, 1) / shape has mean 1 and CV 1/sqrt(shape) = cv.
    const double unit =
        s.kind == ArrivalKind::kPoisson ? unit_exponential(g) : unit_gamma(g, shape) / shape;
    t += mean * unit;
    out.push_back({t, 0, 0});
  }
  return out;
}

std::vector<Arrival> read_arrivals_csv(const std::string& path) {
  return CsvReader(path).read();
}

}  // namespace epbench
