# HDF5 as the target epbench::hdf5.
#
# epbench writes every file from one process (rank 0 gathers a run's results), so it needs no
# parallel HDF5, and the serial library keeps epbench_core free of MPI. CMake's FindHDF5 is
# asked first: it honours HDF5_ROOT (and HDF5_DIR for an HDF5 built with CMake, as Spack's is),
# and prefers the serial library unless EPBENCH_HDF5_PARALLEL is ON. A parallel HDF5 links its
# own MPI, so one is accepted only when it was built for the MPI found above (an OpenMPI HDF5
# under MPICH compiles against the wrong mpi.h and fails to link). Debian's layout, where
# FindHDF5 can miss the flavoured directories, falls back to pkg-config: hdf5-serial, or
# hdf5-openmpi / hdf5-mpich matching the MPI in use.
option(EPBENCH_HDF5_PARALLEL "Link a parallel HDF5 (it must match the MPI in use)" OFF)

# Which MPI this is, from its library version string: openmpi, mpich (and its derivatives).
function(epbench_mpi_flavour out)
  # FindMPI sets the version string only when it could run a probe; the paths always exist.
  set(evidence "${MPI_C_LIBRARY_VERSION_STRING};${MPI_C_INCLUDE_DIRS};${MPI_C_LIBRARIES}")
  set(flavour unknown)
  if(evidence MATCHES "Open MPI|openmpi")
    set(flavour openmpi)
  elseif(evidence MATCHES "MPICH|mpich|Intel|MVAPICH|mvapich|CRAY|cray")
    set(flavour mpich)
  endif()
  set(${out} ${flavour} PARENT_SCOPE)
endfunction()
epbench_mpi_flavour(EPBENCH_MPI_FLAVOUR)

# True when the parallel HDF5's libraries or headers name another MPI than ours.
function(epbench_hdf5_mpi_mismatch out paths)
  set(mismatch FALSE)
  if(EPBENCH_MPI_FLAVOUR STREQUAL "openmpi" AND paths MATCHES "mpich")
    set(mismatch TRUE)
  elseif(EPBENCH_MPI_FLAVOUR STREQUAL "mpich" AND paths MATCHES "openmpi")
    set(mismatch TRUE)
  endif()
  set(${out} ${mismatch} PARENT_SCOPE)
endfunction()

set(HDF5_PREFER_PARALLEL ${EPBENCH_HDF5_PARALLEL})
find_package(HDF5 COMPONENTS C QUIET)
set(_parallel_found FALSE)
if(HDF5_IS_PARALLEL)
  set(_parallel_found TRUE)
endif()
set(_parallel_wanted FALSE)
if(EPBENCH_HDF5_PARALLEL)
  set(_parallel_wanted TRUE)
endif()
if(HDF5_FOUND AND NOT _parallel_found STREQUAL _parallel_wanted)
  message(STATUS "epbench: FindHDF5 found HDF5 with parallel=${_parallel_found}, wanted ${_parallel_wanted}; trying pkg-config")
  set(HDF5_FOUND FALSE)
endif()
if(HDF5_FOUND AND HDF5_IS_PARALLEL)
  epbench_hdf5_mpi_mismatch(_mismatch "${HDF5_C_LIBRARIES};${HDF5_C_INCLUDE_DIRS}")
  if(_mismatch)
    message(FATAL_ERROR "HDF5 at ${HDF5_C_INCLUDE_DIRS} is built for another MPI than "
                        "${EPBENCH_MPI_FLAVOUR}: set HDF5_ROOT to the one built for it")
  endif()
endif()

add_library(epbench::hdf5 INTERFACE IMPORTED)
if(HDF5_FOUND)
  target_link_libraries(epbench::hdf5 INTERFACE HDF5::HDF5)
  set(_hdf5_from "FindHDF5 (${HDF5_C_INCLUDE_DIRS})")
else()
  set(_module hdf5-serial)
  if(EPBENCH_HDF5_PARALLEL)
    set(_module hdf5-${EPBENCH_MPI_FLAVOUR})
  endif()
  pkg_check_modules(HDF5PC IMPORTED_TARGET ${_module})
  if(NOT HDF5PC_FOUND)
    message(FATAL_ERROR "HDF5 not found: set HDF5_ROOT, or on Debian apt-get install "
                        "libhdf5-dev (serial) or libhdf5-${EPBENCH_MPI_FLAVOUR}-dev")
  endif()
  target_link_libraries(epbench::hdf5 INTERFACE PkgConfig::HDF5PC)
  set(_hdf5_from "pkg-config ${_module}")
endif()
message(STATUS "epbench: HDF5 from ${_hdf5_from}, parallel=${EPBENCH_HDF5_PARALLEL}, "
               "MPI=${EPBENCH_MPI_FLAVOUR}")
