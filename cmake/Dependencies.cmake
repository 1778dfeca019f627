# Every dependency comes through find_package or pkg-config, as namespaced imported targets.
find_package(PkgConfig REQUIRED)
find_package(MPI REQUIRED COMPONENTS C CXX)
find_package(Threads REQUIRED)
# Threads in evaluate (sim/evaluate.cpp): steps priced in parallel, results independent of them.
find_package(TBB REQUIRED)

include(${CMAKE_CURRENT_LIST_DIR}/HDF5.cmake)
pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET hwloc)
# COIN-OR CLP (linear programs) and CBC (mixed-integer programs), Debian: coinor-libclp-dev,
# coinor-libcbc-dev: the LP lower bound and the exact ILP of src/placement/lp_bound.cpp.
pkg_check_modules(COIN REQUIRED IMPORTED_TARGET cbc clp osi-clp coinutils)
# LEMON (Debian: liblemon-dev), header-only here: the max-flow of `optimal` routing and the
# perfect matching of `spread`. Its headers need C++17 (src/CMakeLists.txt).
pkg_check_modules(LEMON REQUIRED lemon>=1.3)

set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
# TensorRT-LLM's load-balancer files are YAML (src/engines/trtllm.cpp).
find_package(yaml-cpp REQUIRED)

# CUDA and NCCL: on when found, so the GPU code builds wherever the toolkit is installed.
find_package(CUDAToolkit QUIET)
include(CheckLanguage)
check_language(CUDA)
set(_cuda_found OFF)
if(CUDAToolkit_FOUND AND CMAKE_CUDA_COMPILER)
  set(_cuda_found ON)
endif()
option(EPBENCH_WITH_CUDA "Build the CUDA backend" ${_cuda_found})

find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV NCCL_HOME
          PATH_SUFFIXES include)
find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ENV NCCL_HOME
             PATH_SUFFIXES lib lib64)
set(_nccl_found OFF)
if(EPBENCH_WITH_CUDA AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
  set(_nccl_found ON)
endif()
option(EPBENCH_WITH_NCCL "Build the NCCL all-to-all" ${_nccl_found})

if(EPBENCH_WITH_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)  # Hopper (H100/H200); override on the command line
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 knows nvcc dialects up to C++17
  find_package(CUDAToolkit REQUIRED)
endif()
if(EPBENCH_WITH_NCCL)
  if(NOT NCCL_LIBRARY)
    message(FATAL_ERROR "EPBENCH_WITH_NCCL=ON but NCCL was not found (set NCCL_HOME)")
  endif()
  add_library(epbench::nccl UNKNOWN IMPORTED)
  set_target_properties(epbench::nccl PROPERTIES IMPORTED_LOCATION ${NCCL_LIBRARY}
                                                 INTERFACE_INCLUDE_DIRECTORIES ${NCCL_INCLUDE_DIR})
endif()

# METIS (Debian: libmetis-dev): graph partitioning for the `colocate` and `topo` placements.
# Debian ships no CMake or pkg-config file for it, so find the header and library directly.
find_path(METIS_INCLUDE_DIR metis.h)
find_library(METIS_LIBRARY metis)
if(NOT METIS_INCLUDE_DIR OR NOT METIS_LIBRARY)
  message(FATAL_ERROR "METIS not found (Debian: apt-get install libmetis-dev)")
endif()
add_library(epbench::metis UNKNOWN IMPORTED)
set_target_properties(epbench::metis PROPERTIES IMPORTED_LOCATION ${METIS_LIBRARY}
                                                INTERFACE_INCLUDE_DIRECTORIES ${METIS_INCLUDE_DIR})
