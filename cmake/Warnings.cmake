# Warning and sanitizer flags for epbench's own targets (not for dependencies).
add_library(epbench_flags INTERFACE)
target_compile_options(epbench_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>
  # GCC 12 reports -Wrestrict falsely on std::string concatenation at -O3 (GCC PR 105329).
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-restrict>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${EPBENCH_WERROR}>>:-Werror>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${EPBENCH_WERROR}>>:-Werror=all-warnings>)
if(EPBENCH_SANITIZE)
  target_compile_options(epbench_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer
                              -fno-sanitize-recover=undefined>)
  target_link_options(epbench_flags INTERFACE -fsanitize=address,undefined)
endif()
