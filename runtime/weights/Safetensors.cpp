//===- Safetensors.cpp - validated, memory-mapped safetensors -------------===//
#include "runtime/weights/Safetensors.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SwapByteOrder.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

using namespace tpc::weights;
using llvm::StringRef;

namespace {
struct DTypeInfo {
  DType dtype;
  const char *name;
  uint64_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::Bool, "BOOL", 1},      {DType::U8, "U8", 1},
    {DType::I8, "I8", 1},          {DType::F8E5M2, "F8_E5M2", 1},
    {DType::F8E4M3, "F8_E4M3", 1}, {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},        {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},      {DType::I32, "I32", 4},
    {DType::U32, "U32", 4},        {DType::F32, "F32", 4},
    {DType::I64, "I64", 8},        {DType::U64, "U64", 8},
    {DType::F64, "F64", 8},
};

const DTypeInfo &info(DType dtype) {
  for (const DTypeInfo &i : kDTypes)
    if (i.dtype == dtype)
      return i;
  llvm_unreachable("every DType is in kDTypes");
}

/// An error "PATH: message".
template <typename... Ts>
llvm::Error fail(StringRef path, const char *fmt, Ts &&...vals) {
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      path.str() + ": " + llvm::formatv(fmt, std::forward<Ts>(vals)...).str());
}

std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string out = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    out += (i ? ", " : "") + std::to_string(d);
  return out + "]";
}

std::string allDTypeNames() {
  std::string out;
  for (const DTypeInfo &i : kDTypes)
    out += (out.empty() ? "" : ", ") + std::string(i.name);
  return out;
}

/// Reads a JSON array of non-negative integers.
std::optional<std::vector<int64_t>> readCounts(const llvm::json::Value *v) {
  const llvm::json::Array *array = v ? v->getAsArray() : nullptr;
  if (!array)
    return std::nullopt;
  std::vector<int64_t> out;
  for (const llvm::json::Value &e : *array) {
    std::optional<int64_t> n = e.getAsInteger();
    if (!n || *n < 0)
      return std::nullopt;
    out.push_back(*n);
  }
  return out;
}

/// Parses one header entry into `tensor`, checking its own fields.
llvm::Error parseEntry(StringRef path, StringRef name,
                       const llvm::json::Value &value, TensorInfo &tensor) {
  const llvm::json::Object *object = value.getAsObject();
  if (!object)
    return fail(path,
                "tensor '{0}': expected an object with dtype, shape "
                "and data_offsets",
                name);
  tensor.name = name.str();

  std::optional<StringRef> dtypeName = object->getString("dtype");
  std::optional<DType> dtype =
      dtypeName ? parseDType(*dtypeName) : std::nullopt;
  if (!dtype)
    return fail(path,
                "tensor '{0}': field 'dtype': expected one of {1}, got "
                "{2}",
                name, allDTypeNames(),
                dtypeName ? "'" + dtypeName->str() + "'"
                          : std::string("no dtype"));
  tensor.dtype = *dtype;

  std::optional<std::vector<int64_t>> shape = readCounts(object->get("shape"));
  if (!shape)
    return fail(path,
                "tensor '{0}': field 'shape': expected an array of "
                "non-negative integers",
                name);
  tensor.shape = std::move(*shape);

  std::optional<std::vector<int64_t>> offsets =
      readCounts(object->get("data_offsets"));
  if (!offsets || offsets->size() != 2 || (*offsets)[0] > (*offsets)[1])
    return fail(path,
                "tensor '{0}': field 'data_offsets': expected [begin, "
                "end] with 0 <= begin <= end",
                name);
  tensor.begin = (*offsets)[0];
  tensor.end = (*offsets)[1];

  uint64_t bytes = dtypeSize(tensor.dtype);
  for (int64_t d : tensor.shape)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes))
      return fail(path, "tensor '{0}': shape {1} is too large", name,
                  formatShape(tensor.shape));
  if (bytes != tensor.end - tensor.begin)
    return fail(path,
                "tensor '{0}': data_offsets [{1}, {2}] hold {3} bytes, "
                "expected {4} ({5} {6})",
                name, tensor.begin, tensor.end, tensor.end - tensor.begin,
                bytes, dtypeName->str(), formatShape(tensor.shape));
  return llvm::Error::success();
}
} // namespace

std::optional<DType> tpc::weights::parseDType(StringRef name) {
  for (const DTypeInfo &i : kDTypes)
    if (name == i.name)
      return i.dtype;
  return std::nullopt;
}

StringRef tpc::weights::dtypeName(DType dtype) { return info(dtype).name; }
uint64_t tpc::weights::dtypeSize(DType dtype) { return info(dtype).size; }

uint64_t TensorInfo::numElements() const {
  uint64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

//===----------------------------------------------------------------------===//
// SafetensorsFile
//===----------------------------------------------------------------------===//

llvm::Expected<SafetensorsFile> SafetensorsFile::open(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return fail(path, "cannot read: {0}", buffer.getError().message());
  return fromBuffer(std::move(*buffer), path);
}

llvm::Expected<SafetensorsFile>
SafetensorsFile::fromBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer,
                            StringRef path) {
  StringRef contents = buffer->getBuffer();
  if (contents.size() < 8)
    return fail(path,
                "truncated: a safetensors file starts with an 8-byte "
                "header length, got {0} bytes",
                contents.size());
  uint64_t headerLen = llvm::support::endian::read64le(contents.data());
  if (headerLen > kMaxHeaderBytes)
    return fail(path, "header length {0} exceeds the limit of {1} bytes",
                headerLen, kMaxHeaderBytes);
  if (headerLen > contents.size() - 8)
    return fail(path,
                "header length {0} runs past the end of the file ({1} "
                "bytes follow the length)",
                headerLen, contents.size() - 8);

  StringRef headerText = contents.substr(8, headerLen);
  llvm::Expected<llvm::json::Value> header = llvm::json::parse(headerText);
  if (!header)
    return fail(path, "header is not valid JSON: {0}",
                llvm::toString(header.takeError()));
  const llvm::json::Object *entries = header->getAsObject();
  if (!entries)
    return fail(path, "header must be a JSON object of tensors");

  SafetensorsFile file;
  file.path_ = path.str();
  file.dataStart_ = 8 + headerLen;
  uint64_t dataSize = contents.size() - file.dataStart_;

  // Visit entries by name so that the first error reported is stable.
  std::vector<StringRef> names;
  for (const auto &entry : *entries)
    names.push_back(entry.first);
  llvm::sort(names);
  for (StringRef name : names) {
    const llvm::json::Value &value = *entries->get(name);
    if (name == "__metadata__") {
      const llvm::json::Object *metadata = value.getAsObject();
      if (!metadata || llvm::any_of(*metadata, [](const auto &kv) {
            return !kv.second.getAsString();
          }))
        return fail(path, "field '__metadata__': expected an object of "
                          "strings");
      continue;
    }
    TensorInfo tensor;
    if (llvm::Error err = parseEntry(path, name, value, tensor))
      return std::move(err);
    file.tensors_.push_back(std::move(tensor));
  }

  // The tensors must tile the data section exactly, in offset order.
  llvm::sort(file.tensors_, [](const TensorInfo &a, const TensorInfo &b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  uint64_t expectedBegin = 0;
  const TensorInfo *previous = nullptr;
  for (const TensorInfo &t : file.tensors_) {
    if (t.begin != expectedBegin) {
      std::string where =
          previous ? llvm::formatv("tensor '{0}' [{1}, {2}]", previous->name,
                                   previous->begin, previous->end)
                         .str()
                   : std::string("the start of the data");
      return fail(path, "tensor '{0}': data_offsets [{1}, {2}] {3} {4}", t.name,
                  t.begin, t.end,
                  t.begin < expectedBegin ? "overlap" : "leave a gap after",
                  where);
    }
    expectedBegin = t.end;
    previous = &t;
  }
  if (expectedBegin != dataSize)
    return fail(path,
                "tensor data ends at byte {0} but the file holds {1} "
                "data bytes ({2})",
                expectedBegin, dataSize,
                expectedBegin > dataSize ? "truncated" : "trailing bytes");

  for (auto [index, t] : llvm::enumerate(file.tensors_))
    file.byName_[t.name] = index;
  file.buffer_ = std::move(buffer);
  return std::move(file);
}

const TensorInfo *SafetensorsFile::find(StringRef name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : &tensors_[it->second];
}

llvm::ArrayRef<uint8_t> SafetensorsFile::bytes(const TensorInfo &t) const {
  const auto *data =
      reinterpret_cast<const uint8_t *>(buffer_->getBufferStart() + dataStart_);
  return llvm::ArrayRef(data + t.begin, data + t.end);
}

void SafetensorsFile::dropPages(const TensorInfo &tensor) const {
  llvm::ArrayRef<uint8_t> data = bytes(tensor);
  dropPages(data.data(), data.size());
}

void SafetensorsFile::dropPages(const void *start, size_t size) const {
  uintptr_t first = uintptr_t(start), last = first + size;
  // Only a file mapping can give pages back (a buffer read into memory
  // cannot), and only its own; failure just keeps them.
  if (buffer_->getBufferKind() != llvm::MemoryBuffer::MemoryBuffer_MMap ||
      first < uintptr_t(buffer_->getBufferStart()) ||
      last > uintptr_t(buffer_->getBufferEnd()))
    return;
  uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = (first + page - 1) / page * page;
  uintptr_t end = last / page * page;
  if (end > begin)
    ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
}

//===----------------------------------------------------------------------===//
// WeightStore
//===----------------------------------------------------------------------===//

static constexpr StringRef kIndexName = "model.safetensors.index.json";
static constexpr StringRef kSingleName = "model.safetensors";

llvm::Expected<std::vector<std::pair<std::string, std::string>>>
tpc::weights::parseShardIndex(StringRef text, StringRef path) {
  llvm::Expected<llvm::json::Value> index = llvm::json::parse(text);
  if (!index)
    return fail(path, "invalid JSON: {0}", llvm::toString(index.takeError()));
  const llvm::json::Object *root = index->getAsObject();
  const llvm::json::Object *weightMap =
      root ? root->getObject("weight_map") : nullptr;
  if (!weightMap)
    return fail(path, "field 'weight_map': expected an object mapping "
                      "tensor names to files");
  std::vector<std::pair<std::string, std::string>> mapping;
  for (const auto &[name, value] : *weightMap) {
    std::optional<StringRef> file = value.getAsString();
    if (!file || file->empty() || file->contains('/') || *file == "." ||
        *file == "..")
      return fail(path,
                  "field 'weight_map': tensor '{0}': expected a "
                  "file name in the index's directory",
                  StringRef(name));
    mapping.emplace_back(StringRef(name).str(), file->str());
  }
  llvm::sort(mapping);
  return std::move(mapping);
}

llvm::Expected<WeightStore> WeightStore::open(StringRef path) {
  WeightStore store;
  store.path_ = path.str();
  auto addFile = [&](StringRef filePath) -> llvm::Error {
    llvm::Expected<SafetensorsFile> file = SafetensorsFile::open(filePath);
    if (!file)
      return file.takeError();
    store.files_.push_back(std::make_unique<SafetensorsFile>(std::move(*file)));
    const SafetensorsFile *added = store.files_.back().get();
    for (const TensorInfo &t : added->tensors()) {
      auto [it, inserted] = store.byName_.try_emplace(t.name, Entry{added, &t});
      if (!inserted)
        return fail(filePath, "tensor '{0}' is also in {1}", t.name,
                    it->second.file->path());
    }
    return llvm::Error::success();
  };

  std::string indexPath;
  if (llvm::sys::fs::is_directory(path)) {
    llvm::SmallString<256> index(path), single(path);
    llvm::sys::path::append(index, kIndexName);
    llvm::sys::path::append(single, kSingleName);
    if (llvm::sys::fs::exists(index))
      indexPath = index.str().str();
    else if (llvm::sys::fs::exists(single)) {
      if (llvm::Error err = addFile(single))
        return std::move(err);
      return std::move(store);
    } else
      return fail(path, "no {0} or {1} in this directory", kSingleName,
                  kIndexName);
  } else if (path.ends_with(".index.json")) {
    indexPath = path.str();
  } else {
    if (llvm::Error err = addFile(path))
      return std::move(err);
    return std::move(store);
  }

  // A sharded checkpoint: the index maps every tensor to its file.
  auto text = llvm::MemoryBuffer::getFile(indexPath, /*IsText=*/true);
  if (!text)
    return fail(indexPath, "cannot read: {0}", text.getError().message());
  auto mapping = parseShardIndex((*text)->getBuffer(), indexPath);
  if (!mapping)
    return mapping.takeError();
  llvm::StringMap<bool> opened;
  StringRef dir = llvm::sys::path::parent_path(indexPath);
  for (const auto &[name, file] : *mapping) {
    llvm::SmallString<256> filePath(dir);
    llvm::sys::path::append(filePath, file);
    if (opened.try_emplace(file, true).second)
      if (llvm::Error err = addFile(filePath))
        return std::move(err);
    std::optional<Entry> entry = store.find(name);
    if (!entry || llvm::sys::path::filename(entry->file->path()) != file)
      return fail(indexPath,
                  "tensor '{0}' is mapped to {1}, which does not "
                  "hold it",
                  name, file);
  }
  return std::move(store);
}

std::optional<WeightStore::Entry> WeightStore::find(StringRef name) const {
  auto it = byName_.find(name);
  if (it == byName_.end())
    return std::nullopt;
  return it->second;
}

std::optional<WeightStore::Entry>
WeightStore::findModelTensor(StringRef name) const {
  if (auto entry = find(name))
    return entry;
  static constexpr StringRef prefixes[] = {"transformer.", "model."};
  for (StringRef prefix : prefixes) {
    if (name.starts_with(prefix))
      if (auto entry = find(name.drop_front(prefix.size())))
        return entry;
    if (auto entry = find((prefix + name).str()))
      return entry;
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

namespace {
template <typename T>
std::vector<uint8_t> littleEndianBytes(const std::vector<T> &values) {
  static_assert(llvm::sys::IsLittleEndianHost,
                "safetensors data is little-endian");
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  if (!values.empty())
    std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}
} // namespace

TensorToWrite tpc::weights::f32Tensor(std::string name,
                                      std::vector<int64_t> shape,
                                      const std::vector<float> &values) {
  return {std::move(name), DType::F32, std::move(shape),
          littleEndianBytes(values)};
}

TensorToWrite tpc::weights::i64Tensor(std::string name,
                                      std::vector<int64_t> shape,
                                      const std::vector<int64_t> &values) {
  return {std::move(name), DType::I64, std::move(shape),
          littleEndianBytes(values)};
}

llvm::Error tpc::weights::writeSafetensors(llvm::StringRef path,
                                           llvm::ArrayRef<TensorToWrite> tensors) {
  std::string header;
  llvm::raw_string_ostream os(header);
  llvm::json::OStream json(os);
  uint64_t offset = 0;
  json.object([&] {
    for (const TensorToWrite &t : tensors) {
      json.attributeObject(t.name, [&] {
        json.attribute("dtype", dtypeName(t.dtype));
        json.attributeArray("shape", [&] {
          for (int64_t d : t.shape)
            json.value(d);
        });
        json.attributeArray("data_offsets", [&] {
          json.value(offset);
          json.value(offset + t.bytes.size());
        });
      });
      offset += t.bytes.size();
    }
  });
  os.flush();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec);
  if (ec)
    return llvm::createStringError(ec, path + ": cannot write: " + ec.message());
  uint64_t length = header.size();
  char prefix[8];
  for (int i = 0; i < 8; ++i)
    prefix[i] = char((length >> (8 * i)) & 0xff);
  out.write(prefix, 8);
  out << header;
  for (const TensorToWrite &t : tensors)
    out.write(reinterpret_cast<const char *>(t.bytes.data()), t.bytes.size());
  out.close();
  if (out.has_error())
    return llvm::createStringError(out.error(),
                                   path + ": cannot write: " +
                                       out.error().message());
  return llvm::Error::success();
}
