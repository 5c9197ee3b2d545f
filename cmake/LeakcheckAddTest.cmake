# leakcheck_add_test(): a CTest test that runs a server through leakcheck, the way
# gtest_discover_tests() adds GoogleTest's. Included by leakcheckConfig.cmake.
#
#   leakcheck_add_test(NAME <name>
#                      COMMAND <server> [<arg>...]
#                      [OPTIONS <leakcheck option>...]
#                      [WORKING_DIRECTORY <dir>]
#                      [LABELS <label>...]
#                      [EXPECT_LEAK])
#
# The test runs `leakcheck <OPTIONS> -- <COMMAND>`. COMMAND takes generator expressions
# ($<TARGET_FILE:my_server>); {port}, {config} and {dir} reach leakcheck as they are, and it
# fills them in. leakcheck exits 0 when clean, 1 on a leak, 2 when it could not judge, so a
# leak or an error fails the test. EXPECT_LEAK makes a positive control: the test passes only
# when leakcheck's verdict is a leak. (WILL_FAIL would also pass on status 2: a server that did
# not even start would count as a leak caught.)
include_guard(GLOBAL)

function(leakcheck_add_test)
  cmake_parse_arguments(PARSE_ARGV 0 arg "EXPECT_LEAK" "NAME;WORKING_DIRECTORY"
    "COMMAND;OPTIONS;LABELS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "leakcheck_add_test: unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_NAME)
    message(FATAL_ERROR "leakcheck_add_test: NAME <name> is required")
  endif()
  if(NOT arg_COMMAND)
    message(FATAL_ERROR "leakcheck_add_test(${arg_NAME}): COMMAND <server> [<arg>...] is required")
  endif()
  if(NOT TARGET leakcheck::leakcheck_cli)
    message(FATAL_ERROR "leakcheck_add_test(${arg_NAME}): no target leakcheck::leakcheck_cli; "
      "call find_package(leakcheck) first")
  endif()
  set(wd "")
  if(arg_WORKING_DIRECTORY)
    set(wd WORKING_DIRECTORY ${arg_WORKING_DIRECTORY})
  endif()
  add_test(NAME ${arg_NAME}
    COMMAND $<TARGET_FILE:leakcheck::leakcheck_cli> ${arg_OPTIONS} -- ${arg_COMMAND}
    ${wd})
  if(arg_LABELS)
    set_tests_properties(${arg_NAME} PROPERTIES LABELS "${arg_LABELS}")
  endif()
  if(arg_EXPECT_LEAK)
    # The verdict line (harness/reports/report.c) says "leak" exactly when the exit status is 1, unless
    # a report file could not be written afterwards (then the status is 2: fail on that line).
    set_tests_properties(${arg_NAME} PROPERTIES
      PASS_REGULAR_EXPRESSION "(^|\n)verdict: leak: "
      FAIL_REGULAR_EXPRESSION "leakcheck: cannot write ")
  endif()
endfunction()
