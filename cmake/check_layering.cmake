# Checks that every #include respects the module layering of docs/architecture.md.
# Run as: cmake -DROOT=<source dir> -P cmake/check_layering.cmake
# It is part of every build (target check_layering), so a violation fails the build.
#
# A module is a folder under src/ (storage/rocks counts as its own module). Each
# module lists the modules it may include; third-party headers with side effects
# on the layering (RocksDB, gRPC) are allowed only in the modules named below.

cmake_minimum_required(VERSION 3.25)

set(allow_common "")
set(allow_testing "common")
set(allow_storage "common")
set(allow_storage_rocks "storage;common")
set(allow_raft "common;proto")
set(allow_txn "storage;common;proto")
set(allow_raftstore "raft;storage;common;proto")
set(allow_scheduler "storage;common;proto")
set(allow_client "common;proto")
set(allow_server "raftstore;txn;raft;scheduler;client;storage;storage_rocks;common;proto")

set(rocksdb_allowed "storage_rocks")
set(grpc_allowed "server;client")

function(module_of_path rel out)
  if(rel MATCHES "^storage/rocks/")
    set(${out} storage_rocks PARENT_SCOPE)
  else()
    string(REGEX MATCH "^[^/]+" m "${rel}")
    set(${out} ${m} PARENT_SCOPE)
  endif()
endfunction()

set(errors "")
file(GLOB_RECURSE files RELATIVE "${ROOT}/src" "${ROOT}/src/*.h" "${ROOT}/src/*.cc")
foreach(rel IN LISTS files)
  module_of_path("${rel}" mod)
  if(NOT DEFINED allow_${mod})
    list(APPEND errors "src/${rel}: module '${mod}' is not declared in cmake/check_layering.cmake")
    continue()
  endif()
  set(allowed ${allow_${mod}} ${mod})
  set(is_test FALSE)
  if(rel MATCHES "_test\\.cc$")
    set(is_test TRUE)
    list(APPEND allowed testing)   # tests may use the shared test helpers
  endif()
  string(REGEX MATCH "^[^/]+" top "${rel}")
  file(STRINGS "${ROOT}/src/${rel}" includes REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS includes)
    if(line MATCHES "#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
      set(inc "${CMAKE_MATCH_1}")
    else()
      continue()
    endif()
    if(inc MATCHES "^rocksdb/")
      if(NOT mod IN_LIST rocksdb_allowed)
        list(APPEND errors "src/${rel}: includes <${inc}>: only storage/rocks may use RocksDB")
      endif()
    elseif(inc MATCHES "^grpcpp/|^grpc/|\\.grpc\\.pb\\.h$")
      if(NOT mod IN_LIST grpc_allowed AND NOT rel MATCHES "_test\\.cc$")
        list(APPEND errors "src/${rel}: includes <${inc}>: only server/ and client/ may use gRPC")
      endif()
    elseif(inc MATCHES "\\.pb\\.h$" AND NOT inc MATCHES "/")
      if(NOT "proto" IN_LIST allowed)
        list(APPEND errors "src/${rel}: includes ${inc}: module '${mod}' may not depend on the protocol")
      endif()
    elseif(inc MATCHES "^[a-z_]+/" )
      module_of_path("${inc}" target)
      # A test may also use the other modules of its own folder (storage/rocks
      # in a storage test).
      if(is_test AND inc MATCHES "^${top}/")
        continue()
      endif()
      if(DEFINED allow_${target} AND NOT target IN_LIST allowed)
        list(APPEND errors "src/${rel}: includes \"${inc}\": module '${mod}' may not depend on '${target}'")
      endif()
    endif()
  endforeach()
endforeach()

# Outside src/, only RocksDB is fenced off.
file(GLOB_RECURSE others RELATIVE "${ROOT}" "${ROOT}/tools/*.cc" "${ROOT}/tools/*.h"
     "${ROOT}/tests/*.cc" "${ROOT}/tests/*.h" "${ROOT}/bench/*.cc")
foreach(rel IN LISTS others)
  file(STRINGS "${ROOT}/${rel}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*<rocksdb/")
  if(includes)
    list(APPEND errors "${rel}: includes RocksDB, which only src/storage/rocks may")
  endif()
endforeach()

if(errors)
  list(JOIN errors "\n  " msg)
  message(FATAL_ERROR "layering violations:\n  ${msg}")
endif()
