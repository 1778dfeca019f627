#pragma once
// The frame of a subcommand that mpirun/srun launch (topo, run): one MPI session, and failures
// turned into one message and one exit code for the whole job instead of N copies or a hang.
#include <functional>

#include "runtime/mpi_env.h"

namespace epbench::cli {

// Runs body on every rank inside an MpiSession, finalised before this returns or throws.
// - AgreedFailure (from agree(): every rank knows): rank 0 prints "epbench: error: MSG" and
//   every rank throws SilentExit with its exit code after MPI_Finalize.
// - any other exception escaped outside agree(), so other ranks may wait in a collective:
//   that rank prints "epbench: rank R: error: MSG" and MPI_Abort ends the job with status 1.
// Put every step that can fail on one rank only inside agree().
void run_mpi_command(const std::function<void(MpiSession&)>& body);

}  // namespace epbench::cli
