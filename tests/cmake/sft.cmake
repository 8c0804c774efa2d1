# sft.cmake: SFT data tests (owner: sft). test_sft_*.c are picked up by the
# glob in tests/CMakeLists.txt; here: the test-only dump driver and the
# independent Python renderer checks (tests/sft/render_check.sh).
add_executable(sft_dump ${CMAKE_SOURCE_DIR}/tests/sft_dump.c)
target_link_libraries(sft_dump PRIVATE llmpi_core)

foreach(_mix fixtures demo shared)
  add_test(NAME sft_render_ref_${_mix}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/sft/render_check.sh ${_mix} $<TARGET_FILE:sft_dump>)
  set_tests_properties(sft_render_ref_${_mix} PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}"
    SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()

# SFT store, training, eval end to end on the shipped sample (tests/sft/sft_cli.sh).
add_test(NAME sft_cli COMMAND bash ${CMAKE_SOURCE_DIR}/tests/sft/sft_cli.sh)
set_tests_properties(sft_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
# Masked SFT loss (total and per source) == a PyTorch float64 reference from
# the same checkpoint and packed val rows (tests/sft/masked_loss_torch.sh;
# skips without python3-torch).
add_test(NAME sft_masked_loss_torch COMMAND bash ${CMAKE_SOURCE_DIR}/tests/sft/masked_loss_torch.sh)
set_tests_properties(sft_masked_loss_torch PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
