# Fails when the program's shared-library dependencies include MPI, CUDA or NCCL: the
# simulator must run where none is installed. Usage: cmake -DPROGRAM=<path> -P check_no_mpi.cmake
execute_process(COMMAND ldd ${PROGRAM} OUTPUT_VARIABLE deps RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ldd ${PROGRAM} failed (${rc})")
endif()
message(STATUS "ldd ${PROGRAM}:\n${deps}")
if(deps MATCHES "lib(mpi|mpich|open-pal|open-rte|cudart|cublas|nccl|hwloc)[^ ]*")
  message(FATAL_ERROR "${PROGRAM} depends on ${CMAKE_MATCH_0}: epbench_core must link no MPI, "
                      "CUDA, NCCL or hwloc")
endif()
