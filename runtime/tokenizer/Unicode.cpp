//===- Unicode.cpp - UTF-8, normalization and GPT-2's byte alphabet -------===//
#include "runtime/tokenizer/Unicode.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <stdexcept>
#include <unordered_map>

using namespace tpc;
using namespace tpc::tokenizer;

namespace {
/// The length of the valid UTF-8 sequence at `text[at]`, or 0 with
/// `invalid` set to the length of its maximal invalid subpart (at least 1).
size_t validSequence(std::string_view text, size_t at, size_t &invalid) {
  auto byte = [&](size_t i) -> unsigned {
    return static_cast<unsigned char>(text[i]);
  };
  unsigned lead = byte(at);
  invalid = 1;
  if (lead < 0x80)
    return 1;
  size_t length;
  unsigned low = 0x80, high = 0xBF; // Allowed range of the second byte.
  if (lead >= 0xC2 && lead <= 0xDF)
    length = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0)
      low = 0xA0; // No overlong forms.
    if (lead == 0xED)
      high = 0x9F; // No surrogates.
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0)
      low = 0x90;
    if (lead == 0xF4)
      high = 0x8F; // Nothing past U+10FFFF.
  } else {
    return 0;
  }
  for (size_t i = 1; i < length; ++i) {
    if (at + i >= text.size())
      return 0; // Truncated: the bytes so far are one invalid subpart.
    unsigned b = byte(at + i);
    unsigned lo = i == 1 ? low : 0x80, hi = i == 1 ? high : 0xBF;
    if (b < lo || b > hi)
      return 0;
    invalid = i + 1;
  }
  return length;
}
} // namespace

std::optional<size_t> tokenizer::firstInvalidUtf8(std::string_view text) {
  for (size_t at = 0, invalid; at < text.size();) {
    size_t length = validSequence(text, at, invalid);
    if (length == 0)
      return at;
    at += length;
  }
  return std::nullopt;
}

size_t tokenizer::utf8Length(unsigned char lead) {
  if (lead >= 0xF0 && lead <= 0xF4)
    return 4;
  if (lead >= 0xE0 && lead <= 0xEF)
    return 3;
  if (lead >= 0xC2 && lead <= 0xDF)
    return 2;
  return 1;
}

std::vector<std::string_view> tokenizer::utf8Chars(std::string_view text) {
  std::vector<std::string_view> chars;
  for (size_t at = 0; at < text.size();) {
    size_t length = std::min(utf8Length(text[at]), text.size() - at);
    chars.push_back(text.substr(at, length));
    at += length;
  }
  return chars;
}

char32_t tokenizer::codePoint(std::string_view ch) {
  auto byte = [&](size_t i) -> char32_t {
    return static_cast<unsigned char>(ch[i]);
  };
  switch (ch.size()) {
  case 1:
    return byte(0);
  case 2:
    return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
  case 3:
    return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) |
           (byte(2) & 0x3F);
  case 4:
    return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) |
           ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
  }
  return 0xFFFD;
}

void tokenizer::appendUtf8(std::string &out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

std::string tokenizer::lossyUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t at = 0, invalid; at < bytes.size();) {
    size_t length = validSequence(bytes, at, invalid);
    if (length > 0) {
      out.append(bytes.substr(at, length));
      at += length;
    } else {
      appendUtf8(out, 0xFFFD);
      at += invalid;
    }
  }
  return out;
}

bool tokenizer::endsInsideCharacter(std::string_view text) {
  // Look back at most 3 bytes for a lead byte whose character is cut off.
  for (size_t back = 1; back <= 3 && back <= text.size(); ++back) {
    unsigned char b = text[text.size() - back];
    if ((b & 0xC0) == 0x80)
      continue; // A continuation byte: keep looking for the lead.
    size_t invalid;
    return validSequence(text, text.size() - back, invalid) == 0 &&
           utf8Length(b) > back && invalid == back;
  }
  return false;
}

std::string tokenizer::normalize(std::string_view text, NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2 *normalizer = nullptr;
  switch (form) {
  case NormalForm::NFC:
    normalizer = icu::Normalizer2::getNFCInstance(status);
    break;
  case NormalForm::NFD:
    normalizer = icu::Normalizer2::getNFDInstance(status);
    break;
  case NormalForm::NFKC:
    normalizer = icu::Normalizer2::getNFKCInstance(status);
    break;
  case NormalForm::NFKD:
    normalizer = icu::Normalizer2::getNFKDInstance(status);
    break;
  }
  if (U_FAILURE(status))
    throw std::runtime_error(std::string("ICU normalizer: ") +
                             u_errorName(status));
  icu::UnicodeString in = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), int32_t(text.size())));
  icu::UnicodeString out = normalizer->normalize(in, status);
  if (U_FAILURE(status))
    throw std::runtime_error(std::string("ICU normalization: ") +
                             u_errorName(status));
  std::string result;
  out.toUTF8String(result);
  return result;
}

std::string tokenizer::lowercase(std::string_view text) {
  icu::UnicodeString s = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), int32_t(text.size())));
  s.toLower(icu::Locale::getRoot());
  std::string result;
  s.toUTF8String(result);
  return result;
}

const std::array<std::string, 256> &tokenizer::byteToChar() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
             (b >= 0xAE && b <= 0xFF);
    };
    int next = 256;
    for (int b = 0; b < 256; ++b)
      appendUtf8(t[b], printable(b) ? char32_t(b) : char32_t(next++));
    return t;
  }();
  return table;
}

std::optional<uint8_t> tokenizer::charToByte(char32_t cp) {
  static const std::unordered_map<char32_t, uint8_t> inverse = [] {
    std::unordered_map<char32_t, uint8_t> m;
    for (int b = 0; b < 256; ++b)
      m[codePoint(byteToChar()[b])] = uint8_t(b);
    return m;
  }();
  auto it = inverse.find(cp);
  if (it == inverse.end())
    return std::nullopt;
  return it->second;
}
