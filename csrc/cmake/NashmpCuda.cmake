# CUDA detection and the CUDA part of libnashmp.
#
#   NASHMP_ENABLE_CUDA = AUTO (default) | ON | OFF
#     AUTO  build the CUDA kernels when a CUDA compiler is found (check_language), else the stubs
#     ON    require a CUDA compiler (configure fails without one)
#     OFF   never; the nashmp_cuda_* functions return NASHMP_ERR_UNSUPPORTED
#   CMAKE_CUDA_ARCHITECTURES defaults to "80;90" (Ampere, Hopper).
#   NASHMP_CUDA_STATIC (OFF): also put the CUDA kernels into the static library. Off by default
#     because consumers of libnashmp.a would then need the CUDA runtime (CUDA::cudart_static)
#     on their link line; the static library gets the stubs instead.
#
# After inclusion NASHMP_WITH_CUDA is ON or OFF, and nashmp_add_cuda(<target>) adds to a library
# target either the CUDA objects (+ the static CUDA runtime, + "cuda=yes" in nashmp_build_info())
# or the stubs (csrc/src/cuda_stubs.c).
#
# The .cu files are compiled in an OBJECT library with their own flags: the C targets' options
# (-fno-math-errno, sanitizers, OpenMP) are for the C compiler and would not reach nvcc intact.

set(NASHMP_ENABLE_CUDA "AUTO" CACHE STRING
    "Build the CUDA kernels: AUTO (when a CUDA compiler is found), ON (required) or OFF")
set_property(CACHE NASHMP_ENABLE_CUDA PROPERTY STRINGS AUTO ON OFF)
option(NASHMP_CUDA_STATIC "Also build the CUDA kernels into the static library" OFF)

set(_NASHMP_CUDA_ROOT "${CMAKE_CURRENT_LIST_DIR}/..")
string(TOUPPER "${NASHMP_ENABLE_CUDA}" _nashmp_cuda_mode)
set(NASHMP_WITH_CUDA OFF)
if(_nashmp_cuda_mode MATCHES "^(AUTO|ON)$")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
      set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures of libnashmp")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(NASHMP_WITH_CUDA ON)
    message(STATUS "nashmp: CUDA kernels enabled (${CMAKE_CUDA_COMPILER}, "
                   "CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
  elseif(_nashmp_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "NASHMP_ENABLE_CUDA=ON but no CUDA compiler was found (put nvcc on PATH "
                        "or set CMAKE_CUDA_COMPILER), or use NASHMP_ENABLE_CUDA=AUTO/OFF")
  else()
    message(STATUS "nashmp: no CUDA compiler found: the nashmp_cuda_* entry points will return "
                   "NASHMP_ERR_UNSUPPORTED")
  endif()
elseif(NOT _nashmp_cuda_mode STREQUAL "OFF")
  message(FATAL_ERROR "NASHMP_ENABLE_CUDA must be AUTO, ON or OFF, got '${NASHMP_ENABLE_CUDA}'")
endif()

function(_nashmp_cuda_objects)
  if(TARGET nashmp_cuda_objects)
    return()
  endif()
  add_library(nashmp_cuda_objects OBJECT
    "${_NASHMP_CUDA_ROOT}/cuda/kernels.cu"
    "${_NASHMP_CUDA_ROOT}/cuda/solver.cu")
  target_include_directories(nashmp_cuda_objects PRIVATE
    "${_NASHMP_CUDA_ROOT}/include" "${_NASHMP_CUDA_ROOT}/src")
  string(REPLACE ";" "," _archs "${CMAKE_CUDA_ARCHITECTURES}")
  target_compile_definitions(nashmp_cuda_objects PRIVATE NASHMP_BUILDING
    "NASHMP_CUDA_ARCHS_STR=\"${_archs}\"")
  set_target_properties(nashmp_cuda_objects PROPERTIES
    CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON
    CUDA_VISIBILITY_PRESET hidden POSITION_INDEPENDENT_CODE ON)
  # -O3 for host code; device code is optimized by default. No --use_fast_math (it breaks -inf).
  target_compile_options(nashmp_cuda_objects PRIVATE -Xcompiler=-O3 -Xcompiler=-Wall)
endfunction()

function(nashmp_add_cuda tgt)
  get_target_property(_type ${tgt} TYPE)
  set(_cuda ${NASHMP_WITH_CUDA})
  if(_type STREQUAL "STATIC_LIBRARY" AND NOT NASHMP_CUDA_STATIC)
    set(_cuda OFF)
  endif()
  if(_cuda)
    _nashmp_cuda_objects()
    target_sources(${tgt} PRIVATE $<TARGET_OBJECTS:nashmp_cuda_objects>)
    target_link_libraries(${tgt} PRIVATE CUDA::cudart_static)
    # Link with the C compiler driver, not nvcc: the C targets' link options (sanitizers) are
    # for it. The nvcc-compiled host code needs the C++ runtime (static-init guards, unwinding).
    set_target_properties(${tgt} PROPERTIES LINKER_LANGUAGE C)
    if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang" AND NOT APPLE)
      target_link_libraries(${tgt} PRIVATE stdc++)
    endif()
    # nashmp_build_info() (util.c) reports the CUDA build
    target_compile_definitions(${tgt} PRIVATE "NASHMP_CUDA_INFO=\"cuda=yes\"")
    if(_type STREQUAL "SHARED_LIBRARY" AND CMAKE_SYSTEM_NAME MATCHES "Linux|BSD")
      # keep the static CUDA runtime's symbols out of libnashmp's exported interface
      target_link_options(${tgt} PRIVATE "LINKER:--exclude-libs,ALL")
    endif()
  else()
    target_sources(${tgt} PRIVATE "${_NASHMP_CUDA_ROOT}/src/cuda_stubs.c")
  endif()
endfunction()
