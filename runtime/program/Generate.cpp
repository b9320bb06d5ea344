//===- Generate.cpp - the text generation loop of one rank ----------------===//
#include "runtime/program/Generate.h"

#include "runtime/comm/Faults.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

using namespace tpc;
using namespace tpc::program;
using Clock = std::chrono::steady_clock;

std::string tpc::program::describe(StopReason reason) {
  switch (reason) {
  case StopReason::EndOfSequence:
    return "end of sequence";
  case StopReason::Length:
    return "length";
  case StopReason::CacheFull:
    return "max-seq";
  }
  return "?";
}

namespace {
double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// A value per sequence, as the programs take it: [batch, 1].
Ids perSequence(const std::vector<int32_t> &values) {
  return Ids{values, int64_t(values.size()), 1};
}
} // namespace

GenerationResult tpc::program::generate(RankContext &ctx,
                                        comm::Communicator &host,
                                        const GenerationPrograms &programs,
                                        const GenerationRequest &request) {
  int64_t batch = int64_t(request.prompts.size());
  if (batch == 0)
    throw std::runtime_error("generation needs at least one prompt");
  if (!programs.prefill || !programs.decode)
    throw std::runtime_error("this program has no generation programs (its "
                             "model has no attention to cache)");
  std::vector<int32_t> lengths;
  int64_t longest = 0;
  for (const auto &prompt : request.prompts) {
    if (prompt.empty())
      throw std::runtime_error("every prompt needs at least one token");
    if (int64_t(prompt.size()) > request.maxSeq)
      throw std::runtime_error("a prompt of " + std::to_string(prompt.size()) +
                               " tokens is longer than --max-seq " +
                               std::to_string(request.maxSeq));
    lengths.push_back(int32_t(prompt.size()));
    longest = std::max<int64_t>(longest, int64_t(prompt.size()));
  }

  // Fresh caches for this batch, allocated once at the first call.
  ctx.caches.clear();
  ctx.cacheBatch = batch;
  ctx.maxSeq = request.maxSeq;

  GenerationResult result;
  result.tokens.resize(batch);
  result.stopReasons.assign(batch, StopReason::Length);
  std::vector<bool> active(batch, true);
  std::vector<int32_t> positions = lengths; // Tokens each cache holds.

  auto isEos = [&](int32_t token) {
    return std::find(request.eosTokenIds.begin(), request.eosTokenIds.end(),
                     token) != request.eosTokenIds.end();
  };
  // Samples from the step's logits, records what each active sequence
  // produced, and returns the tokens to feed next.
  auto finishStep = [&](const Tensor &logits, int64_t step) {
    std::vector<int32_t> picked;
    if (request.sampling.greedy() && !request.keepLogits) {
      // The logits stay on the device.
      picked = greedyTokens(ctx, host, logits, programs.logitsLayout,
                            programs.vocab);
    } else {
      ShardedLogits local =
          shardedLogits(ctx, logits, programs.logitsLayout, programs.vocab);
      picked = sampleTokens(host, local, programs.logitsLayout,
                            request.sampling, uint64_t(step));
      if (request.keepLogits) {
        std::vector<float> full =
            gatherLogits(host, local, programs.logitsLayout);
        if (ctx.rank == 0)
          result.logits.push_back(std::move(full));
      }
    }
    result.picked.push_back(picked);
    std::vector<int32_t> next = picked;
    std::vector<bool> produced = active;
    for (int64_t b = 0; b < batch; ++b) {
      if (!active[b])
        continue;
      if (request.forcedTokens)
        next[b] = (*request.forcedTokens)[b][step];
      result.tokens[b].push_back(next[b]);
      int64_t generated = int64_t(result.tokens[b].size());
      if (request.forcedTokens) {
        if (generated >= int64_t((*request.forcedTokens)[b].size()))
          active[b] = false;
      } else if (isEos(next[b])) {
        active[b] = false;
        result.stopReasons[b] = StopReason::EndOfSequence;
      } else if (generated >= request.maxNewTokens) {
        active[b] = false;
      } else if (positions[b] >= request.maxSeq) {
        active[b] = false; // No room to feed the token back.
        result.stopReasons[b] = StopReason::CacheFull;
      }
    }
    if (ctx.rank == 0 && request.onStep)
      request.onStep(step, next, produced);
    return next;
  };

  // Prefill: the prompts right-padded with their first token (any id in
  // the vocabulary would do: queries never see keys past their position).
  auto start = Clock::now();
  Ids ids{{}, batch, longest};
  for (const auto &prompt : request.prompts) {
    ids.values.insert(ids.values.end(), prompt.begin(), prompt.end());
    ids.values.insert(ids.values.end(), longest - prompt.size(), prompt[0]);
  }
  ctx.seq = longest;
  comm::setPhase("prefill");
  comm::injectFault("pass", ctx.rank);
  Tensor logits = programs.prefill(ctx, ids, perSequence(std::vector<int32_t>(
                                                 batch, 0)),
                                   perSequence(lengths));
  std::vector<int32_t> next = finishStep(logits, 0);
  result.prefillSeconds = since(start);

  ctx.seq = 1;
  for (int64_t step = 1; std::count(active.begin(), active.end(), true) > 0;
       ++step) {
    start = Clock::now();
    comm::setPhase("decode step " + std::to_string(step));
    comm::injectFault("pass", ctx.rank);
    // Finished sequences still take part (the batch is fixed); they
    // rewrite a position past their end and their output is ignored.
    std::vector<int32_t> offsets(batch);
    for (int64_t b = 0; b < batch; ++b)
      offsets[b] = std::min<int32_t>(positions[b], int32_t(request.maxSeq - 1));
    logits = programs.decode(ctx, Ids{next, batch, 1}, perSequence(offsets),
                             perSequence(std::vector<int32_t>(batch, 1)));
    for (int64_t b = 0; b < batch; ++b)
      if (active[b])
        ++positions[b];
    next = finishStep(logits, step);
    result.stepSeconds.push_back(since(start));
  }
  return result;
}
