# Checks packaging/kvs.service.in with `systemd-analyze verify`, the way systemd would load it:
# the unit's ExecStart is pointed at the kvs-server just built (verify insists that the binary
# exists) and any complaint, even one systemd only warns about, fails the test.
# Usage: cmake -DUNIT_IN=... -DSERVER=... -DWORK_DIR=... -P verify_unit.cmake
find_program(SYSTEMD_ANALYZE systemd-analyze)
if(NOT SYSTEMD_ANALYZE)
  message("SKIPPED: systemd-analyze is not installed; the unit was not verified")
  return()
endif()
file(MAKE_DIRECTORY "${WORK_DIR}")
get_filename_component(CMAKE_INSTALL_FULL_BINDIR "${SERVER}" DIRECTORY)
configure_file("${UNIT_IN}" "${WORK_DIR}/kvs.service" @ONLY)
file(READ "${WORK_DIR}/kvs.service" unit)
if(NOT unit MATCHES "ExecStart=${CMAKE_INSTALL_FULL_BINDIR}/kvs-server /etc/kvs/config.yaml")
  message(FATAL_ERROR "the unit's ExecStart does not run kvs-server with /etc/kvs/config.yaml")
endif()
foreach(directive "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes"
                  "StateDirectory=kvs" "User=kvs")
  string(FIND "${unit}" "\n${directive}\n" found)
  if(found EQUAL -1)
    message(FATAL_ERROR "the unit lacks ${directive}")
  endif()
endforeach()
execute_process(COMMAND "${SYSTEMD_ANALYZE}" verify "${WORK_DIR}/kvs.service"
                RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
if(NOT result EQUAL 0 OR NOT "${out}${err}" STREQUAL "")
  message(FATAL_ERROR "systemd-analyze verify failed (${result}):\n${out}${err}")
endif()
message("systemd-analyze verify: kvs.service is clean")
