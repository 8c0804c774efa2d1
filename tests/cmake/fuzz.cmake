# fuzz.cmake: hostile-input checks of issue 9 and the fuzz targets (owner: fuzz).
#
#   hardening_cli        over-long tokenizer vocab entries, model sizes that
#                        overflowed int, configs that are devices/FIFOs/binary
#   fuzz_regress_<t>     default suite: replays tests/fuzz/corpus/<t> (seeds)
#                        and tests/fuzz/regress/<t> (every crash found, kept
#                        fixed) through the target, built with this build's
#                        compiler and sanitizers (regress_main.c)
#   serve_utf8           serve answers errors holding invalid UTF-8 with JSON
#   alloc_check          no allocation in src/ bypasses ll_malloc & co. (the
#                        failure-injection hook must reach every one)
#   fuzz_run             labels fuzz + long: tests/fuzz/run.sh builds the real
#                        libFuzzer targets with clang into build-fuzz/ and runs
#                        each for LLMPI_FUZZ_SECONDS (default 60)
#
# With -DLLMPI_FUZZ=ON (set by run.sh, with clang and
# CMAKE_C_FLAGS=-fsanitize=fuzzer-no-link,address,undefined) the libFuzzer
# executables fuzz_<t> are built as well.
add_test(NAME hardening_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/hardening_cli.sh)
set_tests_properties(hardening_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)

add_test(NAME alloc_check COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/alloc_check.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(alloc_check PROPERTIES TIMEOUT 60)

option(LLMPI_FUZZ "Build the libFuzzer targets (clang only)" OFF)
set(LLMPI_FUZZ_TARGETS tok config store ckpt sft st http)
set(_fuzz_dir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
foreach(t ${LLMPI_FUZZ_TARGETS})
  add_executable(fuzz_regress_${t} ${_fuzz_dir}/fuzz_${t}.c ${_fuzz_dir}/regress_main.c)
  target_link_libraries(fuzz_regress_${t} PRIVATE llmpi_core)
  add_test(NAME fuzz_regress_${t} COMMAND fuzz_regress_${t} ${_fuzz_dir}/corpus/${t} ${_fuzz_dir}/regress/${t})
  set_tests_properties(fuzz_regress_${t} PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" TIMEOUT 300)
  if(LLMPI_FUZZ)
    add_executable(fuzz_${t} ${_fuzz_dir}/fuzz_${t}.c)
    target_link_libraries(fuzz_${t} PRIVATE llmpi_core)
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  endif()
endforeach()

add_test(NAME fuzz_run COMMAND bash ${_fuzz_dir}/run.sh)
set_tests_properties(fuzz_run PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 3600
  LABELS "fuzz;long")

# serve_utf8: `llmpi serve` answers errors whose message held invalid UTF-8
# (a cut model name, found by fuzz_http; a %FF in the URL) with their JSON body
add_test(NAME serve_utf8 COMMAND bash ${_fuzz_dir}/serve_utf8.sh)
set_tests_properties(serve_utf8 PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
