// Every kind of bad trace file is refused with one line naming the file, the field and what
// was expected: by the library (InputError) and by the command line (exit 2, nothing written).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "common/error.h"
#include "io/h5.h"
#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using Corruption = std::function<void(const std::string& path)>;

struct BadTrace {
  const char* name;
  Corruption corrupt;
  std::vector<std::string> message_parts;  // each must appear in the error
};

void edit(const std::string& path, const std::function<void(hid_t)>& fn) {
  h5::File f = h5::open_file(path, true);
  fn(f.id());
}

template <class T>
void overwrite(const std::string& path, const std::string& name, std::vector<T> values) {
  edit(path, [&](hid_t f) {
    h5::Dataset ds = h5::open_dataset(f, name);
    h5::write_rows(ds.id(), 0, h5::dims(ds.id())[0], values.data());
  });
}

template <class T>
void replace(const std::string& path, const std::string& name, std::vector<hsize_t> dims,
             std::vector<T> values) {
  edit(path, [&](hid_t f) {
    H5Ldelete(f, name.c_str(), H5P_DEFAULT);
    h5::write_all(f, name, dims, values.data());
  });
}

// Replaces `name` by a chunked dataset that declares `dims` but stores nothing: a few bytes
// on disk however large the shape.
template <class T>
void sparse(const std::string& path, const std::string& name, std::vector<hsize_t> dims) {
  edit(path, [&](hid_t f) {
    H5Ldelete(f, name.c_str(), H5P_DEFAULT);
    h5::DatasetOptions opt;
    opt.chunk = {1024};
    h5::create_dataset<T>(f, name, dims, opt);
  });
}

// make_trace(): 3 requests x 5 tokens, 2 layers, 8 experts, top-2.
std::vector<uint16_t> ids_with(size_t index, uint16_t value) {
  Trace t = test::make_trace();
  t.tokens.expert_ids[index] = value;
  return t.tokens.expert_ids;
}

const std::vector<BadTrace>& bad_traces() {
  static const std::vector<BadTrace> cases = {
      {"WrongFormat",
       [](auto& p) { edit(p, [](hid_t f) { h5::write_attr(f, "format", std::string("other")); }); },
       {"format", "expected 'epbench-trace'", "'other'"}},
      {"NewerVersion",
       [](auto& p) { edit(p, [](hid_t f) { h5::write_attr(f, "version", int64_t{99}); }); },
       {"version", "99"}},
      {"MissingModelAttribute",
       [](auto& p) { edit(p, [](hid_t f) { H5Adelete(f, "num_experts"); }); },
       {"num_experts", "integer attribute"}},
      {"MissingDataset",
       [](auto& p) { edit(p, [](hid_t f) { H5Ldelete(f, "tokens/phase", H5P_DEFAULT); }); },
       {"tokens/phase", "missing"}},
      {"PhaseShapeMismatch",
       [](auto& p) { replace<uint8_t>(p, "tokens/phase", {14}, std::vector<uint8_t>(14, 0)); },
       {"tokens/phase", "shape [15]", "[14]"}},
      {"GateWeightShapeMismatch",
       [](auto& p) {
         replace<float>(p, "tokens/gate_weights", {15, 2, 1}, std::vector<float>(30, 1.0f));
       },
       {"tokens/gate_weights", "shape [15, 2, 2]"}},
      {"ExpertIdOutOfRange",
       [](auto& p) { overwrite(p, "tokens/expert_ids", ids_with(9, 8)); },
       {"tokens/expert_ids", "num_experts=8", "8 at token 2 layer 0"}},
      {"DuplicateExpertInTopK",
       [](auto& p) {
         auto ids = test::make_trace().tokens.expert_ids;
         ids[13] = ids[12];  // token 3, layer 0
         overwrite(p, "tokens/expert_ids", ids);
       },
       {"tokens/expert_ids", "distinct", "token 3 layer 0"}},
      {"PhaseOutOfRange",
       [](auto& p) { overwrite(p, "tokens/phase", std::vector<uint8_t>(15, 7)); },
       {"tokens/phase", "0 (prefill) or 1 (decode)"}},
      {"OffsetsNotIncreasing",
       [](auto& p) {
         overwrite<uint64_t>(p, "requests/token_offset", {0, 5, 5, 15});
       },
       {"requests/token_offset", "strictly increasing"}},
      // Read whole, 2^40 declared offsets asked for 8 TB (bad_alloc, not InputError).
      {"OffsetsDeclaredNotStored",
       [](auto& p) {
         sparse<uint64_t>(p, "requests/token_offset", {hsize_t{1} << 40});
         sparse<uint32_t>(p, "requests/prompt_len", {(hsize_t{1} << 40) - 1});
       },
       {"requests/token_offset", "at most num_tokens + 1 = 16 offsets", "1099511627776"}},
      {"OffsetsNotEndingAtT",
       [](auto& p) {
         overwrite<uint64_t>(p, "requests/token_offset", {0, 5, 10, 14});
       },
       {"requests/token_offset", "number of tokens 15", "14"}},
      {"PromptLongerThanRequest",
       [](auto& p) {
         overwrite<uint32_t>(p, "requests/prompt_len", {2, 6, 2});
       },
       {"requests/prompt_len", "request 1"}},
      {"DomainIndexUnknown",
       [](auto& p) {
         overwrite<uint16_t>(p, "requests/domain", {0, 1, 5});
       },
       {"requests/domain", "5 for request 2"}},
      {"Truncated",
       [](auto& p) { std::filesystem::resize_file(p, std::filesystem::file_size(p) / 2); },
       {"damaged or truncated"}},
      {"NotHdf5",
       [](auto& p) {
         std::filesystem::resize_file(p, 0);
         std::filesystem::resize_file(p, 4096);
       },
       {"not an HDF5 file"}},
  };
  return cases;
}

// Names the case in test listings instead of dumping its bytes.
void PrintTo(const BadTrace& b, std::ostream* os) {
  *os << b.name;
}

class BadTraceTest : public ::testing::TestWithParam<BadTrace> {
 protected:
  std::string make_bad() {
    const std::string path = dir_.path("bad.h5");
    write_trace(path, test::make_trace());
    GetParam().corrupt(path);
    return path;
  }
  test::ScratchDir dir_;
};

TEST_P(BadTraceTest, LibraryRaisesInputErrorNamingFileAndField) {
  const std::string path = make_bad();
  try {
    read_trace(path);
    FAIL() << "bad trace accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const auto& part : GetParam().message_parts)
      EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in: " << msg;
  }
}

TEST_P(BadTraceTest, CommandExitsTwoWithOneLineAndWritesNothing) {
  const std::string path = make_bad();
  const std::string out = dir_.path("out.h5");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"trace", "info", path}, {"trace", "split", path, "--tokens", "0:15", "-o", out}}) {
    const auto r = test::run_epbench(args);
    EXPECT_EQ(r.exit_code, 2) << args[1] << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(GetParam().message_parts[0]), std::string::npos) << r.err;
  }
  EXPECT_FALSE(test::file_exists(out));
  EXPECT_TRUE(test::files_matching(dir_.path(""), ".tmp.").empty());
}

INSTANTIATE_TEST_SUITE_P(EveryBadInput, BadTraceTest, ::testing::ValuesIn(bad_traces()),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(BadTrace, MissingFileIsNamed) {
  try {
    read_trace("/nonexistent/trace.h5");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/trace.h5: cannot open"), std::string::npos);
  }
  const auto r = test::run_epbench({"trace", "info", "/nonexistent/trace.h5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/trace.h5"), std::string::npos);
}

TEST(BadTrace, ValidBlockPassesAndWriterRefusesBadBlocks) {
  test::ScratchDir dir;
  Trace t = test::make_trace();
  EXPECT_NO_THROW(validate_block(t.header, t.tokens, "x"));
  t.tokens.expert_ids[0] = 200;
  TraceWriter w(dir.path("t.h5"), t.header);
  EXPECT_THROW(w.append(t.tokens), InputError);
}

}  // namespace
}  // namespace epbench
