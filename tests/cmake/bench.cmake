# bench: the training-benchmark harness on a tiny model (a few seconds).
# The real benchmark (benchmarks/train_bench.sh) is run by hand, not by CTest.
add_test(NAME bench_train_smoke
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/bench_train_smoke.sh
          $<TARGET_FILE:bench_train> $<TARGET_FILE:sgemm_peak>)
set_tests_properties(bench_train_smoke PROPERTIES
  ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
