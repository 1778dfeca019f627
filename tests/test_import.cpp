// `trace import`: .npy arrays in both layouts and JSON lines become exactly the expected
// trace; every kind of bad input is refused with a message naming the file, and leaves no file.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "common/error.h"
#include "fuzz_regressions.h"
#include "model/presets.h"
#include "npy_test_util.h"
#include "test_util.h"
#include "trace/import_jsonl.h"
#include "trace/import_npy.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using test::bytes_of;
using test::npy_dict;
using test::ScratchDir;
using test::write_npy;
using test::write_npy_raw;

// mixtral-8x7b: 32 layers, 8 experts, top-2.
constexpr int kL = 32, kK = 2, kE = 8;
constexpr uint64_t kTokens = 7;

// The expert in slot k of token t at layer l; the two slots always differ.
uint16_t expert_id(uint64_t t, int l, int k) {
  const uint64_t first = (t + static_cast<uint64_t>(l)) % kE;
  return static_cast<uint16_t>(k == 0 ? first : (first + 1 + t % 3) % kE);
}
float gate_weight(uint64_t t, int l, int k) {
  return static_cast<float>(k == 0 ? 0.5 + 0.01 * static_cast<double>(t) : 0.25 + 0.001 * l);
}

// Values for tokens x layers x slots stored in `layout` order.
template <class T>
std::vector<T> in_layout(NpyLayout layout, const std::function<T(uint64_t, int, int)>& f,
                         uint64_t tokens = kTokens) {
  std::vector<T> v;
  for (uint64_t t = 0; t < tokens; ++t)
    for (int a = 0; a < (layout == NpyLayout::kTokenLayerK ? kL : kK); ++a)
      for (int b = 0; b < (layout == NpyLayout::kTokenLayerK ? kK : kL); ++b)
        v.push_back(layout == NpyLayout::kTokenLayerK ? f(t, a, b) : f(t, b, a));
  return v;
}

template <class T>
std::vector<T> ids_in(NpyLayout layout, uint64_t tokens = kTokens) {
  return in_layout<T>(
      layout, [](uint64_t t, int l, int k) { return static_cast<T>(expert_id(t, l, k)); }, tokens);
}

std::vector<uint64_t> shape_of(NpyLayout layout, uint64_t tokens = kTokens) {
  if (layout == NpyLayout::kTokenLayerK) return {tokens, kL, kK};
  return {tokens, kK, kL};
}

const ModelPreset& mixtral() {
  return find_preset("mixtral-8x7b");
}

void expect_ids(const Trace& tr) {
  ASSERT_EQ(tr.header.num_tokens, kTokens);
  ASSERT_EQ(tr.tokens.size(), kTokens);
  for (uint64_t t = 0; t < kTokens; ++t)
    for (int l = 0; l < kL; ++l)
      for (int k = 0; k < kK; ++k)
        ASSERT_EQ(tr.tokens.experts(t, l)[k], expert_id(t, l, k))
            << "token " << t << " layer " << l << " slot " << k;
}

TEST(ImportNpy, TokenLayerKWithOffsetsAndPromptLen) {
  ScratchDir dir;
  write_npy(dir.path("ids.npy"), "<i8", shape_of(NpyLayout::kTokenLayerK),
            ids_in<int64_t>(NpyLayout::kTokenLayerK));
  write_npy(dir.path("off.npy"), "<i8", {3}, std::vector<int64_t>{0, 3, 7});
  NpyImportOptions o;
  o.ids_path = dir.path("ids.npy");
  o.offsets_path = dir.path("off.npy");
  o.prompt_len = 2;
  o.block_tokens = 2;  // several blocks, one cut inside a request
  import_npy(mixtral(), o, dir.path("out.h5"));
  const Trace tr = read_trace(dir.path("out.h5"));
  expect_ids(tr);
  EXPECT_EQ(tr.header.model, "mixtral-8x7b");
  EXPECT_EQ(tr.header.source, "import:npy");
  EXPECT_EQ(tr.header.dataset, "ids.npy");
  EXPECT_NE(tr.header.params.find("\"layout\":\"tlk\""), std::string::npos) << tr.header.params;
  EXPECT_FALSE(tr.header.has_gate_weights);
  EXPECT_EQ(tr.requests.token_offset, (std::vector<uint64_t>{0, 3, 7}));
  EXPECT_EQ(tr.requests.prompt_len, (std::vector<uint32_t>{2, 2}));
  EXPECT_EQ(tr.tokens.phase, (std::vector<uint8_t>{0, 0, 1, 0, 0, 1, 1}));
  EXPECT_EQ(tr.tokens.position, (std::vector<uint32_t>{0, 1, 2, 0, 1, 2, 3}));
}

TEST(ImportNpy, TokenKLayerWithRequestLengthAndGateWeights) {
  ScratchDir dir;
  const NpyLayout tkl = NpyLayout::kTokenKLayer;
  write_npy(dir.path("exp_ids.npy"), "|u1", shape_of(tkl), ids_in<uint8_t>(tkl), 2);
  write_npy(dir.path("w.npy"), "<f4", shape_of(tkl), in_layout<float>(tkl, gate_weight), 3);
  NpyImportOptions o;
  o.ids_path = dir.path("exp_ids.npy");
  o.layout = tkl;
  o.request_length = 3;
  o.gate_weights_path = dir.path("w.npy");
  o.dataset = "c4";
  import_npy(mixtral(), o, dir.path("out.h5"));
  const Trace tr = read_trace(dir.path("out.h5"));
  expect_ids(tr);
  EXPECT_EQ(tr.header.dataset, "c4");
  EXPECT_EQ(tr.requests.token_offset, (std::vector<uint64_t>{0, 3, 6, 7}));
  EXPECT_EQ(tr.requests.prompt_len, (std::vector<uint32_t>{3, 3, 1}));  // all prefill
  EXPECT_EQ(tr.tokens.phase, std::vector<uint8_t>(kTokens, 0));
  EXPECT_EQ(tr.tokens.position, (std::vector<uint32_t>{0, 1, 2, 0, 1, 2, 0}));
  ASSERT_TRUE(tr.header.has_gate_weights);
  for (uint64_t t = 0; t < kTokens; ++t)
    for (int l = 0; l < kL; ++l)
      for (int k = 0; k < kK; ++k)
        ASSERT_EQ(tr.tokens.gate_weights[(t * kL + l) * kK + k], gate_weight(t, l, k));
}

template <class T>
void expect_dtype_imports(const std::string& descr) {
  ScratchDir dir;
  write_npy(dir.path("ids.npy"), descr, shape_of(NpyLayout::kTokenLayerK),
            ids_in<T>(NpyLayout::kTokenLayerK));
  NpyImportOptions o;
  o.ids_path = dir.path("ids.npy");
  o.request_length = 100;
  import_npy(mixtral(), o, dir.path("out.h5"));
  SCOPED_TRACE(descr);
  expect_ids(read_trace(dir.path("out.h5")));
}

TEST(ImportNpy, EveryIntegerDtype) {
  expect_dtype_imports<uint8_t>("|u1");
  expect_dtype_imports<uint16_t>("<u2");
  expect_dtype_imports<uint32_t>("<u4");
  expect_dtype_imports<uint64_t>("<u8");
  expect_dtype_imports<int8_t>("|i1");
  expect_dtype_imports<int16_t>("<i2");
  expect_dtype_imports<int32_t>("<i4");
}

TEST(ImportNpy, HalfFloatGateWeights) {
  ScratchDir dir;
  const NpyLayout tlk = NpyLayout::kTokenLayerK;
  write_npy(dir.path("ids.npy"), "<i4", shape_of(tlk, 1), ids_in<int32_t>(tlk, 1));
  // 0x3800 = 0.5, 0x3400 = 0.25 in IEEE half precision.
  std::vector<uint16_t> halves;
  for (int i = 0; i < kL * kK; ++i) halves.push_back(i % 2 ? 0x3400 : 0x3800);
  write_npy(dir.path("w.npy"), "<f2", shape_of(tlk, 1), halves);
  NpyImportOptions o;
  o.ids_path = dir.path("ids.npy");
  o.request_length = 1;
  o.gate_weights_path = dir.path("w.npy");
  import_npy(mixtral(), o, dir.path("out.h5"));
  const Trace tr = read_trace(dir.path("out.h5"));
  EXPECT_EQ(tr.tokens.gate_weights[0], 0.5f);
  EXPECT_EQ(tr.tokens.gate_weights[1], 0.25f);
}

// ---- JSON lines ----

std::string jsonl_record(uint64_t r, uint64_t p, int l, uint64_t token, int phase,
                         const std::string& domain) {
  const std::string w0 = std::to_string(gate_weight(token, l, 0));
  const std::string w1 = std::to_string(gate_weight(token, l, 1));
  return "{\"request\": " + std::to_string(r) + ", \"position\": " + std::to_string(p) +
         ", \"layer\": " + std::to_string(l) + ", \"experts\": [" +
         std::to_string(expert_id(token, l, 0)) + ", " + std::to_string(expert_id(token, l, 1)) +
         "], \"weights\": [" + w0 + ", " + w1 + "], \"phase\": " + std::to_string(phase) +
         ", \"domain\": \"" + domain + "\"}";
}

// Request 0: 4 tokens (2 prefill, 2 decode), domain "web"; request 1: 3 prefill, "code".
// Written in reverse order: the importer sorts.
std::vector<std::string> jsonl_lines() {
  std::vector<std::string> lines;
  for (uint64_t t = 0; t < kTokens; ++t) {
    const uint64_t r = t < 4 ? 0 : 1, p = t < 4 ? t : t - 4;
    const int phase = r == 0 && p >= 2 ? 1 : 0;
    for (int l = 0; l < kL; ++l)
      lines.push_back(jsonl_record(r, p, l, t, phase, r == 0 ? "web" : "code"));
  }
  std::reverse(lines.begin(), lines.end());
  return lines;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream f(path);
  for (const auto& l : lines) f << l << "\n";
}

TEST(ImportJsonl, RoundTripWithDomainsAndWeights) {
  ScratchDir dir;
  write_lines(dir.path("rec.jsonl"), jsonl_lines());
  import_jsonl(mixtral(), {dir.path("rec.jsonl"), ""}, dir.path("out.h5"));
  const Trace tr = read_trace(dir.path("out.h5"));
  expect_ids(tr);
  EXPECT_EQ(tr.header.source, "import:jsonl");
  EXPECT_EQ(tr.header.dataset, "rec.jsonl");
  EXPECT_EQ(tr.header.domains, (std::vector<std::string>{"code", "web"}));
  EXPECT_EQ(tr.requests.domain, (std::vector<uint16_t>{1, 0}));
  EXPECT_EQ(tr.requests.token_offset, (std::vector<uint64_t>{0, 4, 7}));
  EXPECT_EQ(tr.requests.prompt_len, (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(tr.tokens.phase, (std::vector<uint8_t>{0, 0, 1, 1, 0, 0, 0}));
  EXPECT_EQ(tr.tokens.position, (std::vector<uint32_t>{0, 1, 2, 3, 0, 1, 2}));
  ASSERT_TRUE(tr.header.has_gate_weights);
  for (uint64_t t = 0; t < kTokens; ++t)
    for (int l = 0; l < kL; ++l)
      for (int k = 0; k < kK; ++k)
        ASSERT_NEAR(tr.tokens.gate_weights[(t * kL + l) * kK + k], gate_weight(t, l, k), 1e-6);
}

TEST(ImportJsonl, MinimalRecordsDefaultToPrefillWithoutDomains) {
  ScratchDir dir;
  std::vector<std::string> lines;
  for (int l = 0; l < kL; ++l)
    lines.push_back("{\"request\":0,\"position\":0,\"layer\":" + std::to_string(l) +
                    ",\"experts\":[1,0],\"extra\":\"ignored\"}");
  write_lines(dir.path("min.jsonl"), lines);
  import_jsonl(mixtral(), {dir.path("min.jsonl"), "mine"}, dir.path("out.h5"));
  const Trace tr = read_trace(dir.path("out.h5"));
  EXPECT_EQ(tr.header.dataset, "mine");
  EXPECT_TRUE(tr.header.domains.empty());
  EXPECT_TRUE(tr.requests.domain.empty());
  EXPECT_FALSE(tr.header.has_gate_weights);
  EXPECT_EQ(tr.requests.prompt_len, (std::vector<uint32_t>{1}));
  EXPECT_EQ(tr.tokens.experts(0, 31)[0], 1);
}

// ---- the command line ----

TEST(ImportCli, NpyThroughTheExecutable) {
  ScratchDir dir;
  const NpyLayout tkl = NpyLayout::kTokenKLayer;
  write_npy(dir.path("ids.npy"), "<i8", shape_of(tkl), ids_in<int64_t>(tkl));
  const auto r = test::run_epbench({"trace", "import", "--model", "mixtral-8x7b", "--npy",
                                    dir.path("ids.npy"), "--layout", "tkl", "--request-length", "4",
                                    "--prompt-len", "1", "-o", dir.path("out.h5")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Trace tr = read_trace(dir.path("out.h5"));
  expect_ids(tr);
  EXPECT_EQ(tr.requests.prompt_len, (std::vector<uint32_t>{1, 1}));
  EXPECT_EQ(tr.tokens.phase, (std::vector<uint8_t>{0, 1, 1, 1, 0, 1, 1}));
}

TEST(ImportCli, JsonlThroughTheExecutable) {
  ScratchDir dir;
  write_lines(dir.path("rec.jsonl"), jsonl_lines());
  const auto r = test::run_epbench({"trace", "import", "--model", "mixtral-8x7b", "--jsonl",
                                    dir.path("rec.jsonl"), "-o", dir.path("out.h5")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_ids(read_trace(dir.path("out.h5")));
}

// ---- bad inputs ----

// Runs the command; expects exit 2, one line on stderr containing every needle, no output.
void expect_cli_rejects(const ScratchDir& dir, std::vector<std::string> args,
                        const std::vector<std::string>& needles) {
  args.insert(args.begin(), {"trace", "import"});
  args.insert(args.end(), {"-o", dir.path("out.h5")});
  const auto r = test::run_epbench(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(dir.path("out.h5")));
  EXPECT_TRUE(test::files_matching(dir.path(""), "out.h5").empty());
}

struct BadNpy {
  const char* name;
  std::function<void(const ScratchDir&)> make;  // writes ids.npy (and off.npy)
  std::vector<std::string> extra;               // options besides --npy/--layout/--model
  std::string needle;                           // also in the message
  std::string file = "ids.npy";                 // the file the message must name
};

void write_good_ids(const ScratchDir& d) {
  write_npy(d.path("ids.npy"), "<i8", shape_of(NpyLayout::kTokenLayerK),
            ids_in<int64_t>(NpyLayout::kTokenLayerK));
}

void write_ids_with(const ScratchDir& d, size_t index, int64_t value) {
  auto v = ids_in<int64_t>(NpyLayout::kTokenLayerK);
  v[index] = value;
  write_npy(d.path("ids.npy"), "<i8", shape_of(NpyLayout::kTokenLayerK), v);
}

void write_offsets(const ScratchDir& d, const std::vector<int64_t>& off) {
  write_good_ids(d);
  write_npy(d.path("off.npy"), "<i8", {off.size()}, off);
}

std::vector<BadNpy> bad_npy_cases() {
  const std::vector<std::string> len = {"--request-length", "3"};
  const std::vector<std::string> off = {"--request-offsets", "off.npy"};
  const auto shape = shape_of(NpyLayout::kTokenLayerK);
  const auto ids8 = bytes_of(ids_in<int64_t>(NpyLayout::kTokenLayerK));
  return {
      {"NotNpy", [](const ScratchDir& d) { std::ofstream(d.path("ids.npy")) << "a,b\n1,2\n"; }, len,
       "magic"},
      {"BigEndian",
       [=](const ScratchDir& d) { write_npy_raw(d.path("ids.npy"), npy_dict(">i8", shape), ids8); },
       len, "big-endian"},
      {"FloatDtype",
       [=](const ScratchDir& d) { write_npy_raw(d.path("ids.npy"), npy_dict("<f8", shape), ids8); },
       len, "integer dtype"},
      {"FortranOrder",
       [=](const ScratchDir& d) {
         write_npy_raw(d.path("ids.npy"), npy_dict("<i8", shape, true), ids8);
       },
       len, "fortran_order"},
      {"WrongRank",
       [=](const ScratchDir& d) {
         write_npy_raw(d.path("ids.npy"), npy_dict("<i8", {kTokens, kL * kK}), ids8);
       },
       len, "shape"},
      {"WrongLayersAndK",
       [=](const ScratchDir& d) {
         write_npy_raw(d.path("ids.npy"), npy_dict("<i8", {kTokens, 16, 4}), ids8);
       },
       len, "[tokens, 32, 2]"},
      {"Truncated",
       [=](const ScratchDir& d) {
         write_npy_raw(d.path("ids.npy"), npy_dict("<i8", shape), ids8.substr(0, ids8.size() - 8));
       },
       len, "truncated"},
      {"IdTooLarge", [](const ScratchDir& d) { write_ids_with(d, 2 * kL * kK + 5 * kK + 1, 8); },
       len, "token 2 layer 5 slot 1"},
      {"IdNegative", [](const ScratchDir& d) { write_ids_with(d, 0, -1); }, len, "-1 at token 0"},
      {"DuplicateExpert",
       [](const ScratchDir& d) { write_ids_with(d, 3 * kL * kK + 7 * kK + 1, expert_id(3, 7, 0)); },
       len, "twice at token 3 layer 7"},
      {"OffsetsNotIncreasing",
       [](const ScratchDir& d) {
         write_offsets(d, {0, 3, 3, 7});
       },
       off, "strictly increasing", "off.npy"},
      {"OffsetsNotEndingAtT",
       [](const ScratchDir& d) {
         write_offsets(d, {0, 3, 6});
       },
       off, "last offset", "off.npy"},
      {"OffsetsNotStartingAt0",
       [](const ScratchDir& d) {
         write_offsets(d, {1, 3, 7});
       },
       off, "starting at 0", "off.npy"},
  };
}

TEST(ImportErrors, BadNpyInputs) {
  for (const BadNpy& c : bad_npy_cases()) {
    SCOPED_TRACE(c.name);
    ScratchDir dir;
    c.make(dir);
    std::vector<std::string> extra = c.extra;
    if (extra[0] == "--request-offsets") extra[1] = dir.path("off.npy");
    // The library call...
    NpyImportOptions o;
    o.ids_path = dir.path("ids.npy");
    if (extra[0] == "--request-offsets") o.offsets_path = extra[1];
    if (extra[0] == "--request-length") o.request_length = std::stoull(extra[1]);
    try {
      import_npy(mixtral(), o, dir.path("out.h5"));
      ADD_FAILURE() << "no InputError";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(dir.path(c.file)), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
    // ...and the command line.
    std::vector<std::string> args = {"--model",           "mixtral-8x7b", "--npy",
                                     dir.path("ids.npy"), "--layout",     "tlk"};
    args.insert(args.end(), extra.begin(), extra.end());
    expect_cli_rejects(dir, args, {dir.path(c.file), c.needle});
  }
}

TEST(ImportErrors, GateWeightsMustBeFloatAndShapedLikeIds) {
  ScratchDir dir;
  write_good_ids(dir);
  write_npy(dir.path("w.npy"), "<f4", shape_of(NpyLayout::kTokenLayerK, 3),
            std::vector<float>(3 * kL * kK, 0.5f));
  expect_cli_rejects(dir,
                     {"--model", "mixtral-8x7b", "--npy", dir.path("ids.npy"), "--layout", "tlk",
                      "--request-length", "2", "--gate-weights", dir.path("w.npy")},
                     {dir.path("w.npy"), "shape"});
}

TEST(ImportErrors, BadOptions) {
  ScratchDir dir;
  write_good_ids(dir);
  const std::string ids = dir.path("ids.npy");
  expect_cli_rejects(dir,
                     {"--model", "gpt-5", "--npy", ids, "--layout", "tlk", "--request-length", "2"},
                     {"--model", "unknown model preset", "mixtral-8x7b"});
  expect_cli_rejects(dir, {"--model", "mixtral-8x7b", "--npy", ids, "--request-length", "2"},
                     {"--layout"});
  expect_cli_rejects(
      dir, {"--model", "mixtral-8x7b", "--npy", ids, "--layout", "ltk", "--request-length", "2"},
      {"--layout", "ltk"});
  expect_cli_rejects(dir, {"--model", "mixtral-8x7b", "--npy", ids, "--layout", "tlk"},
                     {"--request-length"});
  expect_cli_rejects(dir, {"--model", "mixtral-8x7b", "--layout", "tlk"}, {"--jsonl"});
  expect_cli_rejects(dir,
                     {"--model", "mixtral-8x7b", "--npy", dir.path("none.npy"), "--layout", "tlk",
                      "--request-length", "2"},
                     {dir.path("none.npy"), "cannot open"});
  expect_cli_rejects(dir, {"--model", "mixtral-8x7b", "--jsonl", dir.path("none.jsonl")},
                     {dir.path("none.jsonl"), "cannot open"});
  expect_cli_rejects(dir, {"--model", "mixtral-8x7b", "--jsonl", ids, "--layout", "tlk"},
                     {"--layout", "only with --npy"});
}

struct BadJsonl {
  const char* name;
  std::function<void(std::vector<std::string>&)> edit;  // edits the good lines
  std::string needle;
};

std::vector<BadJsonl> bad_jsonl_cases() {
  // The good file, in reverse: line 1 is request 1 position 2 layer 31.
  return {
      {"BadJson", [](auto& v) { v[1] = "{\"request\": 1,"; }, "rec.jsonl:2: record"},
      {"NotAnObject", [](auto& v) { v[2] = "[1, 2]"; }, "rec.jsonl:3: record"},
      {"MissingLayer", [](auto& v) { v.erase(v.begin() + 5); }, "layer 26 missing"},
      {"DuplicateLayer", [](auto& v) { v[5] = v[4]; }, "layer 27 again"},
      {"LayerOutOfRange",
       [](auto& v) { v[0].replace(v[0].find("\"layer\": 31"), 11, "\"layer\": 32"); },
       "rec.jsonl:1: layer"},
      {"ExpertTooLarge",
       [](auto& v) {
         v[0] =
             "{\"request\": 1, \"position\": 2, \"layer\": 31, \"experts\": [8, 1], "
             "\"weights\": [0.5, 0.5], \"phase\": 0, \"domain\": \"code\"}";
       },
       "rec.jsonl:1: experts: expected 2 distinct expert ids in [0, 8), got 8"},
      {"RequestGap",
       [](auto& v) {
         for (auto& line : v)
           if (line.find("\"request\": 1") != std::string::npos)
             line.replace(line.find("\"request\": 1"), 12, "\"request\": 2");
       },
       "but no request 1"},
      {"DecodeBeforePrefill",
       [](auto& v) {
         for (auto& line : v)
           if (line.find("\"request\": 1, \"position\": 0") != std::string::npos)
             line.replace(line.find("\"phase\": 0"), 10, "\"phase\": 1");
       },
       "phase 0 after phase 1"},
      {"TwoDomains", [](auto& v) { v[3].replace(v[3].find("\"code\""), 6, "\"math\""); },
       "one domain"},
  };
}

TEST(ImportErrors, BadJsonlInputs) {
  for (const BadJsonl& c : bad_jsonl_cases()) {
    SCOPED_TRACE(c.name);
    ScratchDir dir;
    auto lines = jsonl_lines();
    c.edit(lines);
    write_lines(dir.path("rec.jsonl"), lines);
    try {
      import_jsonl(mixtral(), {dir.path("rec.jsonl"), ""}, dir.path("out.h5"));
      ADD_FAILURE() << "no InputError";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(dir.path("rec.jsonl")), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
    expect_cli_rejects(dir, {"--model", "mixtral-8x7b", "--jsonl", dir.path("rec.jsonl")},
                       {dir.path("rec.jsonl"), c.needle});
  }
}

// Found by fuzz/import_npy.cpp: a header length of ~1.7 GB in a 74-byte file was allocated
// (and zero-filled) before the short read noticed.
TEST(ImportErrors, FuzzRegressions) {
  test::expect_clean_error(
      "import_npy-huge-header-length.npy", [](const std::string& p) { NpyReader r(p); },
      "header length: expected at most 62 bytes");
  // A weight of 1e300 is finite as a double but not as the float it is stored in.
  const auto& brown = find_preset("brown-moe-8e-top2");
  ScratchDir dir;
  test::expect_clean_error(
      "import_jsonl-weight-overflow.jsonl",
      [&](const std::string& p) {
        import_jsonl(brown, {p, ""}, dir.path("out.h5"));
      },
      ":3: weights: expected 2 finite weights >= 0 (single precision), got 1e+300");
  EXPECT_FALSE(test::file_exists(dir.path("out.h5")));
}

}  // namespace
}  // namespace epbench
