"""An independent reference: the forward pass of a Hugging Face GPT-2,
Llama, Mistral or Qwen2 model in numpy (float64), written from the
transformers definitions, reading config.json and safetensors directly.
Compares its logits with those a tpc executable wrote.

usage: reference.py MODEL_DIR WEIGHTS.safetensors TOKENS TPC_LOGITS.safetensors
                    [--max-rel R | --generated]

Prints the largest difference and exits 1 when it exceeds 1e-4 or, with
--max-rel (for 16-bit programs), R times the largest |logit|.

With --generated, TPC_LOGITS.safetensors is a generation's output (greedy:
`tokens` [batch, prompt + generated] padded with -1, `logits` [batch,
steps, vocab]) and TOKENS are the prompts: each step's logits must equal a
full forward pass over the prompt and the tokens generated before it.
"""
import json
import struct
import sys

import numpy as np


_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4",
           "F16": "<f2"}


def read_tensors(path):
    """Every tensor of a safetensors file, in its own dtype."""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] in _DTYPES, f"cannot read {info['dtype']}"
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[8 + n + begin:8 + n + end],
                                      dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


def read_safetensors(path):
    """The F32 tensors of a checkpoint as float64."""
    tensors = {}
    for name, t in read_tensors(path).items():
        assert t.dtype == np.float32, "reference reads F32 checkpoints"
        tensors[name] = t.astype(np.float64)
    return tensors


def layer_norm(x, g, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * g + b


def rms_norm(x, g, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1 + np.exp(-x))


def rope(x, theta):
    # x: [batch, seq, heads, d], rotate-half as in transformers' Llama.
    seq, d = x.shape[1], x.shape[3]
    inv = theta ** (-np.arange(0, d, 2) / d)
    angles = np.arange(seq)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(angles)] * 2, -1)[None, :, None, :]
    sin = np.concatenate([np.sin(angles)] * 2, -1)[None, :, None, :]
    rotated = np.concatenate([-x[..., d // 2:], x[..., :d // 2]], -1)
    return x * cos + rotated * sin


def attention(q, k, v, window=None):
    # q: [b, s, h, d]; k, v: [b, s, kvh, d]; causal, GQA by repetition.
    b, s, h, d = q.shape
    k = np.repeat(k, h // k.shape[2], axis=2)
    v = np.repeat(v, h // v.shape[2], axis=2)
    scores = np.einsum("bihd,bjhd->bhij", q, k) / np.sqrt(d)
    i, j = np.arange(s)[:, None], np.arange(s)[None, :]
    mask = j > i
    if window:
        mask |= j <= i - window
    scores = np.where(mask, -np.inf, scores)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    scores /= scores.sum(-1, keepdims=True)
    return np.einsum("bhij,bjhd->bihd", scores, v).reshape(b, s, h * d)


def gpt2(cfg, w, ids):
    p = "transformer."
    h, heads = cfg["n_embd"], cfg["n_head"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    x = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][np.arange(ids.shape[1])]
    for l in range(cfg["n_layer"]):
        q = p + f"h.{l}."
        a = layer_norm(x, w[q + "ln_1.weight"], w[q + "ln_1.bias"], eps)
        qkv = a @ w[q + "attn.c_attn.weight"] + w[q + "attn.c_attn.bias"]
        b, s = ids.shape
        qs, ks, vs = (t.reshape(b, s, heads, h // heads) for t in np.split(qkv, 3, -1))
        o = attention(qs, ks, vs)
        x = x + o @ w[q + "attn.c_proj.weight"] + w[q + "attn.c_proj.bias"]
        m = layer_norm(x, w[q + "ln_2.weight"], w[q + "ln_2.bias"], eps)
        m = gelu_tanh(m @ w[q + "mlp.c_fc.weight"] + w[q + "mlp.c_fc.bias"])
        x = x + m @ w[q + "mlp.c_proj.weight"] + w[q + "mlp.c_proj.bias"]
    x = layer_norm(x, w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
    return x @ w[p + "wte.weight"].T


def llama(cfg, w, ids):
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or heads
    d = cfg.get("head_dim") or cfg["hidden_size"] // heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    window = cfg.get("sliding_window") if cfg["model_type"] == "mistral" else None
    b, s = ids.shape

    def lin(x, name, bias):
        y = x @ w[name + ".weight"].T
        return y + w[name + ".bias"] if bias else y

    qkv_bias = cfg["model_type"] == "qwen2" or cfg.get("attention_bias", False)
    o_bias = cfg["model_type"] != "qwen2" and cfg.get("attention_bias", False)
    mlp_bias = cfg.get("mlp_bias", False)
    x = w["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        a = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = rope(lin(a, p + "self_attn.q_proj", qkv_bias).reshape(b, s, heads, d), theta)
        k = rope(lin(a, p + "self_attn.k_proj", qkv_bias).reshape(b, s, kv, d), theta)
        v = lin(a, p + "self_attn.v_proj", qkv_bias).reshape(b, s, kv, d)
        x = x + lin(attention(q, k, v, window), p + "self_attn.o_proj", o_bias)
        m = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = silu(lin(m, p + "mlp.gate_proj", mlp_bias)) * lin(m, p + "mlp.up_proj", mlp_bias)
        x = x + lin(g, p + "mlp.down_proj", mlp_bias)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def forward(cfg, w, ids):
    return gpt2(cfg, w, ids) if cfg["model_type"] == "gpt2" else llama(cfg, w, ids)


def check_generation(cfg, w, prompts, path):
    out = read_tensors(path)
    tokens, logits = out["tokens"], out["logits"].astype(np.float64)
    diff = scale = 0.0
    steps = 0
    for b, prompt in enumerate(prompts):
        assert list(tokens[b, :len(prompt)]) == prompt, (b, tokens[b])
        generated = [int(t) for t in tokens[b, len(prompt):] if t >= 0]
        for step in range(len(generated)):
            prefix = np.array([prompt + generated[:step]])
            want = forward(cfg, w, prefix)[0, -1]
            diff = max(diff, float(np.abs(logits[b, step] - want).max()))
            scale = max(scale, float(np.abs(want).max()))
            steps += 1
    print(f"{cfg['model_type']}: {steps} decode steps, max |tpc - numpy "
          f"recomputation| {diff:.3g} (max |logit| {scale:.3g})")
    sys.exit(0 if diff <= 1e-4 and steps > 0 else 1)


def main():
    model_dir, weights, tokens, tpc_logits = sys.argv[1:5]
    max_rel = float(sys.argv[6]) if sys.argv[5:6] == ["--max-rel"] else None
    cfg = json.load(open(model_dir + "/config.json"))
    w = read_safetensors(weights)
    if sys.argv[5:6] == ["--generated"]:
        prompts = [[int(t) for t in seq.split(",")] for seq in tokens.split(";")]
        check_generation(cfg, w, prompts, tpc_logits)
    ids = np.array([[int(t) for t in seq.split(",")] for seq in tokens.split(";")])
    reference = forward(cfg, w, ids)
    got = read_safetensors(tpc_logits)["logits"]
    assert got.shape == reference.shape, (got.shape, reference.shape)
    diff = float(np.abs(got - reference).max())
    scale = float(np.abs(reference).max())
    print(f"{cfg['model_type']}: max |tpc - numpy reference| {diff:.3g} "
          f"(max |logit| {scale:.3g}, relative {diff / scale:.3g})")
    limit = 1e-4 if max_rel is None else max_rel * scale
    sys.exit(0 if diff <= limit else 1)


if __name__ == "__main__":
    main()
