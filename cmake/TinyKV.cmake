# Helpers shared by every CMakeLists.txt of the project.

# Warnings for our own code (generated and third-party code is exempt).
set(TINYKV_WARNINGS -Wall -Wextra -Wnon-virtual-dtor -Woverloaded-virtual -Wimplicit-fallthrough)
if(TINYKV_WERROR)
  list(APPEND TINYKV_WARNINGS -Werror)
endif()

# tinykv_library(<name> SRCS <files...> DEPS <targets...>)
#   One library per src/<module>/ folder. DEPS are the only modules it may use:
#   the layering check (cmake/check_layering.cmake) keeps #includes in line with them.
function(tinykv_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${TINYKV_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# tinykv_executable(<name> SRCS <files...> DEPS <targets...>)
function(tinykv_executable name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${TINYKV_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# tinykv_test(<name> SRCS <files...> DEPS <targets...> [LABELS <label>] [TIMEOUT <s>])
#   A GoogleTest binary; each TEST becomes one ctest test, labelled `unit` unless
#   LABELS says otherwise (see docs/development.md for the labels).
function(tinykv_test name)
  if(NOT TINYKV_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${TINYKV_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} tinykv_testing GTest::gtest GTest::gmock GTest::gtest_main)
  # One label per test binary: gtest_discover_tests cannot pass a list.
  list(LENGTH ARG_LABELS n_labels)
  if(n_labels GREATER 1)
    message(FATAL_ERROR "tinykv_test(${name}): give one label")
  endif()
  gtest_discover_tests(${name}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS ${ARG_LABELS} TIMEOUT ${ARG_TIMEOUT})
endfunction()
