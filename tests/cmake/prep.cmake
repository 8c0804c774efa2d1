# prep.cmake: the parallel `llmpi prepare` (tests/prepare_mpi.sh): identical
# stores with 1, 2 and 3 ranks, bad inputs, eot per document.
add_test(NAME prepare_mpi COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/prepare_mpi.sh)
set_tests_properties(prepare_mpi PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
