# serve.cmake: `llmpi serve` (owner: infer). serve_curl: every endpoint with
# curl, errors, streaming, disconnects, SIGTERM; serve_openai: the official
# `openai` npm client (installed into the build tree, npm-openai/; skips 77
# only when npm or its registry is unreachable); serve_load: 100 requests
# from 8 concurrent clients, RSS flat.
foreach(t curl openai load)
  add_test(NAME serve_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/infer/serve_${t}.sh ${CMAKE_BINARY_DIR}/npm-openai)
  set_tests_properties(serve_${t} PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
