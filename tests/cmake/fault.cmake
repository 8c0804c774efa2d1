# fault.cmake: failure injection, SQLite style (issue 9; tests/fault_sweep.sh).
# The default suite sweeps N = 1, 2, 4, 8, ... (at most about 60 s in all,
# shared by the commands); the `long` label sweeps every N. From build-asan
# both run with leak detection on (the script sets ASAN_OPTIONS itself).
add_test(NAME fault_sweep COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fault_sweep.sh --thin 1 --budget 60)
set_tests_properties(fault_sweep PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
add_test(NAME fault_sweep_full COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fault_sweep.sh)
set_tests_properties(fault_sweep_full PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 7200
                     LABELS long)
