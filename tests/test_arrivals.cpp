// Arrival processes of `epbench serve`: the open-loop generators' statistics and determinism,
// the spec checks, and the Azure trace CSV reader on good and bad files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <random>

#include "common/error.h"
#include "sim/arrivals.h"
#include "test_util.h"

namespace epbench {
namespace {

using test::ScratchDir;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// Mean and coefficient of variation of the inter-arrival times (the first from 0).
struct GapStats {
  double mean = 0, cv = 0;
};

GapStats gap_stats(const std::vector<Arrival>& a) {
  double sum = 0, sum2 = 0, prev = 0;
  for (const Arrival& x : a) {
    const double gap = x.time - prev;
    sum += gap, sum2 += gap * gap, prev = x.time;
  }
  const double n = static_cast<double>(a.size()), mean = sum / n;
  return {mean, std::sqrt(sum2 / n - mean * mean) / mean};
}

ArrivalSpec open_spec(ArrivalKind kind, double rate, double cv, uint64_t n, uint64_t seed = 1) {
  ArrivalSpec s;
  s.kind = kind, s.rate = rate, s.cv = cv, s.requests = n, s.seed = seed;
  return s;
}

TEST(Arrivals, NamesRoundTrip) {
  EXPECT_EQ(arrival_names(), (std::vector<std::string>{"poisson", "gamma", "closed", "csv"}));
  for (const std::string& n : arrival_names()) EXPECT_EQ(arrival_name(parse_arrival(n)), n);
  try {
    parse_arrival("uniform");
    ADD_FAILURE() << "accepted";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.field(), "arrival");
    EXPECT_THAT(e.what(), HasSubstr("poisson, gamma, closed, csv, got 'uniform'"));
  }
}

// check_arrival_spec on `s` throws an OptionError naming `field`.
void expect_bad_spec(const ArrivalSpec& s, const std::string& field) {
  SCOPED_TRACE(field);
  try {
    check_arrival_spec(s);
    ADD_FAILURE() << "accepted";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.field(), field) << e.what();
  }
}

TEST(Arrivals, SpecChecksNameTheField) {
  const ArrivalSpec poisson = open_spec(ArrivalKind::kPoisson, 10, 1, 100);
  EXPECT_NO_THROW(check_arrival_spec(poisson));
  for (double rate : {0.0, -1.0, kInf, kNan}) {
    ArrivalSpec s = poisson;
    s.rate = rate;
    expect_bad_spec(s, "rate");
  }
  ArrivalSpec s = poisson;
  s.requests = 0;
  expect_bad_spec(s, "requests");
  s = open_spec(ArrivalKind::kGamma, 10, 2, 100);
  EXPECT_NO_THROW(check_arrival_spec(s));
  for (double cv : {0.0, -0.5, kNan, kInf}) {
    s.cv = cv;
    expect_bad_spec(s, "cv");
  }
  s = ArrivalSpec{};
  s.kind = ArrivalKind::kClosed, s.users = 4, s.think_s = 0;
  EXPECT_NO_THROW(check_arrival_spec(s));  // rate and requests are not the closed loop's
  s.users = 0;
  expect_bad_spec(s, "users");
  s.users = 4, s.think_s = -0.1;
  expect_bad_spec(s, "think");
  s = ArrivalSpec{};
  s.kind = ArrivalKind::kCsv;
  expect_bad_spec(s, "arrival-file");
  s.csv = "trace.csv";
  EXPECT_NO_THROW(check_arrival_spec(s));
}

TEST(Arrivals, OpenArrivalsRefuseOtherKinds) {
  ArrivalSpec s;
  s.kind = ArrivalKind::kClosed, s.users = 2;
  EXPECT_THROW(open_arrivals(s), OptionError);
  EXPECT_THROW(open_arrivals(open_spec(ArrivalKind::kPoisson, 0, 1, 10)), OptionError);
}

TEST(Arrivals, PoissonMeanAndCv) {
  const auto a = open_arrivals(open_spec(ArrivalKind::kPoisson, 50, 1, 200000));
  ASSERT_EQ(a.size(), 200000u);
  const GapStats st = gap_stats(a);
  EXPECT_NEAR(st.mean, 1.0 / 50, 0.02 / 50);
  EXPECT_NEAR(st.cv, 1.0, 0.02);
  EXPECT_GT(a[0].time, 0.0);  // the first arrival is one gap after 0
  EXPECT_EQ(a[0].prompt_tokens, 0u);
  EXPECT_EQ(a[0].output_tokens, 0u);
}

TEST(Arrivals, GammaMeanAndCv) {
  for (double cv : {2.0, 0.5}) {
    SCOPED_TRACE(cv);
    const auto a = open_arrivals(open_spec(ArrivalKind::kGamma, 8, cv, 200000, 5));
    const GapStats st = gap_stats(a);
    EXPECT_NEAR(st.mean, 1.0 / 8, 0.03 / 8);
    EXPECT_NEAR(st.cv, cv, 0.03 * cv);
  }
}

TEST(Arrivals, DeterministicInSeedAndNonDecreasing) {
  for (ArrivalKind kind : {ArrivalKind::kPoisson, ArrivalKind::kGamma}) {
    SCOPED_TRACE(arrival_name(kind));
    const auto a = open_arrivals(open_spec(kind, 3, 3, 5000, 42));
    const auto b = open_arrivals(open_spec(kind, 3, 3, 5000, 42));
    const auto c = open_arrivals(open_spec(kind, 3, 3, 5000, 43));
    ASSERT_EQ(a.size(), b.size());
    size_t same_as_other_seed = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].time, b[i].time);
      same_as_other_seed += a[i].time == c[i].time;
      if (i > 0) {
        EXPECT_GE(a[i].time, a[i - 1].time);
      }
    }
    EXPECT_EQ(same_as_other_seed, 0u);
  }
}

// The first times for seed 1 at rate 1, so a change of generator shows (the sequence is
// part of the contract: results must be reproducible).
TEST(Arrivals, PoissonSequenceIsStable) {
  const auto a = open_arrivals(open_spec(ArrivalKind::kPoisson, 1, 1, 3));
  std::mt19937_64 g(1);
  double t = 0;
  for (const Arrival& x : a) {
    t += -std::log((static_cast<double>(g() >> 11) + 1.0) * 0x1.0p-53);
    EXPECT_DOUBLE_EQ(x.time, t);
  }
}

// --- CSV

std::string write_file(const ScratchDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::vector<Arrival> read_text(const std::string& text) {
  ScratchDir dir;
  return read_arrivals_csv(write_file(dir, "trace.csv", text));
}

TEST(ArrivalsCsv, ReadsTheSample) {
  const auto a = read_arrivals_csv(std::string(EPBENCH_TEST_DATA) + "/azure-sample.csv");
  ASSERT_EQ(a.size(), 20u);
  EXPECT_EQ(a[0].time, 0.0);
  EXPECT_EQ(a[0].prompt_tokens, 2135u);
  EXPECT_EQ(a[0].output_tokens, 667u);
  EXPECT_NEAR(a[1].time, 0.0247456, 1e-9);  // 46.7053356 - 46.6805900
  EXPECT_NEAR(a[19].time, 10.9378175, 1e-9);
  EXPECT_EQ(a[19].prompt_tokens, 5634u);
  EXPECT_EQ(a[19].output_tokens, 292u);
  for (size_t i = 1; i < a.size(); ++i) {
    EXPECT_GE(a[i].time, a[i - 1].time);
  }
}

TEST(ArrivalsCsv, NumericTimestamps) {
  const auto a =
      read_text("TIMESTAMP,ContextTokens,GeneratedTokens\n10.5,100,20\n10.5,7,1\n12,8,2\n");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].time, 0.0);
  EXPECT_EQ(a[1].time, 0.0);  // equal timestamps are fine
  EXPECT_EQ(a[2].time, 1.5);
  EXPECT_EQ(a[1].prompt_tokens, 7u);
  EXPECT_EQ(a[2].output_tokens, 2u);
}

TEST(ArrivalsCsv, DateTimesAcrossDayMonthAndYearBoundaries) {
  const auto a = read_text(
      "TIMESTAMP,ContextTokens,GeneratedTokens\n"
      "2023-12-31 23:59:59.5,1,1\n"
      "2024-01-01 00:00:00.25,1,1\n"  // across midnight and the new year
      "2024-01-01T00:00:01,1,1\n"     // 'T' separator, no fraction
      "2024-01-02 00:00:01.123456789123,1,1\n"
      "2024-02-29 00:00:01.1234567891,4294967295,1\n"  // leap day; 32-bit maximum
      "2024-03-01 00:00:01.1234567891,1,1\n");
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a[0].time, 0.0);
  EXPECT_DOUBLE_EQ(a[1].time, 0.75);
  EXPECT_DOUBLE_EQ(a[2].time, 1.5);
  EXPECT_NEAR(a[3].time, 86401.5 + 0.123456789, 1e-9);
  EXPECT_NEAR(a[4].time - a[3].time, 58 * 86400.0, 1e-6);
  EXPECT_NEAR(a[5].time - a[4].time, 86400.0, 1e-6);  // 2024 is a leap year
  EXPECT_EQ(a[4].prompt_tokens, 4294967295u);
}

TEST(ArrivalsCsv, UtcOffsets) {
  const auto a = read_text(
      "TIMESTAMP,ContextTokens,GeneratedTokens\n"
      "2024-05-10 00:00:00.000000+00:00,1,1\n"
      "2024-05-10 02:00:30+02:00,1,1\n"
      "2024-05-10T00:01:00Z,1,1\n");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_DOUBLE_EQ(a[1].time, 30.0);
  EXPECT_DOUBLE_EQ(a[2].time, 60.0);
}

TEST(ArrivalsCsv, ColumnsInAnyOrderWithExtrasCrlfAndBlankLines) {
  const auto a = read_text(
      "\xEF\xBB\xBF id , GeneratedTokens,TIMESTAMP ,model,ContextTokens\r\n"
      "a, 5 ,2023-11-16 18:15:46.6805900,x, 300\r\n"
      "b,6,2023-11-16 18:15:47.6805900,y,301\r\n"
      "\r\n"
      "c,7,2023-11-16 18:15:48.6805900,,302\r\n"
      "\n");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].prompt_tokens, 300u);
  EXPECT_EQ(a[0].output_tokens, 5u);
  EXPECT_NEAR(a[2].time, 2.0, 1e-12);
  EXPECT_EQ(a[2].prompt_tokens, 302u);
  EXPECT_EQ(a[2].output_tokens, 7u);
}

// Reading `text` as trace.csv fails with an InputError whose message names the file and
// line (":LINE:") and contains each of `needles`.
void expect_csv_error(const std::string& text, int line, const std::vector<std::string>& needles) {
  ScratchDir dir;
  const std::string path = write_file(dir, "trace.csv", text);
  SCOPED_TRACE(text);
  try {
    read_arrivals_csv(path);
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_THAT(msg, HasSubstr(path + ":" + std::to_string(line) + ": "));
    for (const std::string& n : needles) EXPECT_THAT(msg, HasSubstr(n));
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line";
  }
}

const std::string kHeader = "TIMESTAMP,ContextTokens,GeneratedTokens\n";

TEST(ArrivalsCsv, HeaderErrors) {
  expect_csv_error("", 1, {"expected the columns TIMESTAMP", "empty file"});
  expect_csv_error("\n \r\n", 1, {"empty file"});
  expect_csv_error("TIMESTAMP,ContextTokens\n1,2\n", 1, {"missing GeneratedTokens"});
  expect_csv_error("timestamp,ContextTokens,GeneratedTokens\n", 1, {"missing TIMESTAMP"});
  expect_csv_error("1,2,3\n", 1, {"missing TIMESTAMP, ContextTokens, GeneratedTokens"});
  expect_csv_error("TIMESTAMP,ContextTokens,GeneratedTokens,ContextTokens\n1,2,3,4\n", 1,
                   {"ContextTokens: expected the column once", "columns 2 and 4"});
  expect_csv_error(kHeader, 1, {"rows: expected at least one request", "got none"});
  expect_csv_error(kHeader + "\r\n\n", 1, {"rows: expected at least one request"});
}

TEST(ArrivalsCsv, RowErrors) {
  expect_csv_error(kHeader + "1,2,3\n1,2\n", 3,
                   {"row: expected 3 comma-separated fields", "got 2"});
  expect_csv_error(kHeader + "1,2,3,4\n", 2, {"row: expected 3", "got 4"});
  expect_csv_error(kHeader + "1,2,3\n2,3,4\n1.5,2,3\n", 4,
                   {"TIMESTAMP: expected a time not before the previous row's (2)", "got '1.5'"});
  expect_csv_error(kHeader + "2023-11-16 18:15:46.68,1,1\n2023-11-16 18:15:40,1,1\n", 3,
                   {"TIMESTAMP: expected a time not before the previous row's "
                    "(2023-11-16 18:15:46.68), got '2023-11-16 18:15:40'"});
  expect_csv_error(kHeader + "1,abc,3\n", 2,
                   {"ContextTokens: expected an integer >= 1, got 'abc'"});
  expect_csv_error(kHeader + "1,0,3\n", 2, {"ContextTokens: expected an integer >= 1, got '0'"});
  expect_csv_error(kHeader + "1,-4,3\n", 2, {"ContextTokens: expected an integer >= 1"});
  expect_csv_error(kHeader + "1,2.5,3\n", 2, {"ContextTokens: expected an integer >= 1"});
  expect_csv_error(kHeader + "1,2,\n", 2, {"GeneratedTokens: expected an integer >= 1, got ''"});
  expect_csv_error(kHeader + "1,2,4294967296\n", 2,
                   {"GeneratedTokens: expected an integer >= 1 that fits 32 bits"});
  expect_csv_error(kHeader + "1,2,99999999999999999999999\n", 2, {"GeneratedTokens", "32 bits"});
}

TEST(ArrivalsCsv, TimestampErrors) {
  expect_csv_error(kHeader + "soon,1,1\n", 2,
                   {"TIMESTAMP: expected a number of seconds", "'soon'"});
  expect_csv_error(kHeader + "-1,1,1\n", 2, {"TIMESTAMP: expected a number of seconds >= 0"});
  expect_csv_error(kHeader + "inf,1,1\n", 2, {"TIMESTAMP: expected a number of seconds"});
  expect_csv_error(kHeader + "2023-11-16 18:15:46,1,1\n12.5,1,1\n", 3,
                   {"TIMESTAMP: expected a date-time", "as in the first row", "got '12.5'"});
  expect_csv_error(kHeader + "12.5,1,1\n2023-11-16 18:15:46,1,1\n", 3,
                   {"TIMESTAMP: expected a number of seconds", "as in the first row"});
  for (const char* bad :
       {"2023-13-01 00:00:00", "2023-02-29 00:00:00", "2023-11-16 24:00:00", "2023-11-16 18:60:00",
        "2023-11-16 18:15:60", "2023-11-16 18:15:46.", "2023-11-16", "2023-11-16 18:15",
        "2023-11-16  18:15:46", "2023-11-16 18:15:46 UTC", "2023-11-16 18:15:46+1"}) {
    SCOPED_TRACE(bad);
    expect_csv_error(kHeader + bad + ",1,1\n", 2,
                     {"TIMESTAMP: expected a date-time", "got '" + std::string(bad) + "'"});
  }
}

TEST(ArrivalsCsv, FileErrors) {
  ScratchDir dir;
  for (const std::string& path : {dir.path("missing.csv"), dir.path("")}) {
    try {
      read_arrivals_csv(path);
      ADD_FAILURE() << "accepted " << path;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr(path + ": cannot open for reading"));
    }
  }
}

TEST(ArrivalsCsv, LongAndControlCharactersQuotedOnOneLine) {
  expect_csv_error(kHeader + "1,2,3\r4" + std::string(100, '9') + "\n", 2,
                   {"GeneratedTokens: expected an integer >= 1", "'3?4999", "...'"});
}

}  // namespace
}  // namespace epbench
