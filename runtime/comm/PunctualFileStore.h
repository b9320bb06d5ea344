//===- PunctualFileStore.h - a rendezvous store that keeps its timeout ---===//
#ifndef TPC_RUNTIME_COMM_PUNCTUALFILESTORE_H
#define TPC_RUNTIME_COMM_PUNCTUALFILESTORE_H

#include <gloo/rendezvous/file_store.h>

#include <chrono>
#include <string>
#include <vector>

namespace tpc::comm {

/// Gloo's file store, with a wait that keeps its timeout to the
/// millisecond. Gloo's own compares the elapsed time cut to whole seconds
/// with the timeout, so a wait of 3 s gave up after 4: a job whose first
/// process connects with the whole timeout left outlived it by a second.
/// Throws "Wait timeout for key(s): ..." as Gloo's does.
class PunctualFileStore : public gloo::rendezvous::FileStore {
public:
  using gloo::rendezvous::FileStore::FileStore;
  using gloo::rendezvous::FileStore::wait;

  void wait(const std::vector<std::string> &keys,
            const std::chrono::milliseconds &timeout) override;
};

} // namespace tpc::comm

#endif // TPC_RUNTIME_COMM_PUNCTUALFILESTORE_H
