# Cross toolchain: Debian's g++-aarch64-linux-gnu, with arm64 multiarch
# libraries (e.g. libbenchmark-dev:arm64 after `dpkg --add-architecture arm64`)
# and tests run by ctest under qemu-aarch64.
#
#   cmake --preset aarch64        # or: cmake -S . -B build/aarch64 \
#                                 #   -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
#                                 #   -DSINTER_ISA=armv8
# Needs: g++-aarch64-linux-gnu qemu-user libxsimd-dev:arm64 libbenchmark-dev:arm64

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(SINTER_CROSS_TRIPLE aarch64-linux-gnu)
set(SINTER_CROSS_SYSROOT /usr/${SINTER_CROSS_TRIPLE}
  CACHE PATH "Root of the aarch64 libc and libstdc++ used by qemu-aarch64 -L")

set(CMAKE_C_COMPILER   ${SINTER_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SINTER_CROSS_TRIPLE}-g++)

# Debian multiarch: the arm64 packages install to /usr/lib/aarch64-linux-gnu,
# their CMake configs to /usr/lib/aarch64-linux-gnu/cmake, and their headers to
# /usr/include (which the cross compiler already searches, after its own
# /usr/aarch64-linux-gnu/include). Naming the library architecture makes
# find_package/find_library look in the aarch64 directories and never in the
# host's /usr/lib/x86_64-linux-gnu. The roots are the cross sysroot and "/"
# (the multiarch tree itself); programs (qemu) come from the host.
set(CMAKE_LIBRARY_ARCHITECTURE ${SINTER_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${SINTER_CROSS_TRIPLE} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Run target executables (ctest, and anything CMake runs at build time) under
# user-mode qemu, with the cross sysroot as the dynamic loader's root; paths
# missing there (e.g. /usr/lib/aarch64-linux-gnu/libbenchmark.so.1) fall back
# to the host file system.
find_program(SINTER_QEMU_AARCH64 qemu-aarch64)
if(SINTER_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SINTER_QEMU_AARCH64} -L ${SINTER_CROSS_SYSROOT})
else()
  message(WARNING "qemu-aarch64 not found (Debian: qemu-user): tests will build but ctest cannot run them")
endif()
