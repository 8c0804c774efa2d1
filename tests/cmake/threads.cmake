# threads.cmake: the tests that exercise threads we start ourselves carry the
# label "threads"; scripts/test runs `ctest -L threads` in the ThreadSanitizer
# build (build-tsan/, -DLLMPI_TSAN=ON). Included after the other tests/cmake
# files (alphabetical glob), so the tests named here exist already.
#   test_loader        the loader's prefetch thread
#   test_tok_threads   the tokenizer's encoder pool under POSIX threads
#   test_tok           the same through OpenMP (single-threaded under TSan)
#   test_ckpt_writer   the asynchronous checkpoint writer's thread
#   dist_threads       the reducer's communication thread, 2 MPI ranks, small
#                      buckets so that it overlaps backward (DDP and ZeRO-1)
add_test(NAME dist_threads COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tsan/dist_threads.sh)
set_tests_properties(dist_threads PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)

set(LLMPI_THREAD_TESTS test_loader test_tok_threads test_tok test_ckpt_writer dist_threads)
foreach(t ${LLMPI_THREAD_TESTS})
  if(NOT TEST ${t})
    message(FATAL_ERROR "threads.cmake: test '${t}' does not exist (renamed? update LLMPI_THREAD_TESTS)")
  endif()
  set_property(TEST ${t} APPEND PROPERTY LABELS threads)
  if(LLMPI_TSAN)
    # halt_on_error: the first race fails the test. The suppressions file
    # names each entry's reason; OpenMP is compiled out (CMakeLists.txt), so
    # one thread each for our regions and OpenBLAS.
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
      "TSAN_OPTIONS=halt_on_error=1 second_deadlock_stack=1 suppressions=${CMAKE_CURRENT_SOURCE_DIR}/tsan/suppressions.txt"
      "OMP_NUM_THREADS=1" "OPENBLAS_NUM_THREADS=1")
  endif()
endforeach()
