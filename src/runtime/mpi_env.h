#pragma once
// MPI for the subcommands that mpirun/srun launch (run, topo): a session object, checked calls,
// and errors agreed by all ranks, so that bad input stops every rank with one message from
// rank 0 instead of N copies, or a hang in the next collective.
#include <mpi.h>

#include <functional>
#include <stdexcept>
#include <string>

#define EPBENCH_MPI_CHECK(call) ::epbench::mpi_check((call), #call, __FILE__, __LINE__)

namespace epbench {

// Throws std::runtime_error "FILE:LINE: CALL failed: <MPI error string>" unless rc is
// MPI_SUCCESS (communicators use MPI_ERRORS_RETURN inside a session).
void mpi_check(int rc, const char* call, const char* file, int line);

// MPI_Init_thread on construction (when MPI is not initialised yet), MPI_Finalize on
// destruction; MPI_COMM_WORLD returns errors instead of aborting.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0, size_ = 1;
};

// An error every rank knows about: rank 0 prints it, every rank exits with `exit_code`.
class AgreedFailure : public std::runtime_error {
 public:
  AgreedFailure(const std::string& what, int exit_code)
      : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Runs fn on every rank of comm. When it throws on any rank, every rank throws AgreedFailure
// with the message of the lowest failing rank (prefixed "rank R: " when R != 0); exit code 2
// when that was an InputError, else 1. Collective: every rank must call it.
void agree(MPI_Comm comm, const std::function<void()>& fn);

// A misconfigured launcher starts N jobs of one rank each: when SLURM_NTASKS (srun) or
// OMPI_COMM_WORLD_SIZE (mpirun) disagrees with the communicator's size, throws InputError.
void check_launcher(MPI_Comm comm);

}  // namespace epbench
