//===- Bpe.cpp - the byte-pair encoding model -----------------------------===//
#include "runtime/tokenizer/Bpe.h"
#include "runtime/tokenizer/Unicode.h"

#include <cstdio>
#include <queue>

using namespace tpc;
using namespace tpc::tokenizer;

namespace {
uint64_t pairKey(int32_t left, int32_t right) {
  return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}

constexpr size_t kCacheWords = 100000;

/// A symbol of a word being merged: a token over a byte range, linked to
/// its live neighbours.
struct Symbol {
  int32_t id;
  int64_t prev, next;
  size_t length; ///< Bytes; 0 once merged into its left neighbour.
};

/// A candidate merge: lowest rank first, then leftmost.
struct Candidate {
  int32_t rank;
  int64_t position;
  int32_t merged;
  bool operator<(const Candidate &o) const {
    return rank != o.rank ? rank > o.rank : position > o.position;
  }
};
} // namespace

llvm::Expected<Bpe>
Bpe::build(llvm::StringMap<int32_t> vocab,
           const std::vector<std::pair<std::string, std::string>> &merges,
           BpeOptions options) {
  Bpe bpe;
  bpe.options = options;
  for (const auto &entry : vocab) {
    int32_t id = entry.second;
    if (id >= int32_t(bpe.tokens.size()))
      bpe.tokens.resize(id + 1);
    bpe.tokens[id] = entry.first().str();
  }
  for (auto [rank, merge] : llvm::enumerate(merges)) {
    auto find = [&](const std::string &token) -> std::optional<int32_t> {
      auto it = vocab.find(token);
      if (it == vocab.end())
        return std::nullopt;
      return it->second;
    };
    std::optional<int32_t> left = find(merge.first),
                           right = find(merge.second),
                           merged = find(merge.first + merge.second);
    const std::string *missing = !left    ? &merge.first
                                 : !right ? &merge.second
                                          : nullptr;
    std::string joined = merge.first + merge.second;
    if (!missing && !merged)
      missing = &joined;
    if (missing)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "merge #" + std::to_string(rank) + " (\"" + merge.first + " " +
              merge.second + "\") needs token \"" + *missing +
              "\", which the vocabulary lacks");
    bpe.merges.try_emplace(pairKey(*left, *right), int32_t(rank), *merged);
  }
  bpe.vocab = std::move(vocab);
  return std::move(bpe);
}

std::optional<int32_t> Bpe::idOf(std::string_view token) const {
  auto it = vocab.find(llvm::StringRef(token.data(), token.size()));
  if (it == vocab.end())
    return std::nullopt;
  return it->second;
}

const std::string *Bpe::tokenOf(int32_t id) const {
  if (id < 0 || id >= int32_t(tokens.size()) ||
      (tokens[id].empty() && !vocab.count("")))
    return nullptr;
  return &tokens[id];
}

void Bpe::encode(std::string_view word, std::vector<int32_t> &ids) const {
  if (word.empty())
    return;
  if (options.ignoreMerges)
    if (std::optional<int32_t> id = idOf(word)) {
      ids.push_back(*id);
      return;
    }
  {
    std::lock_guard<std::mutex> guard(*cacheLock);
    auto it = cache.find(std::string(word));
    if (it != cache.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> out;
  merge(word, out);
  ids.insert(ids.end(), out.begin(), out.end());
  std::lock_guard<std::mutex> guard(*cacheLock);
  if (cache.size() < kCacheWords)
    cache.emplace(std::string(word), std::move(out));
}

void Bpe::merge(std::string_view word, std::vector<int32_t> &ids) const {
  std::vector<Symbol> symbols;
  auto add = [&](int32_t id, size_t length) {
    int64_t index = int64_t(symbols.size());
    symbols.push_back({id, index - 1, index + 1, length});
  };
  // Initial symbols: characters, their bytes (fallback) or unknowns.
  std::optional<std::pair<int32_t, size_t>> unknown;
  for (std::string_view ch : utf8Chars(word)) {
    if (std::optional<int32_t> id = idOf(ch)) {
      if (unknown)
        add(unknown->first, unknown->second);
      unknown.reset();
      add(*id, ch.size());
      continue;
    }
    if (options.byteFallback) {
      std::vector<int32_t> bytes;
      for (unsigned char b : ch) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        if (std::optional<int32_t> id = idOf(name))
          bytes.push_back(*id);
      }
      if (bytes.size() == ch.size()) {
        if (unknown)
          add(unknown->first, unknown->second);
        unknown.reset();
        for (int32_t id : bytes)
          add(id, 1);
        continue;
      }
    }
    if (!options.unknownId)
      continue; // Nothing to stand for it: dropped, as Hugging Face does.
    if (unknown && options.fuseUnknown) {
      unknown->second += ch.size();
    } else {
      if (unknown)
        add(unknown->first, unknown->second);
      unknown = std::pair{*options.unknownId, ch.size()};
    }
  }
  if (unknown)
    add(unknown->first, unknown->second);
  if (!symbols.empty())
    symbols.back().next = -1;

  auto lookup = [&](int32_t left, int32_t right)
      -> std::optional<std::pair<int32_t, int32_t>> {
    auto it = merges.find(pairKey(left, right));
    if (it == merges.end())
      return std::nullopt;
    return it->second;
  };
  std::priority_queue<Candidate> queue;
  for (size_t i = 0; i + 1 < symbols.size(); ++i)
    if (auto m = lookup(symbols[i].id, symbols[i + 1].id))
      queue.push({m->first, int64_t(i), m->second});
  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    Symbol &current = symbols[top.position];
    if (current.length == 0 || current.next < 0)
      continue;
    Symbol right = symbols[current.next];
    // An entry made stale by an earlier merge of either symbol.
    auto m = lookup(current.id, right.id);
    if (!m || m->second != top.merged)
      continue;
    current.id = top.merged;
    current.length += right.length;
    symbols[current.next].length = 0;
    current.next = right.next;
    if (right.next >= 0)
      symbols[right.next].prev = top.position;
    if (current.prev >= 0)
      if (auto p = lookup(symbols[current.prev].id, current.id))
        queue.push({p->first, current.prev, p->second});
    if (current.next >= 0)
      if (auto n = lookup(current.id, symbols[current.next].id))
        queue.push({n->first, top.position, n->second});
  }
  for (const Symbol &s : symbols)
    if (s.length > 0)
      ids.push_back(s.id);
}
