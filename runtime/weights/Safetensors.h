//===- Safetensors.h - validated, memory-mapped safetensors -----*- C++ -*-===//
//
// Reads safetensors checkpoints: one file, or a directory sharded through
// model.safetensors.index.json. Files are memory-mapped and their header is
// validated by the format's rules before anything is used: an 8-byte
// little-endian header length within a cap and within the file, a JSON
// header of {dtype, shape, data_offsets} entries, byte sizes that match
// dtype x elements, and offsets that tile the data section exactly (no
// overlap, no gap, nothing past the end).
//
// Shared by the model importer (which checks a graph's weights) and the
// runtime (which reads each rank's slice). Depends on LLVM Support only.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_WEIGHTS_SAFETENSORS_H
#define TPC_RUNTIME_WEIGHTS_SAFETENSORS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tpc::weights {

/// The element types safetensors defines.
enum class DType {
  Bool,
  U8,
  I8,
  F8E5M2,
  F8E4M3,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  I64,
  U64,
  F64
};

/// The dtype named `name` in a safetensors header ("F32", "BF16", ...).
std::optional<DType> parseDType(llvm::StringRef name);
/// The header spelling of `dtype`.
llvm::StringRef dtypeName(DType dtype);
/// Bytes per element.
uint64_t dtypeSize(DType dtype);

/// One tensor of a file: its place in the data section (the bytes after the
/// header), relative to the start of that section.
struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;

  uint64_t numElements() const;
};

/// The largest header accepted, as in the reference implementation.
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

/// One validated, memory-mapped safetensors file.
class SafetensorsFile {
public:
  /// Maps and validates the file at `path`.
  static llvm::Expected<SafetensorsFile> open(llvm::StringRef path);
  /// Validates `buffer` as the contents of a file called `path`.
  static llvm::Expected<SafetensorsFile>
  fromBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef path);

  llvm::StringRef path() const { return path_; }
  /// Tensors in data-section order.
  llvm::ArrayRef<TensorInfo> tensors() const { return tensors_; }
  /// The tensor called `name`, or null.
  const TensorInfo *find(llvm::StringRef name) const;
  /// The raw little-endian bytes of `tensor`.
  llvm::ArrayRef<uint8_t> bytes(const TensorInfo &tensor) const;
  /// Tells the kernel the mapped pages wholly inside `tensor`'s bytes are
  /// not needed any more (once copied): they leave the resident set and
  /// are read again from the file only if touched again.
  void dropPages(const TensorInfo &tensor) const;
  /// The same for the pages wholly inside [begin, begin + bytes), when
  /// that range lies in this file's mapping (else nothing).
  void dropPages(const void *begin, size_t bytes) const;

private:
  SafetensorsFile() = default;
  std::string path_;
  std::unique_ptr<llvm::MemoryBuffer> buffer_;
  uint64_t dataStart_ = 0;
  std::vector<TensorInfo> tensors_;
  llvm::StringMap<size_t> byName_;
};

/// The (tensor name, file name) pairs of a sharded checkpoint's index
/// (`model.safetensors.index.json`, read as `path`), sorted by name; an
/// error names the field that is not as the format says.
llvm::Expected<std::vector<std::pair<std::string, std::string>>>
parseShardIndex(llvm::StringRef text, llvm::StringRef path);

/// A checkpoint: one safetensors file, or several mapped by an index.
class WeightStore {
public:
  /// Opens `path`: a .safetensors file, a model.safetensors.index.json, or a
  /// directory holding either (the index wins when both are there).
  static llvm::Expected<WeightStore> open(llvm::StringRef path);

  struct Entry {
    const SafetensorsFile *file;
    const TensorInfo *tensor;
  };
  /// The tensor called `name` and the file holding it, or nullopt.
  std::optional<Entry> find(llvm::StringRef name) const;
  /// The tensor a model calls `name`, as Hugging Face's loader finds it: the
  /// name itself, or the name with or without a base-model prefix
  /// ("transformer." for GPT-2, "model." for the Llama family): a
  /// GPT2Model checkpoint's "wte.weight" is GPT2LMHeadModel's
  /// "transformer.wte.weight".
  std::optional<Entry> findModelTensor(llvm::StringRef name) const;
  /// Where the checkpoint came from, for messages.
  llvm::StringRef path() const { return path_; }

private:
  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  llvm::StringMap<Entry> byName_;
};

/// A tensor to write: its little-endian bytes, dtype x shape of them.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

/// `values` as a TensorToWrite.
TensorToWrite f32Tensor(std::string name, std::vector<int64_t> shape,
                        const std::vector<float> &values);
TensorToWrite i64Tensor(std::string name, std::vector<int64_t> shape,
                        const std::vector<int64_t> &values);

/// Writes `tensors` to `path` as one safetensors file (tensors in the given
/// order, the header padded to 8 bytes as the reference writer does).
llvm::Error writeSafetensors(llvm::StringRef path,
                             llvm::ArrayRef<TensorToWrite> tensors);

} // namespace tpc::weights

#endif // TPC_RUNTIME_WEIGHTS_SAFETENSORS_H
