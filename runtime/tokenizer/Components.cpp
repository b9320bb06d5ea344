//===- Components.cpp - normalizers, pre-tokenizers, decoders -------------===//
#include "runtime/tokenizer/Components.h"
#include "runtime/tokenizer/Regex.h"
#include "runtime/tokenizer/Unicode.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace tpc;
using namespace tpc::tokenizer;
namespace json = llvm::json;

llvm::Error JsonPlace::error(const llvm::Twine &message) const {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 file + ": field '" + field + "': " + message);
}

namespace {
//===----------------------------------------------------------------------===//
// Reading JSON
//===----------------------------------------------------------------------===//

std::string show(const json::Value &v) {
  std::string text = llvm::formatv("{0}", v).str();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

/// Typed fields of one component object, errors naming the field.
class Fields {
public:
  Fields(const json::Value &json, const JsonPlace &place) : place(place) {
    object = json.getAsObject();
    if (!object)
      fail(place, "expected an object, got " + show(json));
  }

  bool ok() const { return message.empty(); }
  llvm::Error take() {
    return ok() ? llvm::Error::success()
                : llvm::createStringError(llvm::inconvertibleErrorCode(),
                                          message);
  }

  const json::Value *get(llvm::StringRef key) const {
    if (!object)
      return nullptr;
    const json::Value *v = object->get(key);
    return v && v->kind() != json::Value::Null ? v : nullptr;
  }

  std::string string(llvm::StringRef key, std::string fallback = "") {
    const json::Value *v = get(key);
    if (!v)
      return fallback;
    if (auto s = v->getAsString())
      return s->str();
    fail(key, "a string", *v);
    return fallback;
  }

  std::string requiredString(llvm::StringRef key) {
    if (!get(key))
      fail(place.child(key.str()), "missing, expected a string");
    return string(key);
  }

  bool boolean(llvm::StringRef key, bool fallback) {
    const json::Value *v = get(key);
    if (!v)
      return fallback;
    if (auto b = v->getAsBoolean())
      return *b;
    fail(key, "true or false", *v);
    return fallback;
  }

  int64_t integer(llvm::StringRef key, int64_t fallback) {
    const json::Value *v = get(key);
    if (!v)
      return fallback;
    if (auto n = v->getAsInteger(); n && *n >= 0)
      return *n;
    fail(key, "a non-negative integer", *v);
    return fallback;
  }

  const json::Array *array(llvm::StringRef key) {
    const json::Value *v = get(key);
    if (v)
      if (const json::Array *a = v->getAsArray())
        return a;
    fail(place.child(key.str()),
         v ? "expected an array, got " + show(*v)
           : std::string("missing, expected an array"));
    return nullptr;
  }

  void fail(llvm::StringRef key, const std::string &expected,
            const json::Value &got) {
    fail(place.child(key.str()), "expected " + expected + ", got " + show(got));
  }

  const JsonPlace &where() const { return place; }

private:
  /// Keeps the first problem: "FILE: field 'FIELD': WHAT".
  void fail(const JsonPlace &at, const std::string &what) {
    if (ok())
      message = at.file + ": field '" + at.field + "': " + what;
  }

  const json::Object *object = nullptr;
  JsonPlace place;
  std::string message;
};

/// A pattern: {"String": literal} or {"Regex": pattern}; matches as byte
/// ranges.
class Pattern {
public:
  static llvm::Expected<Pattern> read(Fields &f, llvm::StringRef key) {
    const json::Value *v = f.get(key);
    const json::Object *o = v ? v->getAsObject() : nullptr;
    JsonPlace place = f.where().child(key.str());
    if (!o)
      return place.error("expected {\"String\": ...} or {\"Regex\": ...}, "
                         "got " +
                         (v ? show(*v) : std::string("nothing")));
    Pattern p;
    if (auto s = o->getString("String")) {
      p.literal = s->str();
      if (p.literal.empty())
        return place.error("expected a non-empty string to match");
      return p;
    }
    if (auto r = o->getString("Regex")) {
      auto regex = Regex::compile(r->str());
      if (!regex)
        return place.error(llvm::toString(regex.takeError()));
      p.regex = std::move(*regex);
      return p;
    }
    return place.error("expected {\"String\": ...} or {\"Regex\": ...}, got " +
                       show(*v));
  }

  std::vector<std::pair<size_t, size_t>> find(std::string_view text) const {
    if (regex)
      return regex->findAll(text);
    std::vector<std::pair<size_t, size_t>> out;
    for (size_t at = text.find(literal); at != std::string_view::npos;
         at = text.find(literal, at + literal.size()))
      out.push_back({at, at + literal.size()});
    return out;
  }

  std::string replaceAll(std::string_view text,
                         const std::string &content) const {
    std::string out;
    size_t at = 0;
    for (auto [begin, end] : find(text)) {
      out.append(text.substr(at, begin - at));
      out += content;
      at = end;
    }
    out.append(text.substr(at));
    return out;
  }

private:
  std::string literal;
  std::optional<Regex> regex;
};

//===----------------------------------------------------------------------===//
// Normalizers
//===----------------------------------------------------------------------===//

class NormalForms final : public Normalizer {
public:
  explicit NormalForms(NormalForm form) : form(form) {}
  std::string normalize(std::string text) const override {
    return tokenizer::normalize(text, form);
  }

private:
  NormalForm form;
};

class Lowercase final : public Normalizer {
public:
  std::string normalize(std::string text) const override {
    return lowercase(text);
  }
};

class Prepend final : public Normalizer {
public:
  explicit Prepend(std::string prefix) : prefix(std::move(prefix)) {}
  std::string normalize(std::string text) const override {
    return text.empty() ? text : prefix + text;
  }

private:
  std::string prefix;
};

class ReplaceNormalizer final : public Normalizer {
public:
  ReplaceNormalizer(Pattern pattern, std::string content)
      : pattern(std::move(pattern)), content(std::move(content)) {}
  std::string normalize(std::string text) const override {
    return pattern.replaceAll(text, content);
  }

private:
  Pattern pattern;
  std::string content;
};

class StripNormalizer final : public Normalizer {
public:
  StripNormalizer(bool left, bool right) : left(left), right(right) {}
  std::string normalize(std::string text) const override {
    static const Regex leading = llvm::cantFail(Regex::compile("^\\s+"));
    static const Regex trailing = llvm::cantFail(Regex::compile("\\s+$"));
    if (right)
      if (auto m = trailing.findAll(text); !m.empty())
        text.erase(m.back().first);
    if (left)
      if (auto m = leading.findAll(text); !m.empty() && m[0].first == 0)
        text.erase(0, m[0].second);
    return text;
  }

private:
  bool left, right;
};

class NormalizerSequence final : public Normalizer {
public:
  explicit NormalizerSequence(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts(std::move(parts)) {}
  std::string normalize(std::string text) const override {
    for (const auto &part : parts)
      text = part->normalize(std::move(text));
    return text;
  }

private:
  std::vector<std::unique_ptr<Normalizer>> parts;
};

//===----------------------------------------------------------------------===//
// Pre-tokenizers
//===----------------------------------------------------------------------===//

enum class Behavior {
  Removed,
  Isolated,
  MergedWithPrevious,
  MergedWithNext,
  Contiguous
};

/// Splits `piece` at `matches` (byte ranges) the way Hugging Face's
/// NormalizedString::split does; empty pieces are dropped.
std::vector<Piece> splitPiece(const Piece &piece,
                              const std::vector<std::pair<size_t, size_t>> &ms,
                              Behavior behavior, bool invert) {
  // The whole text as segments, matches flagged.
  struct Segment {
    size_t begin, end;
    bool match;
  };
  std::vector<Segment> segments;
  size_t at = 0;
  for (auto [begin, end] : ms) {
    if (begin > at)
      segments.push_back({at, begin, invert});
    segments.push_back({begin, end, !invert});
    at = end;
  }
  if (at < piece.text.size())
    segments.push_back({at, piece.text.size(), invert});

  // (range, removed)
  std::vector<std::pair<std::pair<size_t, size_t>, bool>> out;
  bool previous = false;
  switch (behavior) {
  case Behavior::Removed:
    for (const Segment &s : segments)
      out.push_back({{s.begin, s.end}, s.match});
    break;
  case Behavior::Isolated:
    for (const Segment &s : segments)
      out.push_back({{s.begin, s.end}, false});
    break;
  case Behavior::MergedWithPrevious:
    for (const Segment &s : segments) {
      if (s.match && !previous && !out.empty())
        out.back().first.second = s.end;
      else
        out.push_back({{s.begin, s.end}, false});
      previous = s.match;
    }
    break;
  case Behavior::MergedWithNext:
    for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
      if (it->match && !previous && !out.empty())
        out.back().first.first = it->begin;
      else
        out.push_back({{it->begin, it->end}, false});
      previous = it->match;
    }
    std::reverse(out.begin(), out.end());
    break;
  case Behavior::Contiguous:
    for (const Segment &s : segments) {
      if (s.match == previous && !out.empty())
        out.back().first.second = s.end;
      else
        out.push_back({{s.begin, s.end}, false});
      previous = s.match;
    }
    break;
  }
  std::vector<Piece> pieces;
  for (auto [range, removed] : out)
    if (!removed && range.second > range.first)
      pieces.push_back({piece.text.substr(range.first,
                                          range.second - range.first),
                        piece.atStart && range.first == 0});
  return pieces;
}

/// Applies `each` to every piece and concatenates the results.
template <typename F>
std::vector<Piece> flatMap(std::vector<Piece> pieces, F each) {
  std::vector<Piece> out;
  for (Piece &piece : pieces)
    for (Piece &part : each(piece))
      out.push_back(std::move(part));
  return out;
}

class ByteLevelPreTokenizer final : public PreTokenizer {
public:
  ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex)
      : addPrefixSpace(addPrefixSpace), useRegex(useRegex) {}
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    // GPT-2's split: contractions, letters, numbers, other symbols, and
    // whitespace (a run keeps its last space for the next word).
    static const Regex gpt2 = llvm::cantFail(Regex::compile(
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
        "\\s+(?!\\S)|\\s+"));
    return flatMap(std::move(pieces), [&](Piece &piece) {
      if (addPrefixSpace && piece.text.rfind(' ', 0) != 0)
        piece.text.insert(0, " ");
      std::vector<Piece> parts =
          useRegex ? splitPiece(piece, gpt2.findAll(piece.text),
                                Behavior::Isolated, false)
                   : std::vector<Piece>{piece};
      for (Piece &part : parts) {
        std::string mapped;
        for (unsigned char b : part.text)
          mapped += byteToChar()[b];
        part.text = std::move(mapped);
      }
      return parts;
    });
  }

private:
  bool addPrefixSpace, useRegex;
};

class SplitPreTokenizer final : public PreTokenizer {
public:
  SplitPreTokenizer(Pattern pattern, Behavior behavior, bool invert)
      : pattern(std::move(pattern)), behavior(behavior), invert(invert) {}
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    return flatMap(std::move(pieces), [&](Piece &piece) {
      return splitPiece(piece, pattern.find(piece.text), behavior, invert);
    });
  }

private:
  Pattern pattern;
  Behavior behavior;
  bool invert;
};

enum class PrependScheme { Always, First, Never };

class MetaspacePreTokenizer final : public PreTokenizer {
public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme,
                        bool splitPieces)
      : replacement(std::move(replacement)), scheme(scheme),
        splitPieces(splitPieces) {}
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    return flatMap(std::move(pieces), [&](Piece &piece) {
      std::string text;
      for (char c : piece.text)
        if (c == ' ')
          text += replacement;
        else
          text += c;
      bool starts = text.rfind(replacement, 0) == 0;
      if (!starts && (scheme == PrependScheme::Always ||
                      (scheme == PrependScheme::First && piece.atStart)))
        text.insert(0, replacement);
      Piece rewritten{std::move(text), piece.atStart};
      if (!splitPieces)
        return std::vector<Piece>{rewritten};
      std::vector<std::pair<size_t, size_t>> marks;
      for (size_t at = rewritten.text.find(replacement);
           at != std::string::npos;
           at = rewritten.text.find(replacement, at + replacement.size()))
        marks.push_back({at, at + replacement.size()});
      return splitPiece(rewritten, marks, Behavior::MergedWithNext, false);
    });
  }

private:
  std::string replacement;
  PrependScheme scheme;
  bool splitPieces;
};

class RegexPreTokenizer final : public PreTokenizer {
public:
  RegexPreTokenizer(Regex regex, Behavior behavior, bool invert)
      : regex(std::move(regex)), behavior(behavior), invert(invert) {}
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    return flatMap(std::move(pieces), [&](Piece &piece) {
      return splitPiece(piece, regex.findAll(piece.text), behavior, invert);
    });
  }

private:
  Regex regex;
  Behavior behavior;
  bool invert;
};

class PreTokenizerSequence final : public PreTokenizer {
public:
  explicit PreTokenizerSequence(
      std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts(std::move(parts)) {}
  std::vector<Piece> split(std::vector<Piece> pieces) const override {
    for (const auto &part : parts)
      pieces = part->split(std::move(pieces));
    return pieces;
  }

private:
  std::vector<std::unique_ptr<PreTokenizer>> parts;
};

//===----------------------------------------------------------------------===//
// Decoders
//===----------------------------------------------------------------------===//

class ByteLevelDecoder final : public Decoder {
public:
  std::vector<std::string>
  decode(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string &token : tokens) {
      std::string mapped;
      bool all = true;
      for (std::string_view ch : utf8Chars(token)) {
        std::optional<uint8_t> b = charToByte(codePoint(ch));
        if (!b) {
          all = false;
          break;
        }
        mapped += char(*b);
      }
      bytes += all ? mapped : token;
    }
    return {lossyUtf8(bytes)};
  }
};

class ReplaceDecoder final : public Decoder {
public:
  ReplaceDecoder(Pattern pattern, std::string content)
      : pattern(std::move(pattern)), content(std::move(content)) {}
  std::vector<std::string>
  decode(std::vector<std::string> tokens) const override {
    for (std::string &token : tokens)
      token = pattern.replaceAll(token, content);
    return tokens;
  }

private:
  Pattern pattern;
  std::string content;
};

class ByteFallbackDecoder final : public Decoder {
public:
  std::vector<std::string>
  decode(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty())
        return;
      if (!firstInvalidUtf8(pending))
        out.push_back(pending);
      else
        for (size_t i = 0; i < pending.size(); ++i)
          out.push_back("\xEF\xBF\xBD"); // One U+FFFD per byte.
      pending.clear();
    };
    for (std::string &token : tokens) {
      unsigned value = 0;
      bool isByte = token.size() == 6 && token.rfind("<0x", 0) == 0 &&
                    token.back() == '>' &&
                    !llvm::StringRef(token).substr(3, 2).getAsInteger(16, value);
      if (isByte) {
        pending += char(value);
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    return out;
  }
};

class FuseDecoder final : public Decoder {
public:
  std::vector<std::string>
  decode(std::vector<std::string> tokens) const override {
    std::string all;
    for (const std::string &token : tokens)
      all += token;
    return {all};
  }
};

class StripDecoder final : public Decoder {
public:
  StripDecoder(std::string content, int64_t start, int64_t stop)
      : content(std::move(content)), start(start), stop(stop) {}
  std::vector<std::string>
  decode(std::vector<std::string> tokens) const override {
    for (std::string &token : tokens) {
      std::vector<std::string_view> chars = utf8Chars(token);
      size_t begin = 0, end = chars.size();
      for (int64_t i = 0; i < start && begin < end && chars[begin] == content;
           ++i)
        ++begin;
      for (int64_t i = 0; i < stop && end > begin && chars[end - 1] == content;
           ++i)
        --end;
      std::string kept;
      for (size_t i = begin; i < end; ++i)
        kept.append(chars[i]);
      token = std::move(kept);
    }
    return tokens;
  }

private:
  std::string content;
  int64_t start, stop;
};

class MetaspaceDecoder final : public Decoder {
public:
  MetaspaceDecoder(std::string replacement, PrependScheme scheme)
      : replacement(std::move(replacement)), scheme(scheme) {}
  std::vector<std::string>
  decode(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      for (std::string_view ch : utf8Chars(tokens[i])) {
        if (ch != replacement)
          out.append(ch);
        else if (i != 0 || scheme == PrependScheme::Never)
          out += ' ';
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

private:
  std::string replacement;
  PrependScheme scheme;
};

class DecoderSequence final : public Decoder {
public:
  explicit DecoderSequence(std::vector<std::unique_ptr<Decoder>> parts)
      : parts(std::move(parts)) {}
  std::vector<std::string>
  decode(std::vector<std::string> tokens) const override {
    for (const auto &part : parts)
      tokens = part->decode(std::move(tokens));
    return tokens;
  }

private:
  std::vector<std::unique_ptr<Decoder>> parts;
};

//===----------------------------------------------------------------------===//
// Construction
//===----------------------------------------------------------------------===//

/// Builds each element of `key` (an array) with `make`.
template <typename T, typename Make>
llvm::Expected<std::vector<std::unique_ptr<T>>>
elements(Fields &f, llvm::StringRef key, Make make) {
  const json::Array *array = f.array(key);
  if (!array)
    return f.take();
  std::vector<std::unique_ptr<T>> out;
  for (auto [i, element] : llvm::enumerate(*array)) {
    auto part = make(element, f.where().child(key.str()).element(i));
    if (!part)
      return part.takeError();
    out.push_back(std::move(*part));
  }
  return std::move(out);
}

llvm::Expected<Behavior> readBehavior(Fields &f) {
  std::string name = f.string("behavior", "Isolated");
  if (name == "Removed")
    return Behavior::Removed;
  if (name == "Isolated")
    return Behavior::Isolated;
  if (name == "MergedWithPrevious")
    return Behavior::MergedWithPrevious;
  if (name == "MergedWithNext")
    return Behavior::MergedWithNext;
  if (name == "Contiguous")
    return Behavior::Contiguous;
  return f.where().child("behavior").error(
      "expected one of Removed, Isolated, MergedWithPrevious, "
      "MergedWithNext, Contiguous, got \"" +
      name + "\"");
}

/// Metaspace's prepend scheme: "prepend_scheme", or the older
/// "add_prefix_space" boolean (true meant always).
llvm::Expected<PrependScheme> readPrependScheme(Fields &f) {
  if (f.get("prepend_scheme")) {
    std::string name = f.string("prepend_scheme");
    if (name == "always")
      return PrependScheme::Always;
    if (name == "first")
      return PrependScheme::First;
    if (name == "never")
      return PrependScheme::Never;
    return f.where().child("prepend_scheme").error(
        "expected always, first or never, got \"" + name + "\"");
  }
  return f.boolean("add_prefix_space", true) ? PrependScheme::Always
                                             : PrependScheme::Never;
}

llvm::Error unsupported(const JsonPlace &place, llvm::StringRef what,
                        const std::string &type, llvm::StringRef supported) {
  return place.child("type").error("unsupported " + what + " \"" + type +
                                   "\"; tpc reads " + supported);
}
} // namespace

llvm::Expected<std::unique_ptr<Normalizer>>
tokenizer::makeNormalizer(const json::Value &json, const JsonPlace &place) {
  Fields f(json, place);
  std::string type = f.requiredString("type");
  if (!f.ok())
    return f.take();
  std::unique_ptr<Normalizer> out;
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    NormalForm form = type == "NFC"    ? NormalForm::NFC
                      : type == "NFD"  ? NormalForm::NFD
                      : type == "NFKC" ? NormalForm::NFKC
                                       : NormalForm::NFKD;
    out = std::make_unique<NormalForms>(form);
  } else if (type == "Lowercase") {
    out = std::make_unique<Lowercase>();
  } else if (type == "Prepend") {
    out = std::make_unique<Prepend>(f.requiredString("prepend"));
  } else if (type == "Replace") {
    auto pattern = Pattern::read(f, "pattern");
    if (!pattern)
      return pattern.takeError();
    out = std::make_unique<ReplaceNormalizer>(std::move(*pattern),
                                              f.string("content"));
  } else if (type == "Strip") {
    out = std::make_unique<StripNormalizer>(f.boolean("strip_left", true),
                                            f.boolean("strip_right", true));
  } else if (type == "Sequence") {
    auto parts = elements<Normalizer>(f, "normalizers", makeNormalizer);
    if (!parts)
      return parts.takeError();
    out = std::make_unique<NormalizerSequence>(std::move(*parts));
  } else {
    return unsupported(place, "normalizer", type,
                       "NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, "
                       "Strip and Sequence");
  }
  if (!f.ok())
    return f.take();
  return std::move(out);
}

llvm::Expected<std::unique_ptr<PreTokenizer>>
tokenizer::makePreTokenizer(const json::Value &json, const JsonPlace &place) {
  Fields f(json, place);
  std::string type = f.requiredString("type");
  if (!f.ok())
    return f.take();
  std::unique_ptr<PreTokenizer> out;
  if (type == "ByteLevel") {
    out = std::make_unique<ByteLevelPreTokenizer>(
        f.boolean("add_prefix_space", true), f.boolean("use_regex", true));
  } else if (type == "Split") {
    auto pattern = Pattern::read(f, "pattern");
    if (!pattern)
      return pattern.takeError();
    auto behavior = readBehavior(f);
    if (!behavior)
      return behavior.takeError();
    out = std::make_unique<SplitPreTokenizer>(std::move(*pattern), *behavior,
                                              f.boolean("invert", false));
  } else if (type == "Metaspace") {
    auto scheme = readPrependScheme(f);
    if (!scheme)
      return scheme.takeError();
    std::string replacement = f.string("replacement", "\xE2\x96\x81");
    if (utf8Chars(replacement).size() != 1)
      return place.child("replacement")
          .error("expected one character, got \"" + replacement + "\"");
    out = std::make_unique<MetaspacePreTokenizer>(replacement, *scheme,
                                                  f.boolean("split", true));
  } else if (type == "Digits") {
    out = std::make_unique<RegexPreTokenizer>(
        llvm::cantFail(Regex::compile("[0-9]")),
        f.boolean("individual_digits", false) ? Behavior::Isolated
                                              : Behavior::Contiguous,
        false);
  } else if (type == "Whitespace") {
    out = std::make_unique<RegexPreTokenizer>(
        llvm::cantFail(Regex::compile("\\w+|[^\\w\\s]+")), Behavior::Removed,
        true);
  } else if (type == "WhitespaceSplit") {
    out = std::make_unique<RegexPreTokenizer>(
        llvm::cantFail(Regex::compile("\\s+")), Behavior::Removed, false);
  } else if (type == "Sequence") {
    auto parts = elements<PreTokenizer>(f, "pretokenizers", makePreTokenizer);
    if (!parts)
      return parts.takeError();
    out = std::make_unique<PreTokenizerSequence>(std::move(*parts));
  } else {
    return unsupported(place, "pre-tokenizer", type,
                       "ByteLevel, Split, Metaspace, Digits, Whitespace, "
                       "WhitespaceSplit and Sequence");
  }
  if (!f.ok())
    return f.take();
  return std::move(out);
}

llvm::Expected<std::unique_ptr<Decoder>>
tokenizer::makeDecoder(const json::Value &json, const JsonPlace &place) {
  Fields f(json, place);
  std::string type = f.requiredString("type");
  if (!f.ok())
    return f.take();
  std::unique_ptr<Decoder> out;
  if (type == "ByteLevel") {
    out = std::make_unique<ByteLevelDecoder>();
  } else if (type == "Replace") {
    auto pattern = Pattern::read(f, "pattern");
    if (!pattern)
      return pattern.takeError();
    out = std::make_unique<ReplaceDecoder>(std::move(*pattern),
                                           f.string("content"));
  } else if (type == "ByteFallback") {
    out = std::make_unique<ByteFallbackDecoder>();
  } else if (type == "Fuse") {
    out = std::make_unique<FuseDecoder>();
  } else if (type == "Strip") {
    std::string content = f.requiredString("content");
    if (f.ok() && utf8Chars(content).size() != 1)
      return place.child("content")
          .error("expected one character, got \"" + content + "\"");
    out = std::make_unique<StripDecoder>(content, f.integer("start", 0),
                                         f.integer("stop", 0));
  } else if (type == "Metaspace") {
    auto scheme = readPrependScheme(f);
    if (!scheme)
      return scheme.takeError();
    out = std::make_unique<MetaspaceDecoder>(
        f.string("replacement", "\xE2\x96\x81"), *scheme);
  } else if (type == "Sequence") {
    auto parts = elements<Decoder>(f, "decoders", makeDecoder);
    if (!parts)
      return parts.takeError();
    out = std::make_unique<DecoderSequence>(std::move(*parts));
  } else {
    return unsupported(place, "decoder", type,
                       "ByteLevel, Replace, ByteFallback, Fuse, Strip, "
                       "Metaspace and Sequence");
  }
  if (!f.ok())
    return f.take();
  return std::move(out);
}
