#include "test_util.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace epbench::test {

namespace fs = std::filesystem;

ScratchDir::ScratchDir() {
  std::string tmpl = (fs::temp_directory_path() / "epbench-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

Trace make_trace(int requests, int tokens_per_request, int layers, int experts, int top_k,
                 bool gate_weights) {
  Trace t;
  TraceHeader& h = t.header;
  h.model = "test-model";
  h.num_layers = layers;
  h.num_experts = experts;
  h.top_k = top_k;
  h.d_model = 64;
  h.d_ff = 128;
  h.source = "test";
  h.dataset = "hand-made";
  h.domains = {"alpha", "beta"};
  h.has_gate_weights = gate_weights;
  h.num_requests = static_cast<uint64_t>(requests);
  h.num_tokens = static_cast<uint64_t>(requests) * tokens_per_request;
  t.tokens.num_layers = layers;
  t.tokens.top_k = top_k;
  t.tokens.resize(h.num_tokens, gate_weights);
  for (size_t tok = 0; tok < h.num_tokens; ++tok) {
    t.tokens.phase[tok] = (tok % tokens_per_request) < 2 ? 0 : 1;
    t.tokens.position[tok] = static_cast<uint32_t>(tok % tokens_per_request);
    for (int l = 0; l < layers; ++l) {
      uint16_t* ids = t.tokens.experts(tok, l);
      for (int k = 0; k < top_k; ++k) {
        ids[k] = static_cast<uint16_t>((tok + static_cast<size_t>(l) * 3 + k) % experts);
        if (gate_weights)
          t.tokens.gate_weights[(tok * layers + l) * top_k + k] = 1.0f / static_cast<float>(top_k);
      }
    }
  }
  for (int r = 0; r <= requests; ++r)
    t.requests.token_offset.push_back(static_cast<uint64_t>(r) * tokens_per_request);
  for (int r = 0; r < requests; ++r) {
    t.requests.prompt_len.push_back(2);
    t.requests.domain.push_back(static_cast<uint16_t>(r % 2));
  }
  return t;
}

namespace {
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

CommandResult run_command(const std::vector<std::string>& args) {
  ScratchDir io;
  std::string out = io.path("stdout"), err = io.path("stderr");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> argv_s = args;
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  CommandResult r;
  if (posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  posix_spawn_file_actions_destroy(&actions);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

CommandResult run_epbench(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {EPBENCH_EXE};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

std::string mpirun_path() {
  return EPBENCH_MPIEXEC;
}

namespace {
// OpenMPI 4's mpirun creates its per-user session directory with a check-then-mkdir that
// fails ("File exists") when another mpirun (ctest -j) creates it at the same moment; a base
// of this process's own keeps concurrent test binaries apart.
std::string own_ompi_tmpdir() {
  static const std::string dir = [] {
    const fs::path p = fs::temp_directory_path() / "epbench-ompi" / std::to_string(getpid());
    fs::create_directories(p);
    return p.string();
  }();
  return dir;
}
}  // namespace

std::vector<std::string> mpirun_args(int ranks) {
  std::vector<std::string> argv = {mpirun_path(), "-n", std::to_string(ranks)};
  if (EPBENCH_MPI_IS_OPENMPI) {  // MPICH's hydra oversubscribes by default and allows root
    argv.push_back("--oversubscribe");
    if (getuid() == 0) argv.push_back("--allow-run-as-root");
    for (const std::string& a :
         {std::string("--mca"), std::string("orte_tmpdir_base"), own_ompi_tmpdir()})
      argv.push_back(a);
  }
  return argv;
}

TraceStats stats_of(const Trace& t, StatsOptions opt) {
  StatsAccumulator acc(t.header, t.requests, opt);
  acc.add(t.tokens);
  return acc.take();
}

bool file_exists(const std::string& path) {
  return fs::exists(path);
}

std::vector<std::string> files_matching(const std::string& dir, const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(needle) != std::string::npos)
      found.push_back(e.path().string());
  return found;
}

}  // namespace epbench::test
