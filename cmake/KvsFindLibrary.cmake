# kvs_find_library(<package> <header> <library> <target>): the body of a find module for a C
# library that ships no CMake package config (LMDB, libsodium). Finds the header and the
# library, reports like any find_package (<package>_FOUND, REQUIRED, QUIET), and defines the
# imported <target>. A macro, so that <package>_FOUND lands in the caller's scope. Installed
# next to the find modules, which include it from their own folder.
macro(kvs_find_library package header library target)
  find_path(${package}_INCLUDE_DIR ${header})
  find_library(${package}_LIBRARY NAMES ${library})
  include(FindPackageHandleStandardArgs)
  find_package_handle_standard_args(${package} REQUIRED_VARS ${package}_LIBRARY ${package}_INCLUDE_DIR)
  if(${package}_FOUND AND NOT TARGET ${target})
    add_library(${target} UNKNOWN IMPORTED)
    set_target_properties(${target} PROPERTIES
        IMPORTED_LOCATION "${${package}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${${package}_INCLUDE_DIR}")
  endif()
  mark_as_advanced(${package}_INCLUDE_DIR ${package}_LIBRARY)
endmacro()
