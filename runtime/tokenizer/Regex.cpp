//===- Regex.cpp - Unicode regular expressions through PCRE2 --------------===//
#define PCRE2_CODE_UNIT_WIDTH 8
#include "runtime/tokenizer/Regex.h"
#include "runtime/tokenizer/Unicode.h"

#include <pcre2.h>

using namespace tpc;
using namespace tpc::tokenizer;

struct Regex::Impl {
  pcre2_code *code = nullptr;
  ~Impl() { pcre2_code_free(code); }
};

llvm::Expected<Regex> Regex::compile(std::string_view pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code *code = pcre2_compile(
      reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
      PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "regex does not compile at offset " + std::to_string(offset) + ": " +
            reinterpret_cast<const char *>(message));
  }
  // A JIT-compiled pattern is much faster; the interpreter is the fallback.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  Regex regex;
  regex.impl = std::make_shared<Impl>();
  regex.impl->code = code;
  return regex;
}

std::vector<std::pair<size_t, size_t>>
Regex::findAll(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  pcre2_match_data *data =
      pcre2_match_data_create_from_pattern(impl->code, nullptr);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  for (size_t at = 0; at <= text.size();) {
    int rc = pcre2_match(impl->code, subject, text.size(), at, PCRE2_NO_UTF_CHECK,
                         data, nullptr);
    if (rc < 0)
      break; // No more matches (or a matching limit: stop, keep the rest).
    PCRE2_SIZE *ovector = pcre2_get_ovector_pointer(data);
    size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      matches.push_back({begin, end});
      at = end;
    } else {
      // An empty match: step over one character.
      at = begin < text.size() ? begin + utf8Length(text[begin]) : begin + 1;
    }
  }
  pcre2_match_data_free(data);
  return matches;
}
