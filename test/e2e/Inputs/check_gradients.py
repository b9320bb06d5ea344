"""Checks a training executable's first-step gradients (--grads) against
central finite differences of the loss, computed in float64 by the numpy
reference forward pass (reference.py) on the same weights and batch.

usage: check_gradients.py MODEL_DIR WEIGHTS.safetensors DATA.u16 BATCH SEQ_LEN
                          TPC_GRADS.safetensors [--entries N]

The batch is the executable's first: windows 0..BATCH-1 of SEQ_LEN + 1
tokens. N entries of every weight (default 12) are drawn at random. Prints
the largest difference and exits 1 when it exceeds 1e-5 + 1e-3 |gradient|.
"""
import json
import sys

import numpy as np

import reference


def mean_loss(cfg, w, ids, targets):
    logits = reference.forward(cfg, w, ids)
    top = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - top).sum(-1)) + top[..., 0]
    picked = np.take_along_axis(logits, targets[..., None], -1)[..., 0]
    return float((lse - picked).mean())


def main():
    model_dir, weights, data, batch, seq_len, grads_path = sys.argv[1:7]
    entries = int(sys.argv[8]) if sys.argv[7:8] == ["--entries"] else 12
    batch, seq_len = int(batch), int(seq_len)
    cfg = json.load(open(model_dir + "/config.json"))
    w = reference.read_safetensors(weights)
    tokens = np.fromfile(data, dtype="<u2").astype(np.int64)
    windows = [tokens[b * seq_len:(b + 1) * seq_len + 1] for b in range(batch)]
    ids = np.array([win[:-1] for win in windows])
    targets = np.array([win[1:] for win in windows])
    grads = reference.read_safetensors(grads_path)
    rng = np.random.default_rng(0)
    h = 1e-5
    worst = (-np.inf, "")
    checked = 0
    for name in sorted(w):
        if name not in grads:
            print(f"missing gradient of {name}")
            sys.exit(1)
        flat = w[name].reshape(-1)
        for index in rng.choice(flat.size, min(entries, flat.size), replace=False):
            saved = flat[index]
            flat[index] = saved + h
            up = mean_loss(cfg, w, ids, targets)
            flat[index] = saved - h
            down = mean_loss(cfg, w, ids, targets)
            flat[index] = saved
            numeric = (up - down) / (2 * h)
            got = float(grads[name].reshape(-1)[index])
            excess = abs(got - numeric) - (1e-5 + 1e-3 * abs(numeric))
            if excess > worst[0]:
                worst = (excess, f"{name}[{index}]: tpc {got:.6g}, "
                                 f"finite differences {numeric:.6g}")
            checked += 1
    print(f"{cfg['model_type']}: {checked} entries of {len(w)} weights against "
          f"finite differences: {'ok' if worst[0] <= 0 else 'FAILED ' + worst[1]}")
    sys.exit(0 if worst[0] <= 0 else 1)


if __name__ == "__main__":
    main()
