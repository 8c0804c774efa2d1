# Tokenizer CLI and reference tests (owner: tok). Each is a bash script under
# tests/tok; the naive reference needs python3 with the `regex` module.
set(_tok_cases
  "ties.txt,300"
  "repeats.txt,400"
  "digits.txt,400"
  "nonlatin.txt,500"
  "emoji.txt,400"
  "crlf.txt,400"
  "invalid,400"
  "shakespeare,700"
  "gutenberg,700"
  "crlf.txt,500,--min-frequency,1"
  "shakespeare,600,--max-token-bytes,3"
  "emoji.txt,300,--special,<|tool|>,<|x|>")
foreach(_case ${_tok_cases})
  string(REPLACE "," ";" _args "${_case}")
  list(GET _args 0 _corpus)
  list(GET _args 1 _vocab)
  list(LENGTH _args _n)
  set(_name "tok_ref_${_corpus}_${_vocab}")
  if(_n GREATER 2)
    list(GET _args 2 _option)
    string(APPEND _name "${_option}")
  endif()
  string(MAKE_C_IDENTIFIER "${_name}" _name)
  add_test(NAME ${_name} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/tok/reference.sh ${_args})
  set_tests_properties(${_name} PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()

add_test(NAME tok_cli COMMAND bash ${CMAKE_SOURCE_DIR}/tests/tok/cli.sh)
set_tests_properties(tok_cli PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)

add_test(NAME tok_long_gutenberg COMMAND bash ${CMAKE_SOURCE_DIR}/tests/tok/long.sh)
set_tests_properties(tok_long_gutenberg PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77
  TIMEOUT 600 LABELS "long")
