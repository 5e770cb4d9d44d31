# Checks the installed package as an outside project sees it, for one kind of libkvs (KIND: static
# or shared):
#   1. installs kvs into a scratch prefix: the current build when it is of that kind, otherwise a
#      scratch build of the `kvs` target alone with BUILD_SHARED_LIBS set for KIND;
#   2. for a shared libkvs, checks that it exports the kvs:: public API and nothing internal;
#   3. builds examples/ with find_package(kvs CONFIG) against the prefix and runs embedded_store;
#   4. compiles and links a small consumer with `pkg-config --cflags --libs kvs` (--static for a
#      static libkvs) and runs it.
# Inputs: KIND, KVS_BUILD_DIR, KVS_SOURCE_DIR, KVS_BUILD_SHARED (the current build's kind),
# KVS_VERSION, WORK_DIR, GENERATOR, BUILD_TYPE, CXX, CC, LAUNCHER (may be empty).
cmake_minimum_required(VERSION 3.21)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGN}")
  endif()
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${prefix} ${WORK_DIR}/examples ${WORK_DIR}/pkg-config)
set(tools -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_C_COMPILER=${CC})
if(LAUNCHER)
  list(APPEND tools -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER} -DCMAKE_C_COMPILER_LAUNCHER=${LAUNCHER})
endif()

# 1. Install. The scratch build stays between runs, so a rerun only rebuilds what changed.
set(shared OFF)
if(KIND STREQUAL "shared")
  set(shared ON)
endif()
set(current_kind static)
if(KVS_BUILD_SHARED)
  set(current_kind shared)
endif()
if(KIND STREQUAL current_kind)
  run(${CMAKE_COMMAND} --install ${KVS_BUILD_DIR} --prefix ${prefix})
else()
  # Built without optimisation (build type None: no flags) to keep the check quick; the
  # optimised library is the one the other kind installs from the current build.
  set(scratch ${WORK_DIR}/kvs-build)
  run(${CMAKE_COMMAND} -S ${KVS_SOURCE_DIR} -B ${scratch} ${tools} -DCMAKE_BUILD_TYPE=None -DBUILD_SHARED_LIBS=${shared}
      -DKVS_BUILD_TESTS=OFF -DKVS_BUILD_SERVER=OFF -DKVS_BUILD_CLI=OFF -DKVS_BUILD_BENCH=OFF -DKVS_BUILD_EXAMPLES=OFF
      -DKVS_INSTALL=ON -DCMAKE_INSTALL_PREFIX=${prefix})
  run(${CMAKE_COMMAND} --build ${scratch} --target kvs -j 2)
  run(${CMAKE_COMMAND} --install ${scratch} --prefix ${prefix})
endif()

file(GLOB_RECURSE static_libs ${prefix}/*/libkvs.a)
file(GLOB_RECURSE shared_libs ${prefix}/*/libkvs.so)
if(shared AND (static_libs OR NOT shared_libs))
  message(FATAL_ERROR "expected only a shared libkvs in ${prefix}: '${shared_libs}' '${static_libs}'")
elseif(NOT shared AND (shared_libs OR NOT static_libs))
  message(FATAL_ERROR "expected only a static libkvs in ${prefix}: '${static_libs}' '${shared_libs}'")
endif()

# 2. A shared libkvs exports the public API (KVS_EXPORT) and hides the internals.
if(shared)
  find_program(NM nm REQUIRED)
  execute_process(COMMAND ${NM} -DC --defined-only ${shared_libs} OUTPUT_VARIABLE exported RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "nm -DC ${shared_libs} failed")
  endif()
  # Names only up to the parameter list: a function returning std::string carries [abi:cxx11].
  foreach(symbol "kvs::Node::open(" "kvs::Node::put(" "kvs::normalize_key" "kvs::Status::to_string"
                 "kvs::load_config(" "kvs::system_clock()" "kvs::compare_versions(" "kvs::library_version()")
    string(FIND "${exported}" "${symbol}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "libkvs.so does not export ${symbol}")
    endif()
  endforeach()
  # Internal code lives in nested namespaces (kvs::storage, kvs::auth, ...) and in Node::Impl.
  string(REGEX MATCHALL "[^\n]* kvs::([a-z_]+::|Node::Impl)[^\n]*" internal "${exported}")
  if(internal)
    string(REPLACE ";" "\n" internal "${internal}")
    message(FATAL_ERROR "libkvs.so exports internal symbols:\n${internal}")
  endif()
endif()

# 3. examples/ as an outside project.
run(${CMAKE_COMMAND} -S ${KVS_SOURCE_DIR}/examples -B ${WORK_DIR}/examples ${tools} -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
    -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/examples -j 2)
run(${WORK_DIR}/examples/embedded_store)

# 4. pkg-config.
find_program(PKG_CONFIG pkg-config REQUIRED)
file(GLOB_RECURSE pc_file ${prefix}/*/pkgconfig/kvs.pc)
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
set(pkg_config_args --cflags --libs kvs)
if(NOT shared)
  list(PREPEND pkg_config_args --static)
endif()
execute_process(COMMAND ${PKG_CONFIG} ${pkg_config_args} OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE result)
execute_process(COMMAND ${PKG_CONFIG} --variable=libdir kvs OUTPUT_VARIABLE libdir OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT result EQUAL 0 OR NOT libdir)
  message(FATAL_ERROR "pkg-config ${pkg_config_args} failed (${result}) with ${pc_file}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
set(consumer ${WORK_DIR}/pkg-config)
file(MAKE_DIRECTORY ${consumer})
file(WRITE ${consumer}/consumer.cpp [=[
// Opens a node, writes and reads one key: the whole library, not only a header-only corner.
#include <cstdio>
#include <string_view>

#include <kvs/kvs.hpp>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  if (kvs::library_version() != std::string_view(argv[2])) return 3;
  kvs::Config config;
  config.data_dir = argv[1];
  config.clustering_enabled = false;
  config.auth_enabled = false;
  config.backup_enabled = false;
  auto node = kvs::Node::open(config);
  if (!node) {
    std::fprintf(stderr, "open: %s\n", node.status().to_string().c_str());
    return 4;
  }
  auto written = (*node)->put("/consumer/key/", R"({"pkg":"config"})");
  auto read = (*node)->get("consumer/key");
  if (!written || !read || read->data != R"({"pkg":"config"})") return 5;
  std::puts("pkg-config consumer: ok");
  return 0;
}
]=])
set(link_args ${flags})
if(shared)
  list(APPEND link_args -Wl,-rpath,${libdir})
endif()
run(${CXX} -std=c++20 ${consumer}/consumer.cpp -o ${consumer}/consumer ${link_args})
run(${consumer}/consumer ${consumer}/data ${KVS_VERSION})
