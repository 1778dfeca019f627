#pragma once
// `epbench run`, the job every rank executes (docs/run.md): for each layout, batch size and
// routing policy, replay the trace's steps through real expert FFNs and real all-to-alls,
// measure, check, gather on rank 0 and write one results file. Collective over comm.
#include <mpi.h>

#include <vector>

#include "runtime/run_options.h"
#include "runtime/run_record.h"

namespace epbench {

// Returns the configurations' results on rank 0 (empty elsewhere). Bad input and failed checks
// throw AgreedFailure on every rank; a crash of one rank is left to the launcher to end.
std::vector<MeasuredConfig> run_job(const RunOptions& cfg, MPI_Comm comm);

}  // namespace epbench
