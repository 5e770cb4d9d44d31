# Finds LMDB, which ships no CMake package config. Defines LMDB::LMDB.
include(${CMAKE_CURRENT_LIST_DIR}/KvsFindLibrary.cmake)
kvs_find_library(LMDB lmdb.h lmdb LMDB::LMDB)
