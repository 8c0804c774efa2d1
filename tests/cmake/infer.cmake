# infer.cmake: CLI tests of generation (owner: infer): `llmpi sample` and
# `llmpi chat` through a pipe (tests/infer_cli.sh), the chat REPL under tmux
# (tests/chat_tmux.sh, skips without tmux), greedy tokens against the
# PyTorch reference model (tests/reference/greedy_check.sh, skips without
# torch). test_gpt_infer.c, test_generate.c and test_sampler.c are picked up
# by the glob in tests/CMakeLists.txt.
add_test(NAME infer_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/infer_cli.sh)
set_tests_properties(infer_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
add_test(NAME chat_tmux COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/chat_tmux.sh)
set_tests_properties(chat_tmux PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
add_test(NAME infer_greedy_torch COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/reference/greedy_check.sh)
set_tests_properties(infer_greedy_torch PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
# train.sample_every: samples during training leave the run's bits unchanged
add_test(NAME train_sample_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/train_sample_cli.sh)
set_tests_properties(train_sample_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
# benchmarks/infer_bench.sh on the tiny shape: every part runs, the peers agree
add_test(NAME infer_bench_smoke COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/infer_bench_smoke.sh)
set_tests_properties(infer_bench_smoke PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
