# Finds libsodium, which ships no CMake package config. Defines sodium::sodium.
include(${CMAKE_CURRENT_LIST_DIR}/KvsFindLibrary.cmake)
kvs_find_library(sodium sodium.h sodium sodium::sodium)
