# dist.cmake: MPI data-parallel training tests (tests/dist_cli.sh), 2 ranks oversubscribed.
add_test(NAME dist_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/dist_cli.sh)
set_tests_properties(dist_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
