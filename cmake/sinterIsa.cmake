# Compiler flags for sinter's own tests, benchmarks and examples.
#
# The exported `sinter::sinter` target carries no -march flag: a consumer picks
# its own. These settings only reach targets that link `sinter_build_flags`
# (every program under tests/, bench/ and examples/) and, for sanitizers,
# `sinter_sanitize_flags` (tests and examples).

include(CheckCXXCompilerFlag)

set(SINTER_ISA "native" CACHE STRING
  "Instruction set for sinter's own tests/bench/examples: native, avx512, avx2, sse4.2, armv8, cortex-a76, none")
set_property(CACHE SINTER_ISA PROPERTY STRINGS native avx512 avx2 sse4.2 armv8 cortex-a76 none)

set(SINTER_SANITIZE "OFF" CACHE STRING
  "Sanitizers for sinter's tests and examples: OFF, address-undefined or thread")
set_property(CACHE SINTER_SANITIZE PROPERTY STRINGS OFF address-undefined thread)

# ISA -> (flag, target family, float lanes of xsimd's default batch).
# The lane count lets the smoke test prove that the flag reached the compiler.
set(_sinter_isa_flag "")
set(_sinter_isa_family "")
set(_sinter_isa_lanes "")
if(SINTER_ISA STREQUAL "native")
  set(_sinter_isa_flag "-march=native")
elseif(SINTER_ISA STREQUAL "avx512")
  set(_sinter_isa_flag "-march=x86-64-v4")
  set(_sinter_isa_family x86)
  set(_sinter_isa_lanes 16)
elseif(SINTER_ISA STREQUAL "avx2")
  set(_sinter_isa_flag "-march=x86-64-v3")
  set(_sinter_isa_family x86)
  set(_sinter_isa_lanes 8)
elseif(SINTER_ISA STREQUAL "sse4.2" OR SINTER_ISA STREQUAL "sse42")
  set(_sinter_isa_flag "-march=x86-64-v2")
  set(_sinter_isa_family x86)
  set(_sinter_isa_lanes 4)
elseif(SINTER_ISA STREQUAL "armv8")
  set(_sinter_isa_flag "-march=armv8-a")
  set(_sinter_isa_family arm)
  set(_sinter_isa_lanes 4)
elseif(SINTER_ISA STREQUAL "cortex-a76")
  set(_sinter_isa_flag "-mcpu=cortex-a76")
  set(_sinter_isa_family arm)
  set(_sinter_isa_lanes 4)
elseif(SINTER_ISA STREQUAL "none")
  # compiler default
else()
  message(FATAL_ERROR
    "SINTER_ISA='${SINTER_ISA}' is not one of: native avx512 avx2 sse4.2 armv8 cortex-a76 none")
endif()

string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _sinter_proc)
if(_sinter_proc MATCHES "^(x86_64|amd64|i[3-6]86|x86)$")
  set(_sinter_target_family x86)
elseif(_sinter_proc MATCHES "^(aarch64|arm64|armv8.*)$")
  set(_sinter_target_family arm)
else()
  set(_sinter_target_family "${_sinter_proc}")
endif()

if(_sinter_isa_family AND NOT _sinter_isa_family STREQUAL _sinter_target_family)
  message(FATAL_ERROR
    "SINTER_ISA='${SINTER_ISA}' targets ${_sinter_isa_family} but the compiler targets "
    "'${CMAKE_SYSTEM_PROCESSOR}'. Pick an ISA of that processor, or 'none'.")
endif()
if(SINTER_ISA STREQUAL "native" AND CMAKE_CROSSCOMPILING)
  message(FATAL_ERROR
    "SINTER_ISA=native makes no sense when cross-compiling; pick the target's ISA "
    "(for aarch64: armv8 or cortex-a76).")
endif()

# Identifies the flag in the names of cached check results, so that changing
# SINTER_ISA in an existing build directory runs the checks again.
string(MAKE_C_IDENTIFIER "_${_sinter_isa_flag}" _sinter_flag_id)
if(_sinter_isa_flag)
  check_cxx_compiler_flag("${_sinter_isa_flag}" SINTER_HAS_FLAG${_sinter_flag_id})
  if(NOT SINTER_HAS_FLAG${_sinter_flag_id})
    message(FATAL_ERROR
      "SINTER_ISA='${SINTER_ISA}': ${CMAKE_CXX_COMPILER} does not accept ${_sinter_isa_flag}")
  endif()
endif()

add_library(sinter_build_flags INTERFACE)
target_link_libraries(sinter_build_flags INTERFACE sinter::sinter)
if(_sinter_isa_flag)
  target_compile_options(sinter_build_flags INTERFACE ${_sinter_isa_flag})
endif()
if(_sinter_isa_lanes)
  target_compile_definitions(sinter_build_flags INTERFACE
    SINTER_TEST_EXPECTED_FLOAT_LANES=${_sinter_isa_lanes})
endif()
target_compile_definitions(sinter_build_flags INTERFACE "SINTER_TEST_ISA=\"${SINTER_ISA}\"")
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(sinter_build_flags INTERFACE -Wall -Wextra -Wpedantic)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 12.3)
    # In GCC 12.0-12.2 the AVX-512 intrinsics, whose unused merge source is the
    # self-initialised _mm512_undefined_ps() & co., trigger false
    # -W(maybe-)uninitialized reports in every caller. Silence them only in
    # builds that enable AVX-512; the other ISA builds keep the warnings.
    include(CheckCXXSourceCompiles)
    set(CMAKE_REQUIRED_FLAGS "${_sinter_isa_flag}")
    check_cxx_source_compiles("
      #ifndef __AVX512F__
      #error no AVX-512
      #endif
      int main() { return 0; }" SINTER_AVX512_WITH_${_sinter_flag_id})
    unset(CMAKE_REQUIRED_FLAGS)
    if(SINTER_AVX512_WITH_${_sinter_flag_id})
      target_compile_options(sinter_build_flags INTERFACE
        -Wno-uninitialized -Wno-maybe-uninitialized)
    endif()
  endif()
  if(SINTER_WARNINGS_AS_ERRORS)
    target_compile_options(sinter_build_flags INTERFACE -Werror)
  endif()
endif()

option(SINTER_SANITIZE_USE_AFTER_SCOPE
  "With SINTER_SANITIZE, also detect uses of stack objects after their scope (about 2.5x the compile time)" OFF)
option(SINTER_SANITIZE_POINTER_CHECKS
  "With SINTER_SANITIZE=address-undefined, also UBSan's null, alignment and pointer-overflow checks (about 4x the compile time)" OFF)

add_library(sinter_sanitize_flags INTERFACE)
if(SINTER_SANITIZE STREQUAL "address-undefined")
  set(_sinter_san -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_compile_options(sinter_sanitize_flags INTERFACE ${_sinter_san})
  target_link_options(sinter_sanitize_flags INTERFACE ${_sinter_san})
  if(NOT SINTER_SANITIZE_USE_AFTER_SCOPE)
    # The per-variable poisoning of use-after-scope checks is what makes
    # AddressSanitizer slow to compile on the fully unrolled register tiles.
    target_compile_options(sinter_sanitize_flags INTERFACE -fno-sanitize-address-use-after-scope)
  endif()
  if(NOT SINTER_SANITIZE_POINTER_CHECKS)
    # UBSan checks every reference binding and member call (null, alignment) and every
    # pointer addition (pointer-overflow) before inlining; on the unrolled register tiles
    # these checks take GCC 12 from 12 s to 48 s per fused depthwise chain (-O1) and
    # 6.5 GB for a test file. AddressSanitizer still stops on any access through a null
    # or out-of-bounds pointer, and the other UBSan checks stay on.
    target_compile_options(sinter_sanitize_flags INTERFACE -fno-sanitize=null,alignment,pointer-overflow)
  endif()
  # Lets a test shrink an exhaustive sweep in the (slower) sanitizer build.
  target_compile_definitions(sinter_sanitize_flags INTERFACE SINTER_TEST_SANITIZED=1)
elseif(SINTER_SANITIZE STREQUAL "thread")
  set(_sinter_san -fsanitize=thread -fno-omit-frame-pointer)
  target_compile_options(sinter_sanitize_flags INTERFACE ${_sinter_san})
  target_link_options(sinter_sanitize_flags INTERFACE ${_sinter_san})
  target_compile_definitions(sinter_sanitize_flags INTERFACE SINTER_TEST_SANITIZED=1)
elseif(NOT SINTER_SANITIZE STREQUAL "OFF" AND SINTER_SANITIZE)
  message(FATAL_ERROR "SINTER_SANITIZE='${SINTER_SANITIZE}' is not one of: OFF address-undefined thread")
endif()

message(STATUS "sinter: ISA=${SINTER_ISA} (${_sinter_isa_flag}), sanitize=${SINTER_SANITIZE}, "
               "build type=${CMAKE_BUILD_TYPE}, target=${CMAKE_SYSTEM_PROCESSOR}")
