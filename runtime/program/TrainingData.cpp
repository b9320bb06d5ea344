//===- TrainingData.cpp - token ids to train on, and their batches --------===//
#include "runtime/program/TrainingData.h"

#include "runtime/weights/Safetensors.h"

#include "llvm/Support/MemoryBuffer.h"

#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>

using namespace tpc;
using namespace tpc::program;

namespace {
[[noreturn]] void fail(const std::string &path, const std::string &what) {
  throw std::runtime_error(path + ": " + what);
}

/// Little-endian integer `index` of `width` bytes.
uint64_t readInteger(const uint8_t *data, size_t index, size_t width) {
  uint64_t value = 0;
  for (size_t b = 0; b < width; ++b)
    value |= uint64_t(data[index * width + b]) << (8 * b);
  return value;
}

/// The ids of `count` integers of `width` bytes, checked against `vocab`.
std::vector<int32_t> checkedIds(const std::string &path, const uint8_t *data,
                                size_t count, size_t width, bool isSigned,
                                int64_t vocab) {
  std::vector<int32_t> ids(count);
  for (size_t i = 0; i < count; ++i) {
    uint64_t raw = readInteger(data, i, width);
    int64_t id = int64_t(raw);
    if (isSigned && width < 8 && (raw >> (8 * width - 1)) & 1)
      id = int64_t(raw) - (int64_t(1) << (8 * width)); // sign-extended
    if (id < 0 || id >= vocab)
      fail(path, "id " + std::to_string(id) + " at position " +
                     std::to_string(i) + " is outside the vocabulary of " +
                     std::to_string(vocab));
    ids[i] = int32_t(id);
  }
  return ids;
}
} // namespace

std::vector<int32_t> tpc::program::parseTokenData(
    std::string_view bytes, const std::string &path,
    const std::string &elementType, const std::string &tensor, int64_t vocab,
    int64_t minTokens) {
  std::vector<int32_t> ids;
  if (llvm::StringRef(path).ends_with(".safetensors")) {
    auto file = weights::SafetensorsFile::fromBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(
            llvm::StringRef(bytes.data(), bytes.size()), path),
        path);
    if (!file)
      throw std::runtime_error(llvm::toString(file.takeError()));
    const weights::TensorInfo *info = nullptr;
    if (!tensor.empty()) {
      info = file->find(tensor);
      if (!info)
        fail(path, "no tensor '" + tensor + "' (--data-tensor)");
    } else if (file->tensors().size() == 1) {
      info = &file->tensors().front();
    } else {
      fail(path, "holds " + std::to_string(file->tensors().size()) +
                     " tensors; name the token ids with --data-tensor");
    }
    bool isSigned;
    switch (info->dtype) {
    case weights::DType::U8:
    case weights::DType::U16:
    case weights::DType::U32:
      isSigned = false;
      break;
    case weights::DType::I32:
    case weights::DType::I64:
      isSigned = true;
      break;
    default:
      fail(path, "tensor '" + info->name + "' is " +
                     weights::dtypeName(info->dtype).str() +
                     "; token ids must be U8, U16, U32, I32 or I64");
    }
    llvm::ArrayRef<uint8_t> data = file->bytes(*info);
    ids = checkedIds(path, data.data(), size_t(info->numElements()),
                     size_t(weights::dtypeSize(info->dtype)), isSigned, vocab);
  } else {
    size_t width = elementType == "uint32" ? 4 : 2;
    if (bytes.size() % width != 0)
      fail(path, std::to_string(bytes.size()) +
                     " bytes are not a whole number of " + elementType +
                     " ids (--data-type)");
    ids = checkedIds(path, reinterpret_cast<const uint8_t *>(bytes.data()),
                     bytes.size() / width, width, false, vocab);
  }
  if (int64_t(ids.size()) < minTokens)
    fail(path, std::to_string(ids.size()) +
                   " tokens are fewer than one window of --seq-len + 1 = " +
                   std::to_string(minTokens));
  return ids;
}

std::vector<int32_t> tpc::program::readTokenFile(const std::string &path,
                                                 const std::string &elementType,
                                                 const std::string &tensor,
                                                 int64_t vocab,
                                                 int64_t minTokens) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    fail(path, "cannot open the --data file");
  std::string bytes((std::istreambuf_iterator<char>(file)),
                    std::istreambuf_iterator<char>());
  return parseTokenData(bytes, path, elementType, tensor, vocab, minTokens);
}

int64_t tpc::program::ShuffledWindows::at(int64_t wanted, int64_t index) {
  if (wanted != epoch) {
    order.resize(size_t(std::max<int64_t>(windows, 0)));
    for (int64_t i = 0; i < windows; ++i)
      order[i] = i;
    // Fisher-Yates with a fixed generator: no std::shuffle, whose use of
    // the generator may differ between standard libraries. Each epoch's
    // generator is seeded from (seed, epoch).
    std::seed_seq seeds{uint32_t(seed), uint32_t(seed >> 32),
                        uint32_t(wanted), uint32_t(uint64_t(wanted) >> 32)};
    std::mt19937_64 random(seeds);
    for (int64_t i = windows - 1; i > 0; --i)
      std::swap(order[i], order[random() % uint64_t(i + 1)]);
    epoch = wanted;
  }
  return order[index];
}

void tpc::program::trainingBatch(const std::vector<int32_t> &tokens,
                                 int64_t step, int64_t batch, int64_t seqLen,
                                 Ids &ids, Ids &targets, int64_t first,
                                 int64_t count, ShuffledWindows *shuffled) {
  if (count < 0)
    count = batch;
  int64_t windows = (int64_t(tokens.size()) - 1) / seqLen;
  ids = {std::vector<int32_t>(size_t(count * seqLen)), count, seqLen};
  targets = ids;
  for (int64_t b = 0; b < count; ++b) {
    int64_t read = step * batch + first + b;
    int64_t window = shuffled ? shuffled->at(read / windows, read % windows)
                              : read % windows;
    int64_t start = window * seqLen;
    for (int64_t s = 0; s < seqLen; ++s) {
      ids.values[b * seqLen + s] = tokens[start + s];
      targets.values[b * seqLen + s] = tokens[start + s + 1];
    }
  }
}
