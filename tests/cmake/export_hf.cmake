# export_hf.cmake: `llmpi export/import --format hf` (owner: export).
# tests/export/hf_check.sh drives the CLI against an independent numpy
# safetensors reader and a PyTorch GPT-2 (tests/export/hf_peer.py); the
# test-only driver hf_logits prints llmpi's logits for it.
add_executable(hf_logits ${CMAKE_SOURCE_DIR}/tests/export/hf_logits.c)
target_link_libraries(hf_logits PRIVATE llmpi_core)
add_test(NAME export_hf COMMAND bash ${CMAKE_SOURCE_DIR}/tests/export/hf_check.sh $<TARGET_FILE:hf_logits>)
set_tests_properties(export_hf PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
