# Warnings for the project's own targets only; dependencies are included as system headers.
function(kvs_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wno-sign-conversion)
  # Clang checks the KVS_GUARDED_BY/KVS_REQUIRES annotations (storage/thread_annotations.hpp);
  # a violation is a bug, so it is an error even without KVS_WERROR.
  if(KVS_THREAD_SAFETY_ANALYSIS AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety -Werror=thread-safety)
  endif()
  if(KVS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
