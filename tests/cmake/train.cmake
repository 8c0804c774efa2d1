# train.cmake: CLI tests of pretrain / eval / sample (tests/train_cli.sh).
add_test(NAME train_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/train_cli.sh)
set_tests_properties(train_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
# issue 9: existing runs, empty paths, pruning, resume fallback, NaN, disk full (tests/ckpt/ckpt_hardening.sh).
add_test(NAME ckpt_hardening COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/ckpt/ckpt_hardening.sh)
set_tests_properties(ckpt_hardening PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
# issue 13: bits per byte in eval, the trainer's val line and metrics.jsonl, against Python (tests/bpb_cli.sh).
add_test(NAME bpb_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bpb_cli.sh)
set_tests_properties(bpb_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
# OpenBLAS kernels fit the CPU (ll_blas_select_core's re-exec), a user's OPENBLAS_CORETYPE kept.
add_test(NAME blas_core COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/blas_core.sh)
set_tests_properties(blas_core PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 120)
