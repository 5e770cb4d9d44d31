# Warnings for the project's own targets only; dependencies are included as system headers.
function(kvs_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wno-sign-conversion)
  if(KVS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
