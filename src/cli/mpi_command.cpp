#include "cli/mpi_command.h"

#include <cstdio>
#include <cstdlib>

#include "common/error.h"

namespace epbench::cli {

namespace {

// The other ranks cannot know about this error: end the job rather than leave them waiting.
[[noreturn]] void abort_job(int rank, const char* what) {
  std::fflush(stdout);
  std::fprintf(stderr, "epbench: rank %d: error: %s\n", rank, what);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);  // MPI_Abort does not return; this is for an MPI that does
}

}  // namespace

void run_mpi_command(const std::function<void(MpiSession&)>& body) {
  int code = 0;
  {
    MpiSession session;
    try {
      body(session);
    } catch (const AgreedFailure& e) {
      std::fflush(stdout);  // the table or log so far, before the message
      if (session.rank() == 0) std::fprintf(stderr, "epbench: error: %s\n", e.what());
      code = e.exit_code();
    } catch (const std::exception& e) {
      abort_job(session.rank(), e.what());
    }
    std::fflush(stdout);
    std::fflush(stderr);
  }  // MPI_Finalize here, on every rank, before the exit code travels up to main
  if (code != 0) throw SilentExit(code);
}

}  // namespace epbench::cli
