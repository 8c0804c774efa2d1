# plot.cmake: `llmpi plot` end to end (tests/plot_cli.sh); skips (77) without gnuplot.
add_test(NAME plot_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/plot_cli.sh)
set_tests_properties(plot_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 120)
