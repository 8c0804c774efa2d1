# Cleanup stage (owner: clean): the CLI end to end on the fixtures, and the
# library on the whole Gutenberg corpus (exit 77 without ../shared/data).
add_test(NAME clean_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/clean_cli.sh)
set_tests_properties(clean_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 120)
add_test(NAME test_clean_corpus COMMAND test_clean --corpus WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_clean_corpus PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
