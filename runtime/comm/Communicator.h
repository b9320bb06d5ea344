//===- Communicator.h - collectives behind one interface --------*- C++ -*-===//
//
// The collectives a partitioned program calls, for one rank of a group:
// Gloo on the CPU (GlooCommunicator.h), NCCL on GPUs. Counts may differ
// between ranks (uneven splits). Every call is blocking; a failure (a peer
// gone, a timeout) is a CollectiveError naming the operation and the rank.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_COMM_COMMUNICATOR_H
#define TPC_RUNTIME_COMM_COMMUNICATOR_H

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <vector>

namespace tpc::comm {

/// A collective that failed: often a consequence of a peer that failed
/// first (a closed connection, a timeout).
struct CollectiveError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Communicator {
public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  /// data[0, count) becomes the sum over ranks.
  virtual void allReduceSum(float *data, size_t count) = 0;
  /// Rank r contributes counts[r] elements from `in`; `out` receives all of
  /// them, rank after rank (sum of counts elements).
  virtual void allGather(const float *in, float *out,
                         const std::vector<size_t> &counts) = 0;
  /// Every rank holds sum(counts) elements in `data`; `out` receives this
  /// rank's counts[rank] elements of the sum (rank r's part starts after
  /// the parts of ranks 0..r-1).
  virtual void reduceScatterSum(const float *data, float *out,
                                const std::vector<size_t> &counts) = 0;
  /// data[0, count) of rank `root` is copied to every rank.
  virtual void broadcast(float *data, size_t count, int root) = 0;
  virtual void barrier() = 0;

  /// A communicator over a subgroup (a mesh axis): the ranks that call
  /// split with the same `color` form one group, in which this rank is
  /// rank `rankInGroup` of `groupSize`. Every rank of this communicator
  /// calls it, in the same order. Throws CollectiveError where a backend
  /// cannot.
  virtual std::unique_ptr<Communicator> split(int color, int rankInGroup,
                                              int groupSize) {
    throw CollectiveError("this communicator cannot be split into groups");
  }
};

} // namespace tpc::comm

#endif // TPC_RUNTIME_COMM_COMMUNICATOR_H
