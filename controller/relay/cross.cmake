# muster-relay for other architectures: muster-relay.<arch> beside
# muster-relay, one per entry of MUSTER_RELAY_ARCHES. Each is this source
# tree configured again (MUSTER_RELAY_ONLY) with Debian's cross gcc and
# that architecture's static archives from its -dev packages (multiarch:
# libssh-dev:arm64 and the rest, deploy/install-deps), linked statically as
# the native muster-relay is. The controller sends a gateway the one its
# `uname -m` names (agentbin.c, relayset_load).
#
# Inputs: MUSTER_RELAY_ARCHES, MUSTER_AGENT_STATIC (the build id of the
# agents the relay starts is computed with it: both builds must agree).

include(ExternalProject)

# arch -> gcc triple (the multiarch directory has the same name)
set(_relay_aarch64 "aarch64-linux-gnu")

if(NOT MUSTER_AGENT_STATIC)
  message(FATAL_ERROR "MUSTER_RELAY_ARCHES=${MUSTER_RELAY_ARCHES} needs MUSTER_AGENT_STATIC=ON "
    "(a relay for another architecture is a static binary)")
endif()

foreach(arch IN LISTS MUSTER_RELAY_ARCHES)
  if(NOT DEFINED _relay_${arch})
    message(FATAL_ERROR "MUSTER_RELAY_ARCHES: no relay cross build for \"${arch}\" "
      "(known: aarch64)")
  endif()
  set(triple ${_relay_${arch}})
  find_program(_relay_cc_${arch} ${triple}-gcc)
  find_program(_relay_objcopy_${arch} ${triple}-objcopy)
  if(NOT _relay_cc_${arch} OR NOT _relay_objcopy_${arch}
     OR NOT EXISTS /usr/lib/${triple}/libssh.a OR NOT EXISTS /usr/lib/${triple}/libcrypto.a)
    message(FATAL_ERROR "MUSTER_RELAY_ARCHES=${MUSTER_RELAY_ARCHES}: the ${arch} relay needs "
      "${triple}-gcc and the static libraries of libssh-dev, libssl-dev, zlib1g-dev, "
      "libjansson-dev, libyaml-dev, libprotobuf-c-dev and libev-dev for ${arch} in "
      "/usr/lib/${triple}: run deploy/install-deps, or configure with "
      "-DMUSTER_RELAY_ARCHES= for no cross-built relay")
  endif()
  set(dir ${CMAKE_BINARY_DIR}/relay-${arch})
  # Only that architecture's pkg-config files (configure and any
  # re-configure from the build), and its libraries.
  set(env ${CMAKE_COMMAND} -E env
    PKG_CONFIG_LIBDIR=/usr/lib/${triple}/pkgconfig:/usr/share/pkgconfig)
  ExternalProject_Add(relay_${arch}
    SOURCE_DIR ${CMAKE_SOURCE_DIR}
    BINARY_DIR ${dir}
    CONFIGURE_COMMAND ${env} ${CMAKE_COMMAND} -S ${CMAKE_SOURCE_DIR} -B ${dir}
      -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}
      -DCMAKE_SYSTEM_NAME=Linux
      -DCMAKE_SYSTEM_PROCESSOR=${arch}
      -DCMAKE_C_COMPILER=${_relay_cc_${arch}}
      -DOBJCOPY_PROGRAM=${_relay_objcopy_${arch}}
      -DMUSTER_RELAY_ONLY=ON
      -DMUSTER_AGENT_STATIC=${MUSTER_AGENT_STATIC}
      -DMUSTER_AGENT_ARCHES=
      -DMUSTER_RELAY_ARCHES=
      -DMUSTER_WERROR=${MUSTER_WERROR}
    BUILD_COMMAND ${env} ${CMAKE_COMMAND} --build ${dir} --target muster-relay
    BUILD_ALWAYS ON
    INSTALL_COMMAND ${CMAKE_COMMAND} -E copy ${dir}/bin/muster-relay
      ${CMAKE_BINARY_DIR}/bin/muster-relay.${arch})
  add_dependencies(muster relay_${arch})
  install(PROGRAMS ${CMAKE_BINARY_DIR}/bin/muster-relay.${arch} DESTINATION libexec/muster)
endforeach()
