//===- Tokenizer.cpp - Hugging Face tokenizer.json, encode and decode -----===//
#include "runtime/tokenizer/Tokenizer.h"
#include "runtime/tokenizer/Unicode.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>

using namespace tpc;
using namespace tpc::tokenizer;
namespace json = llvm::json;

namespace {
/// Ids beyond this are not a real vocabulary (and would overflow tables).
constexpr int64_t kMaxId = int64_t(1) << 24;

std::string show(const json::Value &v) {
  std::string text = llvm::formatv("{0}", v).str();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

/// An optional component: null or absent is none.
template <typename T, typename Make>
llvm::Error readComponent(const json::Object &root, llvm::StringRef key,
                          const JsonPlace &top, Make make,
                          std::shared_ptr<const T> &out) {
  const json::Value *v = root.get(key);
  if (!v || v->kind() == json::Value::Null)
    return llvm::Error::success();
  auto made = make(*v, top.child(key.str()));
  if (!made)
    return made.takeError();
  out = std::move(*made);
  return llvm::Error::success();
}

llvm::Expected<std::shared_ptr<const Bpe>> readModel(const json::Object &root,
                                                     const JsonPlace &top) {
  JsonPlace place = top.child("model");
  const json::Object *model = root.getObject("model");
  if (!model)
    return place.error("missing, expected an object with the BPE vocabulary "
                       "and merges");
  auto type = model->getString("type");
  if (type && *type != "BPE")
    return place.child("type").error(
        "unsupported tokenizer model type \"" + type->str() +
        "\"; tpc reads BPE (byte-level as in GPT-2, Llama-3 and Qwen2, or "
        "with byte fallback as in Llama-2 and Mistral)");
  for (llvm::StringRef key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (auto affix = model->getString(key); affix && !affix->empty())
      return place.child(key.str())
          .error("expected null or \"\" (not supported), got \"" +
                 affix->str() + "\"");
  if (const json::Value *dropout = model->get("dropout");
      dropout && dropout->kind() != json::Value::Null &&
      dropout->getAsNumber().value_or(1) != 0)
    return place.child("dropout").error(
        "expected null (dropout is for training), got " + show(*dropout));

  const json::Object *vocab = model->getObject("vocab");
  if (!vocab)
    return place.child("vocab").error(
        "missing, expected an object mapping tokens to ids");
  llvm::StringMap<int32_t> ids;
  for (const auto &[token, id] : *vocab) {
    std::optional<int64_t> n = id.getAsInteger();
    if (!n || *n < 0 || *n >= kMaxId)
      return place.child("vocab").error(
          "token \"" + token.str() + "\": expected an id in [0, " +
          std::to_string(kMaxId) + "), got " + show(id));
    if (firstInvalidUtf8(token.str()))
      return place.child("vocab").error("token ids must be valid UTF-8");
    ids[token.str()] = int32_t(*n);
  }

  const json::Array *mergeList = model->getArray("merges");
  if (!mergeList)
    return place.child("merges").error(
        "missing, expected a list of \"a b\" strings or [a, b] pairs");
  std::vector<std::pair<std::string, std::string>> merges;
  for (auto [i, merge] : llvm::enumerate(*mergeList)) {
    if (auto text = merge.getAsString()) {
      auto [left, right] = text->split(' ');
      if (left.empty() || right.empty() || right.contains(' '))
        return place.child("merges").element(i).error(
            "expected \"a b\", got \"" + text->str() + "\"");
      merges.push_back({left.str(), right.str()});
      continue;
    }
    const json::Array *pair = merge.getAsArray();
    if (!pair || pair->size() != 2 || !(*pair)[0].getAsString() ||
        !(*pair)[1].getAsString())
      return place.child("merges").element(i).error(
          "expected \"a b\" or [\"a\", \"b\"], got " + show(merge));
    merges.push_back({(*pair)[0].getAsString()->str(),
                      (*pair)[1].getAsString()->str()});
  }

  BpeOptions options;
  if (auto unk = model->getString("unk_token")) {
    auto it = ids.find(*unk);
    if (it == ids.end())
      return place.child("unk_token").error(
          "\"" + unk->str() + "\" is not in the vocabulary");
    options.unknownId = it->second;
  }
  options.fuseUnknown = model->getBoolean("fuse_unk").value_or(false);
  options.byteFallback = model->getBoolean("byte_fallback").value_or(false);
  options.ignoreMerges = model->getBoolean("ignore_merges").value_or(false);
  auto bpe = Bpe::build(std::move(ids), merges, options);
  if (!bpe)
    return place.child("merges").error(llvm::toString(bpe.takeError()));
  return std::make_shared<const Bpe>(std::move(*bpe));
}

llvm::Expected<std::vector<AddedToken>> readAddedTokens(const json::Object &root,
                                                        const JsonPlace &top) {
  std::vector<AddedToken> tokens;
  const json::Value *v = root.get("added_tokens");
  if (!v || v->kind() == json::Value::Null)
    return tokens;
  const json::Array *list = v->getAsArray();
  JsonPlace place = top.child("added_tokens");
  if (!list)
    return place.error("expected a list, got " + show(*v));
  for (auto [i, item] : llvm::enumerate(*list)) {
    const json::Object *o = item.getAsObject();
    std::optional<int64_t> id = o ? o->getInteger("id") : std::nullopt;
    auto content = o ? o->getString("content") : std::nullopt;
    if (!id || *id < 0 || *id >= kMaxId || !content || content->empty())
      return place.element(i).error(
          "expected {\"id\": <id>, \"content\": <non-empty string>, ...}, "
          "got " +
          show(item));
    AddedToken t;
    t.id = int32_t(*id);
    t.content = content->str();
    t.special = o->getBoolean("special").value_or(false);
    t.lstrip = o->getBoolean("lstrip").value_or(false);
    t.rstrip = o->getBoolean("rstrip").value_or(false);
    t.singleWord = o->getBoolean("single_word").value_or(false);
    tokens.push_back(std::move(t));
  }
  return tokens;
}

/// The ids a post-processor puts around a single sequence.
llvm::Error readPostProcessor(const json::Value &json, const JsonPlace &place,
                              std::vector<int32_t> &prefix,
                              std::vector<int32_t> &suffix) {
  const json::Object *o = json.getAsObject();
  auto type = o ? o->getString("type") : std::nullopt;
  if (!type)
    return place.error("expected an object with a \"type\", got " +
                       show(json));
  if (*type == "ByteLevel")
    return llvm::Error::success(); // Offsets only: no ids change.
  if (*type == "Sequence") {
    const json::Array *parts = o->getArray("processors");
    if (!parts)
      return place.child("processors").error("missing, expected a list");
    for (auto [i, part] : llvm::enumerate(*parts))
      if (llvm::Error err = readPostProcessor(
              part, place.child("processors").element(i), prefix, suffix))
        return err;
    return llvm::Error::success();
  }
  if (*type == "RobertaProcessing" || *type == "BertProcessing") {
    for (auto [key, out] : {std::pair{"cls", &prefix}, {"sep", &suffix}}) {
      const json::Array *pair = o->getArray(key);
      std::optional<int64_t> id =
          pair && pair->size() == 2 ? (*pair)[1].getAsInteger() : std::nullopt;
      if (!id || *id < 0)
        return place.child(key).error("expected [\"token\", id]");
      out->push_back(int32_t(*id));
    }
    return llvm::Error::success();
  }
  if (*type != "TemplateProcessing")
    return place.child("type").error(
        "unsupported post-processor \"" + type->str() +
        "\"; tpc reads TemplateProcessing, ByteLevel, RobertaProcessing, "
        "BertProcessing and Sequence");
  const json::Array *single = o->getArray("single");
  const json::Object *specials = o->getObject("special_tokens");
  if (!single)
    return place.child("single").error("missing, expected the template of "
                                       "a single sequence");
  bool sawSequence = false;
  for (auto [i, item] : llvm::enumerate(*single)) {
    const json::Object *entry = item.getAsObject();
    if (entry && entry->getObject("Sequence")) {
      sawSequence = true;
      continue;
    }
    const json::Object *special =
        entry ? entry->getObject("SpecialToken") : nullptr;
    auto name = special ? special->getString("id") : std::nullopt;
    if (!name)
      return place.child("single").element(i).error(
          "expected {\"SpecialToken\": {\"id\": ...}} or {\"Sequence\": ...}, "
          "got " +
          show(item));
    const json::Object *definition =
        specials ? specials->getObject(*name) : nullptr;
    const json::Array *ids = definition ? definition->getArray("ids") : nullptr;
    if (!ids)
      return place.child("special_tokens").error(
          "missing the ids of \"" + name->str() + "\"");
    for (const json::Value &id : *ids) {
      std::optional<int64_t> n = id.getAsInteger();
      if (!n || *n < 0 || *n >= kMaxId)
        return place.child("special_tokens").error(
            "\"" + name->str() + "\": expected ids, got " + show(id));
      (sawSequence ? suffix : prefix).push_back(int32_t(*n));
    }
  }
  return llvm::Error::success();
}

bool isWordChar(std::string_view text, size_t at, bool before) {
  // The character just before (or at) byte `at`.
  if (before) {
    if (at == 0)
      return false;
    size_t begin = at - 1;
    while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80)
      --begin;
    char32_t cp = codePoint(text.substr(begin, at - begin));
    return cp == '_' || (cp < 0x80 ? std::isalnum(int(cp)) != 0 : true);
  }
  if (at >= text.size())
    return false;
  char32_t cp = codePoint(text.substr(at, utf8Length(text[at])));
  return cp == '_' || (cp < 0x80 ? std::isalnum(int(cp)) != 0 : true);
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}
} // namespace

llvm::Expected<Tokenizer> Tokenizer::load(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": cannot read: " +
                                       buffer.getError().message());
  return parse((*buffer)->getBuffer(), path);
}

llvm::Expected<Tokenizer> Tokenizer::parse(llvm::StringRef text,
                                           llvm::StringRef path) {
  auto fail = [&](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": " + message);
  };
  llvm::Expected<json::Value> root = json::parse(text);
  if (!root)
    return fail("invalid JSON: " + llvm::toString(root.takeError()));
  const json::Object *object = root->getAsObject();
  if (!object)
    return fail("expected a JSON object at the top level (a Hugging Face "
                "tokenizer.json)");
  JsonPlace top{path.str(), ""};
  Tokenizer t;
  t.path = path.str();
  auto model = readModel(*object, top);
  if (!model)
    return model.takeError();
  t.model = std::move(*model);
  auto added = readAddedTokens(*object, top);
  if (!added)
    return added.takeError();
  t.added = std::move(*added);
  // Longest first: a token that contains another wins where both match.
  std::stable_sort(t.added.begin(), t.added.end(),
                   [](const AddedToken &a, const AddedToken &b) {
                     return a.content.size() > b.content.size();
                   });
  if (llvm::Error err = readComponent<Normalizer>(
          *object, "normalizer", top, makeNormalizer, t.normalizer))
    return std::move(err);
  if (llvm::Error err = readComponent<PreTokenizer>(
          *object, "pre_tokenizer", top, makePreTokenizer, t.preTokenizer))
    return std::move(err);
  if (llvm::Error err = readComponent<Decoder>(*object, "decoder", top,
                                               makeDecoder, t.decoder))
    return std::move(err);
  if (const json::Value *post = object->get("post_processor");
      post && post->kind() != json::Value::Null)
    if (llvm::Error err = readPostProcessor(*post, top.child("post_processor"),
                                            t.prefix, t.suffix))
      return std::move(err);
  for (int32_t id : t.prefix)
    if (!t.tokenOf(id))
      return top.child("post_processor")
          .error("special token id " + std::to_string(id) +
                 " is not in the vocabulary");
  return std::move(t);
}

std::vector<std::pair<std::string_view, const AddedToken *>>
Tokenizer::splitAddedTokens(std::string_view text) const {
  std::vector<std::pair<std::string_view, const AddedToken *>> out;
  size_t segment = 0; // Start of the text not yet emitted.
  for (size_t at = 0; at < text.size();) {
    const AddedToken *found = nullptr;
    for (const AddedToken &token : added) {
      if (text.compare(at, token.content.size(), token.content) != 0)
        continue;
      if (token.singleWord &&
          (isWordChar(text, at, true) ||
           isWordChar(text, at + token.content.size(), false)))
        continue;
      found = &token;
      break; // Longest first.
    }
    if (!found) {
      at += utf8Length(text[at]);
      continue;
    }
    size_t begin = at, end = at + found->content.size();
    if (found->lstrip)
      while (begin > segment && isSpace(text[begin - 1]))
        --begin;
    if (found->rstrip)
      while (end < text.size() && isSpace(text[end]))
        ++end;
    if (begin > segment)
      out.push_back({text.substr(segment, begin - segment), nullptr});
    out.push_back({text.substr(begin, end - begin), found});
    segment = at = end;
  }
  if (segment < text.size())
    out.push_back({text.substr(segment), nullptr});
  return out;
}

llvm::Expected<std::vector<int32_t>>
Tokenizer::encode(llvm::StringRef text, bool addSpecialTokens) const {
  std::string_view view(text.data(), text.size());
  if (std::optional<size_t> bad = firstInvalidUtf8(view))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "text is not valid UTF-8 (byte " + std::to_string(*bad) + ")");
  std::vector<int32_t> ids;
  if (addSpecialTokens)
    ids = prefix;
  for (auto [segment, token] : splitAddedTokens(view)) {
    if (token) {
      ids.push_back(token->id);
      continue;
    }
    std::string normalized(segment);
    if (normalizer)
      normalized = normalizer->normalize(std::move(normalized));
    std::vector<Piece> pieces = {{normalized, segment.data() == view.data()}};
    if (preTokenizer)
      pieces = preTokenizer->split(std::move(pieces));
    for (const Piece &piece : pieces)
      model->encode(piece.text, ids);
  }
  if (addSpecialTokens)
    ids.insert(ids.end(), suffix.begin(), suffix.end());
  return ids;
}

const std::string *Tokenizer::tokenOf(int32_t id) const {
  for (const AddedToken &token : added)
    if (token.id == id)
      return &token.content;
  return model->tokenOf(id);
}

bool Tokenizer::isSpecial(int32_t id) const {
  for (const AddedToken &token : added)
    if (token.id == id)
      return token.special;
  return false;
}

std::string Tokenizer::decode(llvm::ArrayRef<int32_t> ids,
                              bool skipSpecialTokens) const {
  std::vector<std::string> tokens;
  for (int32_t id : ids) {
    const std::string *token = tokenOf(id);
    if (!token || (skipSpecialTokens && isSpecial(id)))
      continue;
    tokens.push_back(*token);
  }
  if (decoder)
    tokens = decoder->decode(std::move(tokens));
  else if (!tokens.empty())
    for (size_t i = tokens.size() - 1; i > 0; --i)
      tokens[i].insert(0, " "); // Hugging Face joins with spaces.
  std::string text;
  for (const std::string &token : tokens)
    text += token;
  return text;
}

int64_t Tokenizer::vocabSize() const {
  int64_t size = model->size();
  for (const AddedToken &token : added)
    size = std::max<int64_t>(size, int64_t(token.id) + 1);
  return size;
}
