#include "runtime/mpi_env.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "common/error.h"

namespace epbench {

void mpi_check(int rc, const char* call, const char* file, int line) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                           " failed: " + std::string(text, static_cast<size_t>(len)));
}

MpiSession::MpiSession() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    EPBENCH_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
  }
  install_termination_cleanup();  // again: an MPI may install its own handlers in MPI_Init
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

namespace {

// Rank `from` sends its message to every rank.
std::string broadcast_message(MPI_Comm comm, int from, const std::string& mine) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  int len = rank == from ? static_cast<int>(mine.size()) : 0;
  EPBENCH_MPI_CHECK(MPI_Bcast(&len, 1, MPI_INT, from, comm));
  std::string text = rank == from ? mine : std::string(static_cast<size_t>(len), ' ');
  EPBENCH_MPI_CHECK(MPI_Bcast(text.data(), len, MPI_CHAR, from, comm));
  return text;
}

}  // namespace

void agree(MPI_Comm comm, const std::function<void()>& fn) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::string message;
  int code = 0;
  try {
    fn();
  } catch (const InputError& e) {
    message = user_message(e), code = 2;
  } catch (const std::exception& e) {
    message = e.what(), code = 1;
  }
  // The lowest failing rank speaks for all (size when none failed).
  int failing = code ? rank : size, first = size;
  EPBENCH_MPI_CHECK(MPI_Allreduce(&failing, &first, 1, MPI_INT, MPI_MIN, comm));
  if (first == size) return;
  EPBENCH_MPI_CHECK(MPI_Bcast(&code, 1, MPI_INT, first, comm));
  std::string text = broadcast_message(comm, first, message);
  if (first != 0) text = "rank " + std::to_string(first) + ": " + text;
  throw AgreedFailure(text, code);
}

namespace {

long env_long(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end ? -1 : n;
}

}  // namespace

void check_launcher(MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  for (const char* var : {"SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"}) {
    const long n = env_long(var);
    if (n > 0 && n != size)
      throw InputError(std::string(var) + "=" + std::to_string(n) + " but this job's MPI size is " +
                       std::to_string(size) +
                       ": the launcher started separate jobs (srun without --mpi=pmix, or an "
                       "mpirun from another MPI than the one epbench was built with)");
  }
}

}  // namespace epbench
