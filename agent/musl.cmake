# The small agents: muster-agent.<arch>, one per entry of
# MUSTER_AGENT_ARCHES, each a static musl binary built with Debian's cross
# gcc and that architecture's musl-dev (multiarch), together with the
# libev and protobuf-c sources (Debian's static archives are built against
# glibc). The controller sends each host the one its `uname -m` names
# (controller/agentbin.c has the same table of names).
#
# Inputs: AGENT_SOURCES, PROTO_LIB_SOURCES, PROTO_GEN (the generated
# muster.pb-c.c) from the top-level CMakeLists.txt.

set(MUSTER_AGENT_SRC_DIR "/usr/local/src/muster-agent-deps" CACHE PATH
    "Where deploy/install-deps puts the libev and protobuf-c source tarballs for the musl agents")

# arch (the canonical `uname -m`) -> gcc triple, musl library directory,
# Debian architecture (for the error message).
set(_arch_x86_64  "x86_64-linux-gnu;x86_64-linux-musl;amd64")
set(_arch_aarch64 "aarch64-linux-gnu;aarch64-linux-musl;arm64")
set(_arch_armv7l  "arm-linux-gnueabihf;arm-linux-musleabihf;armhf")
set(_arch_riscv64 "riscv64-linux-gnu;riscv64-linux-musl;riscv64")
set(_arch_ppc64le "powerpc64le-linux-gnu;powerpc64le-linux-musl;ppc64el")
set(_arch_s390x   "s390x-linux-gnu;s390x-linux-musl;s390x")
set(_arch_i686    "i686-linux-gnu;i386-linux-musl;i386")

file(GLOB _ev_tar "${MUSTER_AGENT_SRC_DIR}/libev_*.orig.tar.gz")
file(GLOB _pbc_tar "${MUSTER_AGENT_SRC_DIR}/protobuf-c_*.orig.tar.gz")
if(NOT _ev_tar OR NOT _pbc_tar)
  message(FATAL_ERROR "MUSTER_AGENT_ARCHES=${MUSTER_AGENT_ARCHES} needs the libev and "
    "protobuf-c source tarballs in MUSTER_AGENT_SRC_DIR=${MUSTER_AGENT_SRC_DIR}: "
    "run deploy/install-deps, or configure with -DMUSTER_AGENT_ARCHES= for no musl agents")
endif()
list(GET _ev_tar 0 _ev_tar)
list(GET _pbc_tar 0 _pbc_tar)
set(_deps ${CMAKE_BINARY_DIR}/agent-deps)
if(NOT EXISTS ${_deps}/.extracted OR ${_ev_tar} IS_NEWER_THAN ${_deps}/.extracted
   OR ${_pbc_tar} IS_NEWER_THAN ${_deps}/.extracted)
  file(REMOVE_RECURSE ${_deps})
  file(MAKE_DIRECTORY ${_deps})
  file(ARCHIVE_EXTRACT INPUT ${_ev_tar} DESTINATION ${_deps})
  file(ARCHIVE_EXTRACT INPUT ${_pbc_tar} DESTINATION ${_deps})
  file(TOUCH ${_deps}/.extracted)
endif()
file(GLOB _ev_dir LIST_DIRECTORIES true "${_deps}/libev-*")
file(GLOB _pbc_dir LIST_DIRECTORIES true "${_deps}/protobuf-c-*")

# libev as Debian configures it on Linux, minus what the agent never uses
# (inotify, linux-aio, io_uring, select): both ev.c and the agent see the
# same ev.h settings, as they are compiled in one go. Warnings are off:
# ev.c has many, and the agent's own code gets -Werror in muster-agent.
set(_ev_defs -DEV_STANDALONE=1 -DEV_USE_EPOLL=1 -DEV_USE_POLL=1 -DEV_USE_SELECT=0
    -DEV_USE_INOTIFY=0 -DEV_USE_LINUXAIO=0 -DEV_USE_IOURING=0 -DEV_USE_EVENTFD=1
    -DEV_USE_SIGNALFD=1 -DEV_USE_TIMERFD=0 -DEV_USE_MONOTONIC=1 -DEV_USE_REALTIME=0
    -DEV_USE_CLOCK_SYSCALL=0 -DEV_USE_NANOSLEEP=1 -DEV_USE_FLOOR=0 -DEV_NO_THREADS=1)
set(_srcs ${AGENT_SOURCES} ${PROTO_LIB_SOURCES} ${PROTO_GEN}/muster.pb-c.c
    ${_ev_dir}/ev.c ${_pbc_dir}/protobuf-c/protobuf-c.c)
list(FILTER _srcs INCLUDE REGEX "\\.c$")
list(TRANSFORM _srcs PREPEND "${CMAKE_SOURCE_DIR}/" REGEX "^proto/")

file(GLOB _proto_headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/proto/*.h)
set(MUSTER_MUSL_AGENTS "")
foreach(arch IN LISTS MUSTER_AGENT_ARCHES)
  if(NOT DEFINED _arch_${arch})
    message(FATAL_ERROR "MUSTER_AGENT_ARCHES: unknown architecture '${arch}' "
      "(known: x86_64 aarch64 armv7l riscv64 ppc64le s390x i686)")
  endif()
  list(GET _arch_${arch} 0 triple)
  list(GET _arch_${arch} 1 musldir)
  list(GET _arch_${arch} 2 debarch)
  find_program(_cc_${arch} ${triple}-gcc)
  find_program(_objcopy_${arch} NAMES ${triple}-objcopy objcopy)
  set(specs /usr/lib/${musldir}/musl-gcc.specs)
  if(NOT _cc_${arch} OR NOT EXISTS ${specs})
    message(FATAL_ERROR "MUSTER_AGENT_ARCHES names ${arch}, which needs ${triple}-gcc "
      "(apt-get install gcc-${triple}) and ${specs} (dpkg --add-architecture ${debarch}; "
      "apt-get install musl-dev:${debarch}); or leave ${arch} out of MUSTER_AGENT_ARCHES")
  endif()
  set(out ${CMAKE_BINARY_DIR}/bin/muster-agent.${arch})
  set(dbg ${CMAKE_BINARY_DIR}/agent-debug/muster-agent.${arch}.debug)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/agent-debug
    COMMAND ${_cc_${arch}} -specs ${specs} -std=gnu11 -D_GNU_SOURCE -O2 -g
            -w -Werror=implicit-function-declaration -fno-strict-aliasing -static
            -ffunction-sections -fdata-sections -Wl,--gc-sections
            ${_ev_defs} -isystem ${_ev_dir} -isystem ${_pbc_dir} -I${CMAKE_SOURCE_DIR}/proto -I${PROTO_GEN}
            -o ${dbg} ${_srcs} -lm
    COMMAND ${_objcopy_${arch}} --strip-all --add-gnu-debuglink=${dbg} ${dbg} ${out}
    DEPENDS ${_srcs} ${AGENT_SOURCES} ${_proto_headers} ${PROTO_GEN}/build_id.h ${PROTO_GEN}/muster.pb-c.h
    COMMENT "muster-agent.${arch} (musl, static)" VERBATIM)
  list(APPEND MUSTER_MUSL_AGENTS ${out})
  # The SHA-256 paths of this architecture (tests/unit/sha256_cross.c).
  set(shatest ${CMAKE_BINARY_DIR}/tests/sha256_cross.${arch})
  add_custom_command(
    OUTPUT ${shatest}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/tests
    COMMAND ${_cc_${arch}} -specs ${specs} -std=gnu11 -D_GNU_SOURCE -O2 -static
            -Wall -Wextra -Werror -o ${shatest} ${CMAKE_SOURCE_DIR}/tests/unit/sha256_cross.c
    DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/sha256_cross.c ${CMAKE_SOURCE_DIR}/agent/sha256.c
            ${CMAKE_SOURCE_DIR}/agent/sha256.h
    COMMENT "sha256_cross.${arch}" VERBATIM)
  list(APPEND MUSTER_MUSL_AGENTS ${shatest})
endforeach()
add_custom_target(musl_agents ALL DEPENDS ${MUSTER_MUSL_AGENTS})
list(FILTER MUSTER_MUSL_AGENTS INCLUDE REGEX "/bin/muster-agent")
install(PROGRAMS ${MUSTER_MUSL_AGENTS} DESTINATION libexec/muster)
