# scripts.cmake: checks of scripts/, .ci/run, configs and data/ (owner: scripts).
# quickstart_smoke runs the real quickstart on the built binary (tiny config,
# 4 steps); scripts_check needs no binary.
add_test(NAME scripts_check COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/scripts/scripts_check.sh)
add_test(NAME quickstart_smoke COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/scripts/quickstart_smoke.sh)
set_tests_properties(scripts_check quickstart_smoke PROPERTIES
  ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
