//===- Optimizer.cpp - AdamW and SGD over one rank's weight shards --------===//
#include "runtime/program/Optimizer.h"

#include "runtime/cpu/Threads.h"
#include "runtime/program/HostValues.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <stdexcept>

using namespace tpc;
using namespace tpc::program;

double tpc::program::learningRate(const OptimizerOptions &o, int64_t step) {
  if (step < o.warmup)
    return o.lr * double(step + 1) / double(o.warmup);
  int64_t decaySteps = std::max<int64_t>(1, o.steps - o.warmup);
  double progress =
      std::min(1.0, double(step - o.warmup) / double(decaySteps));
  double minLr = o.lr / 10;
  return minLr + 0.5 * (o.lr - minLr) * (1 + std::cos(M_PI * progress));
}

double tpc::program::clipScale(double clip, double norm) {
  return clip > 0 && norm > clip ? clip / (norm + 1e-6) : 1.0;
}

namespace {
/// How many ranks hold each index of a split weight's split dimension.
std::vector<int> holders(const RankContext &ctx,
                         const RankContext::WeightInfo &info) {
  int64_t global = info.globalShape[info.layout.dim];
  sharding::DimSplit split = splitOf(ctx, info.layout, global);
  std::vector<int> holding(size_t(global), 0);
  for (int r = 0; r < ctx.size; ++r)
    for (sharding::Range range : sharding::elementRanges(split, r))
      for (int64_t i = range.begin; i < range.end; ++i)
        ++holding[i];
  return holding;
}

/// Elements several ranks hold have the same gradient on each: each holder
/// counts its share, 1 / (ranks holding that element). The shares of the
/// rank's indices along the split dimension (one value for a whole weight).
std::vector<double> sharesAlong(const RankContext &ctx,
                                const RankContext::WeightInfo &info) {
  int dim = info.layout.dim;
  if (dim < 0)
    return {1.0 / ctx.size};
  std::vector<int> holding = holders(ctx, info);
  sharding::DimSplit split =
      splitOf(ctx, info.layout, info.globalShape[dim]);
  std::vector<double> share;
  for (sharding::Range range : sharding::elementRanges(split, ctx.rank))
    for (int64_t i = range.begin; i < range.end; ++i)
      share.push_back(1.0 / holding[i]);
  return share;
}

/// Whether two or more ranks hold some element of the weight: the same
/// answer on every rank, as a collective over all of them needs (a rank
/// whose own elements are its alone still takes part).
bool sharedByRanks(const RankContext &ctx,
                   const RankContext::WeightInfo &info) {
  if (info.layout.dim < 0)
    return false;
  std::vector<int> holding = holders(ctx, info);
  return std::any_of(holding.begin(), holding.end(),
                     [](int n) { return n > 1; });
}

/// The share of every element of the rank's gradient of weight `name`
/// (laid out like `shard`, the rank's shard of the weight).
std::vector<double> elementShares(const RankContext &ctx,
                                  const std::string &name,
                                  const Tensor &shard) {
  const RankContext::WeightInfo &info = ctx.weightInfo.at(name);
  std::vector<double> along = sharesAlong(ctx, info);
  int64_t n = shard.numElements();
  if (info.layout.dim < 0)
    return std::vector<double>(size_t(n), along[0]);
  int64_t inner = 1;
  for (size_t d = info.layout.dim + 1; d < shard.shape().size(); ++d)
    inner *= shard.shape()[d];
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    out[i] = along[(i / inner) % int64_t(along.size())];
  return out;
}
} // namespace

namespace {
/// The f32 tensors one after another in one buffer, zero-padded to a
/// multiple of `parts` elements: what one collective over a bucket sends.
std::vector<float> pack(const std::vector<Tensor *> &tensors, size_t parts) {
  size_t total = 0;
  for (Tensor *t : tensors)
    total += size_t(t->numElements());
  std::vector<float> buffer((total + parts - 1) / parts * parts, 0.0f);
  size_t at = 0;
  for (Tensor *t : tensors) {
    const float *v = static_cast<const float *>(t->data());
    std::copy(v, v + t->numElements(), buffer.data() + at);
    at += size_t(t->numElements());
  }
  return buffer;
}
} // namespace

void tpc::program::allReduceTogether(comm::Communicator &comm,
                                     const std::vector<Tensor *> &tensors) {
  std::vector<float> bucket = pack(tensors, 1);
  comm.allReduceSum(bucket.data(), bucket.size());
  size_t at = 0;
  for (Tensor *t : tensors) {
    std::copy(bucket.data() + at, bucket.data() + at + t->numElements(),
              static_cast<float *>(t->data()));
    at += size_t(t->numElements());
  }
}

ScatteredBucket
tpc::program::reduceScatterTogether(comm::Communicator &dp,
                                    std::vector<std::string> names,
                                    const std::vector<Tensor *> &grads) {
  size_t parts = size_t(dp.size());
  std::vector<float> bucket = pack(grads, parts);
  size_t part = bucket.size() / parts;
  ScatteredBucket scattered{std::move(names), std::vector<float>(part)};
  dp.reduceScatterSum(bucket.data(), scattered.mine.data(),
                      std::vector<size_t>(parts, part));
  return scattered;
}

void tpc::program::releaseGradient(Tensor &grad) {
  grad = Tensor::empty({0}, DType::F32, grad.device());
}

bool tpc::program::awaitsTpReduction(const RankContext &ctx,
                                     std::string_view name) {
  if (ctx.partialGrads.count(name))
    return true;
  auto info = ctx.weightInfo.find(name);
  return info != ctx.weightInfo.end() && sharedByRanks(ctx, info->second);
}

void tpc::program::reducePartialGradients(RankContext &ctx) {
  if (ctx.partialGrads.empty())
    return;
  std::vector<Tensor *> grads;
  for (const std::string &name : ctx.partialGrads)
    grads.push_back(&ctx.grads.at(name));
  allReduceTogether(*ctx.comm, grads);
}

void tpc::program::sumSharedShards(RankContext &ctx) {
  for (auto &[name, grad] : ctx.grads) {
    const RankContext::WeightInfo &info = ctx.weightInfo.at(name);
    if (!sharedByRanks(ctx, info))
      continue; // Every element has one holder.
    // Every rank writes its part into a zero global buffer at its ranges;
    // the all-reduce sums the sharers' parts; each takes its ranges back.
    int dim = info.layout.dim;
    int64_t outer = 1, inner = 1, global = info.globalShape[dim];
    for (int d = 0; d < dim; ++d)
      outer *= info.globalShape[d];
    for (size_t d = dim + 1; d < info.globalShape.size(); ++d)
      inner *= info.globalShape[d];
    int64_t local = grad.shape()[dim];
    std::vector<float> buffer(size_t(outer * global * inner), 0.0f);
    float *g = static_cast<float *>(grad.data());
    std::vector<sharding::Range> ranges = sharding::elementRanges(
        splitOf(ctx, info.layout, global), ctx.rank);
    auto move = [&](bool toBuffer) {
      for (int64_t o = 0; o < outer; ++o) {
        int64_t at = 0;
        for (sharding::Range range : ranges)
          for (int64_t i = range.begin; i < range.end; ++i, ++at)
            for (int64_t j = 0; j < inner; ++j) {
              float &mine = g[(o * local + at) * inner + j];
              float &whole = buffer[(o * global + i) * inner + j];
              if (toBuffer)
                whole = mine;
              else
                mine = whole;
            }
      }
    };
    move(true);
    ctx.comm->allReduceSum(buffer.data(), buffer.size());
    move(false);
  }
}

double tpc::program::globalGradNorm(RankContext &ctx) {
  double sum = 0;
  for (auto &[name, grad] : ctx.grads) {
    const RankContext::WeightInfo &info = ctx.weightInfo.at(name);
    const float *g = static_cast<const float *>(grad.data());
    int dim = info.layout.dim;
    std::vector<double> share = sharesAlong(ctx, info);
    // The local shard is [outer, share.size(), inner] around `dim`: sum
    // the squares of each inner run, weighted by its element's share.
    int64_t n = grad.numElements();
    int64_t inner = 1;
    for (size_t d = dim + 1; dim >= 0 && d < grad.shape().size(); ++d)
      inner *= grad.shape()[d];
    int64_t along = dim < 0 ? 1 : int64_t(share.size());
    // A whole weight is one run of n elements: cut it into blocks.
    if (dim < 0)
      inner = std::min<int64_t>(n, 4096);
    int64_t runs = (n + inner - 1) / inner;
    std::vector<double> partial(size_t(runs), 0.0);
    cpu::parallelFor(runs, std::max<int64_t>(1, 65536 / inner),
                     [&](int64_t begin, int64_t end) {
                       for (int64_t r = begin; r < end; ++r) {
                         const float *run = g + r * inner;
                         int64_t count = std::min(inner, n - r * inner);
                         double squares = 0;
                         for (int64_t j = 0; j < count; ++j)
                           squares += double(run[j]) * run[j];
                         partial[r] = share[r % along] * squares;
                       }
                     });
    for (double p : partial)
      sum += p;
  }
  if (ctx.size > 1) {
    float total = float(sum);
    ctx.comm->allReduceSum(&total, 1);
    sum = total;
  }
  return std::sqrt(sum);
}

void Optimizer::update(float *w, float *g, float *m1, float *m2, int64_t n,
                       double lr, double gradScale, double decay) {
  // f32 arithmetic over the rank's share of cores; the constants folded.
  double correction1 = 1 - std::pow(options.beta1, double(steps));
  double correction2 = 1 - std::pow(options.beta2, double(steps));
  const float step = float(lr), scale = float(gradScale),
              keep = float(1 - decay);
  if (!options.adamw) {
    cpu::parallelFor(n, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        w[i] = keep * w[i] - step * scale * g[i];
        g[i] = 0;
      }
    });
    return;
  }
  const float b1 = float(options.beta1), b2 = float(options.beta2),
              c1 = float(1 / correction1), c2 = float(1 / correction2),
              eps = float(options.eps);
  cpu::parallelFor(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float gi = scale * g[i];
      m1[i] = b1 * m1[i] + (1 - b1) * gi;
      m2[i] = b2 * m2[i] + (1 - b2) * gi * gi;
      float u = (m1[i] * c1) / (std::sqrt(m2[i] * c2) + eps);
      w[i] = keep * w[i] - step * u;
      g[i] = 0;
    }
  });
}

float *Optimizer::masterOf(RankContext &ctx, const std::string &name) {
  auto it = ctx.weights.find(name);
  if (it == ctx.weights.end())
    throw std::runtime_error("optimizer: gradient of unknown weight '" + name +
                             "'");
  Tensor &weight = it->second;
  if (weight.device() != Device::Host)
    throw std::runtime_error("optimizer: weight '" + name +
                             "' is not a host tensor");
  if (weight.dtype() == DType::F32)
    return static_cast<float *>(weight.data());
  std::vector<float> &copy = master[name];
  if (copy.empty())
    copy = weight.toFloats();
  return copy.data();
}

void Optimizer::publish(RankContext &ctx, const std::string &name) {
  Tensor &weight = ctx.weights.at(name);
  if (weight.dtype() == DType::F32)
    return;
  allFromF32(master.at(name).data(), weight);
}

void Optimizer::step(RankContext &ctx, double lr, double gradScale) {
  ++steps;
  for (auto &[name, grad] : ctx.grads) {
    float *w = masterOf(ctx, name);
    Tensor &weight = ctx.weights.at(name);
    int64_t n = weight.numElements();
    // Decoupled weight decay (AdamW) of matrices; biases and norm scales
    // are not decayed.
    double decay = weight.shape().size() >= 2 ? lr * options.weightDecay : 0;
    std::vector<float> &m1 = m[name], &m2 = v[name];
    if (options.adamw && m1.empty()) {
      m1.assign(size_t(n), 0.0f);
      m2.assign(size_t(n), 0.0f);
    }
    update(w, static_cast<float *>(grad.data()), m1.data(), m2.data(), n, lr,
           gradScale, decay);
    publish(ctx, name);
  }
}

double Optimizer::shardedStep(RankContext &ctx, comm::Communicator &dp,
                              int dpRank, double lr, double clip,
                              const std::vector<ScatteredBucket> &buckets,
                              std::vector<WeightGather> &gathers) {
  ++steps;
  // This replica owns part dpRank of every bucket: its gradients' sum
  // (`mine`), its f32 weights (16-bit programs' masters) and their
  // moments, laid out bucket after bucket.
  bool firstStep = shardBuckets.empty();
  std::vector<std::vector<std::string>> names;
  size_t owned = 0;
  for (const ScatteredBucket &bucket : buckets) {
    names.push_back(bucket.names);
    owned += bucket.mine.size();
  }
  if (firstStep) {
    shardBuckets = names;
    shardMaster.assign(owned, 0.0f);
  } else if (names != shardBuckets || shardMaster.size() != owned) {
    throw std::runtime_error(
        "optimizer: the gradient buckets changed between steps");
  }
  std::vector<float> grads;
  grads.reserve(owned);
  // Each owned element's share of the norm (1 / tp ranks holding it) and
  // its decay.
  std::vector<float> share(owned, 0.0f), decays(owned, 0.0f);
  size_t offset = 0; // of the bucket's part among the owned elements
  for (const ScatteredBucket &bucket : buckets) {
    size_t part = bucket.mine.size();
    size_t begin = size_t(dpRank) * part, end = begin + part;
    grads.insert(grads.end(), bucket.mine.begin(), bucket.mine.end());
    size_t at = 0; // of the weight in the bucket
    for (const std::string &name : bucket.names) {
      // The weight's gradient is laid out alike, or already freed (ZeRO-2).
      const Tensor &weight = ctx.weights.at(name);
      size_t n = size_t(weight.numElements());
      // The owned elements of this weight: [lo, hi) of the bucket.
      size_t lo = std::max(at, begin), hi = std::min(at + n, end);
      if (lo < hi) {
        std::vector<double> shares = elementShares(ctx, name, weight);
        float decay = weight.shape().size() >= 2
                          ? float(lr * options.weightDecay)
                          : 0.0f;
        for (size_t i = lo; i < hi; ++i) {
          share[offset + i - begin] = float(shares[i - at]);
          decays[offset + i - begin] = decay;
        }
        if (firstStep) {
          std::vector<float> values = weight.toFloats();
          std::copy(values.begin() + (lo - at), values.begin() + (hi - at),
                    shardMaster.begin() + (offset + lo - begin));
        }
      }
      at += n;
    }
    offset += part;
  }
  double squares = 0;
  for (size_t i = 0; i < owned; ++i)
    squares += double(share[i]) * grads[i] * grads[i];
  float sums[1] = {float(squares)};
  dp.allReduceSum(sums, 1);
  if (ctx.size > 1)
    ctx.comm->allReduceSum(sums, 1);
  double norm = std::sqrt(double(sums[0]));
  if (!std::isfinite(norm)) {
    // As in the plain step: the caller stops training, and nothing has
    // been updated (every replica saw the same norm).
    --steps;
    return norm;
  }
  double scale = clipScale(clip, norm);
  if (shardM.empty()) {
    shardM.assign(owned, 0.0f);
    shardV.assign(owned, 0.0f);
  }
  // Decay differs by weight: update runs of equal decay.
  for (size_t i = 0; i < owned;) {
    size_t j = i;
    while (j < owned && decays[j] == decays[i])
      ++j;
    update(shardMaster.data() + i, grads.data() + i, shardM.data() + i,
           shardV.data() + i, int64_t(j - i), lr, scale, decays[i]);
    i = j;
  }
  // Each bucket's gather gives every replica the bucket's updated f32
  // weights (replica r's part at r x part, the bucket's packed order), to
  // round into the weights the program reads. The owned parts it sends
  // stay as they are until the next step.
  offset = 0;
  for (const ScatteredBucket &bucket : buckets) {
    size_t part = bucket.mine.size();
    std::vector<Tensor *> weights;
    for (const std::string &name : bucket.names)
      weights.push_back(&ctx.weights.at(name));
    const float *mine = shardMaster.data() + offset;
    gathers.push_back(
        {bucket.names, [mine, part, weights](comm::Communicator &dp) {
           std::vector<float> packed(part * size_t(dp.size()));
           dp.allGather(mine, packed.data(),
                        std::vector<size_t>(size_t(dp.size()), part));
           size_t at = 0;
           for (Tensor *weight : weights) {
             size_t n = size_t(weight->numElements());
             fromF32(packed.data() + at, int64_t(n), *weight, 0);
             at += n;
           }
         }});
    offset += part;
  }
  for (auto &[name, grad] : ctx.grads)
    std::fill(static_cast<float *>(grad.data()),
              static_cast<float *>(grad.data()) + grad.numElements(), 0.0f);
  return norm;
}
