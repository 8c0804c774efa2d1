# store.cmake: CLI tests of `llmpi prepare` and `llmpi info` (tests/store_cli.sh).
add_test(NAME store_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/store_cli.sh)
set_tests_properties(store_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 120)
# Disk full under prepare (a 2 MB tmpfs; skipped without root).
add_test(NAME store_diskfull COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/store_diskfull.sh)
set_tests_properties(store_diskfull PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
