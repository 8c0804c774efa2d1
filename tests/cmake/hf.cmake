# hf.cmake: tokenizer.json against Hugging Face tokenizers (owner: tok).
# tests/tok/hf.sh installs npm `tokenizers` into the build tree (npm/) on its
# first run; it skips (77) only when node/npm or the registry is unreachable.
add_test(NAME tok_hf COMMAND bash ${CMAKE_SOURCE_DIR}/tests/tok/hf.sh ${CMAKE_BINARY_DIR}/npm)
set_tests_properties(tok_hf PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
