# fuzz.cmake: hostile-input checks of issue 9 (owner: fuzz).
#   hardening_cli   over-long tokenizer vocab entries, model sizes that
#                   overflowed int, configs that are devices/FIFOs/binary
add_test(NAME hardening_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/hardening_cli.sh)
set_tests_properties(hardening_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
