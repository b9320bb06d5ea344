//===- tpc-tokenize.cpp - a tokenizer.json from the command line ----------===//
//
//   tpc-tokenize TOKENIZER.json [--no-special] TEXT...     ids of each text
//   tpc-tokenize TOKENIZER.json --decode [--skip-special] IDS...
//   tpc-tokenize TOKENIZER.json --json TEXTS.json [--no-special]
//
// The tokenizer the executables use, on its own: to inspect a prompt's
// ids, and to compare with other implementations (--json reads a JSON list
// of texts and prints, for each, its ids, the decoding of those ids, and
// the decoding of its ids without special tokens added: "round_trip").
// Errors are one line naming the file and what was expected; exit code 1.
//
//===----------------------------------------------------------------------===//
#include "runtime/tokenizer/Tokenizer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <string>
#include <vector>

using namespace tpc::tokenizer;
namespace json = llvm::json;

namespace {
int fail(const llvm::Twine &message) {
  llvm::errs() << "tpc-tokenize: error: " << message << "\n";
  return 1;
}

std::string join(const std::vector<int32_t> &ids) {
  std::string out;
  for (int32_t id : ids)
    out += (out.empty() ? "" : " ") + std::to_string(id);
  return out;
}
} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return fail("usage: tpc-tokenize TOKENIZER.json [--no-special] TEXT... | "
                "--decode [--skip-special] IDS... | --json TEXTS.json");
  bool special = true, decode = false, skipSpecial = false;
  std::string jsonPath;
  std::vector<std::string> args;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--no-special")
      special = false;
    else if (arg == "--decode")
      decode = true;
    else if (arg == "--skip-special")
      skipSpecial = true;
    else if (arg == "--json" && i + 1 < argc)
      jsonPath = argv[++i];
    else
      args.push_back(arg);
  }
  auto tokenizer = Tokenizer::load(argv[1]);
  if (!tokenizer)
    return fail(llvm::toString(tokenizer.takeError()));

  if (!jsonPath.empty()) {
    auto buffer = llvm::MemoryBuffer::getFile(jsonPath);
    if (!buffer)
      return fail(jsonPath + ": cannot read: " + buffer.getError().message());
    auto texts = json::parse((*buffer)->getBuffer());
    const json::Array *list = texts ? texts->getAsArray() : nullptr;
    if (!list) {
      if (!texts)
        llvm::consumeError(texts.takeError());
      return fail(jsonPath + ": expected a JSON list of strings");
    }
    json::Array out;
    for (const json::Value &text : *list) {
      auto s = text.getAsString();
      if (!s)
        return fail(jsonPath + ": expected a JSON list of strings");
      auto ids = tokenizer->encode(*s, special);
      if (!ids)
        return fail(jsonPath + ": " + llvm::toString(ids.takeError()));
      json::Array idList;
      for (int32_t id : *ids)
        idList.push_back(id);
      // The text back from its ids without the post-processor's tokens.
      auto plain = tokenizer->encode(*s, /*addSpecialTokens=*/false);
      if (!plain)
        return fail(jsonPath + ": " + llvm::toString(plain.takeError()));
      out.push_back(json::Object{{"ids", std::move(idList)},
                                 {"decoded", tokenizer->decode(*ids)},
                                 {"round_trip", tokenizer->decode(*plain)}});
    }
    llvm::outs() << json::Value(std::move(out)) << "\n";
    return 0;
  }
  for (const std::string &arg : args) {
    if (decode) {
      std::vector<int32_t> ids;
      for (llvm::StringRef item : llvm::split(arg, ',')) {
        int32_t id;
        if (item.trim().getAsInteger(10, id) || id < 0)
          return fail("--decode: expected ids such as 1,2,3, got '" + arg +
                      "'");
        ids.push_back(id);
      }
      llvm::outs() << tokenizer->decode(ids, skipSpecial) << "\n";
      continue;
    }
    auto ids = tokenizer->encode(arg, special);
    if (!ids)
      return fail(llvm::toString(ids.takeError()));
    llvm::outs() << join(*ids) << "\n";
  }
  return 0;
}
