# export.cmake: `llmpi export --format gguf` (owner: export). tests/export/gguf.sh
# installs npm node-llama-cpp (prebuilt llama.cpp) and @huggingface/gguf into
# the build tree (npm-gguf/) on its first run; skips (77) only when node/npm or
# the registry is unreachable. export_gguf: a 12-step model (seconds);
# export_gguf_long: 300 steps at width 64, so the greedy texts compared are
# not one repeated token.
add_test(NAME export_gguf COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export/gguf.sh ${CMAKE_BINARY_DIR}/npm-gguf)
set_tests_properties(export_gguf PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
add_test(NAME export_gguf_long COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export/gguf.sh ${CMAKE_BINARY_DIR}/npm-gguf 300 64)
set_tests_properties(export_gguf_long PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 1200
                     LABELS long)
