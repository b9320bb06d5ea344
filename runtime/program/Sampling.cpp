//===- Sampling.cpp - the next token from vocabulary-split logits ---------===//
#include "runtime/program/Sampling.h"

#include "runtime/cpu/Kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace tpc;
using namespace tpc::program;

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// A candidate token: its logit and global id.
struct Candidate {
  float value;
  int64_t id;
};

/// Higher logits first, lower ids on ties; NaN counts as -inf.
bool before(const Candidate &a, const Candidate &b) {
  float x = std::isnan(a.value) ? kNegInf : a.value;
  float y = std::isnan(b.value) ? kNegInf : b.value;
  return x > y || (x == y && a.id < b.id);
}

/// A uniform double in [0, 1) from (seed, step, row): splitmix64 over the
/// three, the same on every rank and at every degree.
double uniform(uint64_t seed, uint64_t step, uint64_t row) {
  auto mix = [](uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  };
  uint64_t x = mix(mix(mix(seed) ^ step) ^ row);
  return double(x >> 11) * 0x1.0p-53;
}

/// The tokens sampling may pick from a row's candidates (any order), with
/// their temperature-scaled logits, most likely first: top-k, then top-p
/// (the smallest prefix whose probability reaches p, at least one token).
std::vector<Candidate> kept(std::vector<Candidate> candidates,
                            const SamplingParams &params) {
  std::sort(candidates.begin(), candidates.end(), before);
  if (params.topK > 0 && int64_t(candidates.size()) > params.topK)
    candidates.resize(params.topK);
  // Tokens that can never be drawn (-inf, NaN) are not candidates.
  while (candidates.size() > 1 &&
         !(candidates.back().value > kNegInf))
    candidates.pop_back();
  for (Candidate &c : candidates)
    c.value = float(c.value / params.temperature);
  if (params.topP < 1) {
    double best = candidates.front().value, total = 0;
    std::vector<double> weights;
    for (const Candidate &c : candidates) {
      weights.push_back(std::exp(double(c.value) - best));
      total += weights.back();
    }
    double mass = 0;
    size_t keep = 0;
    while (keep < candidates.size() && mass < params.topP * total)
      mass += weights[keep++];
    candidates.resize(std::max<size_t>(keep, 1));
  }
  return candidates;
}

/// Draws from the softmax of `candidates` (scaled logits) with `u` in
/// [0, 1).
int64_t draw(const std::vector<Candidate> &candidates, double u) {
  double best = candidates.front().value, total = 0;
  std::vector<double> weights;
  for (const Candidate &c : candidates) {
    weights.push_back(std::exp(double(c.value) - best));
    total += weights.back();
  }
  double target = u * total, sum = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    sum += weights[i];
    if (target < sum)
      return candidates[i].id;
  }
  return candidates.back().id;
}

std::vector<Candidate> rowCandidates(const float *row, int64_t count,
                                     int64_t firstId) {
  std::vector<Candidate> out(count);
  for (int64_t v = 0; v < count; ++v)
    out[v] = {row[v], firstId + v};
  return out;
}

sharding::DimSplit vocabSplit(const Layout &layout, int64_t vocab,
                              int ranks) {
  return {vocab, layout.unit, layout.sections, layout.groups, ranks};
}

/// Every rank's `perRank` floats per row, all-gathered: [ranks][rows][n].
std::vector<float> gatherFixed(comm::Communicator &comm,
                               const std::vector<float> &mine) {
  std::vector<size_t> counts(comm.size(), mine.size());
  std::vector<float> all(mine.size() * comm.size());
  comm.allGather(mine.data(), all.data(), counts);
  return all;
}
/// Each rank's best per row, all-gathered when the vocabulary is split,
/// then the best of the ranks' bests.
std::vector<int32_t> bestOfRanks(comm::Communicator &comm,
                                 const std::vector<cpu::ArgmaxEntry> &local,
                                 bool whole) {
  int64_t rows = int64_t(local.size()), ranks = 1;
  std::vector<cpu::ArgmaxEntry> all = local;
  if (!whole) {
    std::vector<float> packed;
    for (const cpu::ArgmaxEntry &e : local) {
      packed.push_back(e.value);
      packed.push_back(float(e.index));
    }
    std::vector<float> gathered = gatherFixed(comm, packed);
    ranks = comm.size();
    all.resize(ranks * rows);
    for (int64_t i = 0; i < ranks * rows; ++i)
      all[i] = {gathered[2 * i], int64_t(gathered[2 * i + 1])};
  }
  std::vector<int64_t> ids(rows);
  cpu::mergeArgmax(all.data(), ranks, rows, ids.data());
  std::vector<int32_t> tokens(rows);
  for (int64_t r = 0; r < rows; ++r)
    tokens[r] = int32_t(std::max<int64_t>(ids[r], 0));
  return tokens;
}

/// The global id of the rank's first logits column.
int64_t vocabBeginOf(const RankContext &ctx, const Layout &layout,
                     int64_t vocab) {
  if (layout.dim != 1)
    return 0;
  return sharding::elementRanges(vocabSplit(layout, vocab, ctx.size),
                                 ctx.rank)[0]
      .begin;
}
} // namespace

std::vector<int32_t> tpc::program::greedyTokens(RankContext &ctx,
                                                comm::Communicator &comm,
                                                const Tensor &logits,
                                                const Layout &layout,
                                                int64_t vocab) {
  int64_t rows = logits.shape()[0], cols = logits.shape()[1];
  std::vector<cpu::ArgmaxEntry> local(rows);
  backendOf(ctx).rowArgmax(logits, rows, cols,
                           vocabBeginOf(ctx, layout, vocab), local.data());
  return bestOfRanks(comm, local, layout.dim != 1);
}

ShardedLogits tpc::program::shardedLogits(RankContext &ctx,
                                          const Tensor &logits,
                                          const Layout &layout,
                                          int64_t vocab) {
  ShardedLogits s;
  s.values = logits.toFloats();
  s.rows = logits.shape()[0];
  s.localVocab = logits.shape()[1];
  s.vocab = vocab;
  s.whole = layout.dim != 1;
  s.vocabBegin = vocabBeginOf(ctx, layout, vocab);
  return s;
}

std::vector<float> tpc::program::gatherLogits(comm::Communicator &comm,
                                              const ShardedLogits &logits,
                                              const Layout &layout) {
  if (logits.whole)
    return logits.values;
  sharding::DimSplit split = vocabSplit(layout, logits.vocab, comm.size());
  std::vector<size_t> counts;
  for (int r = 0; r < comm.size(); ++r)
    counts.push_back(size_t(logits.rows * sharding::localSize(split, r)));
  std::vector<float> gathered(logits.rows * logits.vocab);
  comm.allGather(logits.values.data(), gathered.data(), counts);
  // Rank r's block is [rows, local_r]; its columns are its element ranges.
  std::vector<float> out(logits.rows * logits.vocab);
  size_t at = 0;
  for (int r = 0; r < comm.size(); ++r) {
    int64_t local = sharding::localSize(split, r);
    for (int64_t row = 0; row < logits.rows; ++row) {
      int64_t column = 0;
      for (sharding::Range range : sharding::elementRanges(split, r)) {
        std::copy_n(gathered.begin() + at + row * local + column,
                    range.length(),
                    out.begin() + row * logits.vocab + range.begin);
        column += range.length();
      }
    }
    at += counts[r];
  }
  return out;
}

std::vector<int32_t> tpc::program::sampleTokens(comm::Communicator &comm,
                                                const ShardedLogits &logits,
                                                const Layout &layout,
                                                const SamplingParams &params,
                                                uint64_t step) {
  int64_t rows = logits.rows;
  std::vector<int32_t> tokens(rows);
  if (params.greedy()) {
    std::vector<cpu::ArgmaxEntry> local(rows);
    cpu::localArgmax(logits.values.data(), rows, logits.localVocab,
                     logits.vocabBegin, local.data());
    return bestOfRanks(comm, local, logits.whole);
  }

  // The candidates of each row: every token, or each rank's k best merged.
  std::vector<std::vector<Candidate>> candidates(rows);
  if (params.topK > 0) {
    int64_t k = params.topK;
    std::vector<float> packed;
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<Candidate> row =
          rowCandidates(logits.values.data() + r * logits.localVocab,
                        logits.localVocab, logits.vocabBegin);
      int64_t keep = std::min<int64_t>(k, int64_t(row.size()));
      std::partial_sort(row.begin(), row.begin() + keep, row.end(), before);
      for (int64_t i = 0; i < k; ++i) {
        Candidate c = i < keep ? row[i] : Candidate{kNegInf, -1};
        packed.push_back(c.value);
        packed.push_back(float(c.id));
      }
    }
    std::vector<float> all =
        logits.whole ? packed : gatherFixed(comm, packed);
    int64_t ranks = logits.whole ? 1 : comm.size();
    for (int64_t q = 0; q < ranks; ++q)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < k; ++i) {
          size_t at = 2 * ((q * rows + r) * k + i);
          if (all[at + 1] >= 0)
            candidates[r].push_back({all[at], int64_t(all[at + 1])});
        }
  } else {
    std::vector<float> full = gatherLogits(comm, logits, layout);
    for (int64_t r = 0; r < rows; ++r)
      candidates[r] =
          rowCandidates(full.data() + r * logits.vocab, logits.vocab, 0);
  }
  for (int64_t r = 0; r < rows; ++r)
    tokens[r] = int32_t(draw(kept(std::move(candidates[r]), params),
                             uniform(params.seed, step, uint64_t(r))));
  return tokens;
}

std::vector<float> tpc::program::processedLogits(const float *row,
                                                 int64_t vocab,
                                                 const SamplingParams &params) {
  if (params.greedy())
    return std::vector<float>(row, row + vocab);
  std::vector<float> out(vocab, kNegInf);
  for (const Candidate &c : kept(rowCandidates(row, vocab, 0), params))
    out[c.id] = c.value;
  return out;
}
