"""The comparison with Hugging Face transformers' own implementation.

usage: hf_compare.py make MODEL_DIR OUT.safetensors --seed S
       hf_compare.py compare MODEL_DIR WEIGHTS.safetensors TOKENS
                     TPC_LOGITS.safetensors --max-rel R
       hf_compare.py generate MODEL_DIR WEIGHTS.safetensors PROMPTS
                     TPC_GENERATION.safetensors
       hf_compare.py batch JOBS

make: builds the model from MODEL_DIR/config.json with transformers
(AutoModelForCausalLM.from_config, eager attention, float32), initializes
it as transformers does with seed S, then adds N(0, 0.02) noise to every
parameter (so that biases and norm scales, which transformers starts at 0
and 1, are exercised too), and saves the state dict as safetensors, the
way a checkpoint on the Hub is laid out (a tied head is saved once).

compare: loads that checkpoint into the transformers model, runs TOKENS
("1,2,3;4,5,6") through it, and prints the largest difference from the
logits a tpc executable wrote, relative to the largest |logit|, with "ok"
when it is at most R; exits 1 otherwise.

generate: greedy decoding by transformers' own generate() (each prompt
alone, no end-of-sequence stop: the executable ran with --ignore-eos) for
as many new tokens as the tpc executable's --output file holds, and the
tokens compared one by one; exits 1 when any differs.

batch: each line of the file JOBS is one of the commands above with its
arguments (shell quoting), all run in this one process (importing torch
and transformers once); exits 1 when any failed.
"""
import argparse
import shlex
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file


def build(model_dir):
    config = transformers.AutoConfig.from_pretrained(model_dir)
    model = transformers.AutoModelForCausalLM.from_config(
        config, attn_implementation="eager")
    return model.float().eval()


def make(args):
    torch.manual_seed(args.seed)
    model = build(args.model_dir)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.02)
    # Parameters only (no buffers), each storage once: a tied head is the
    # embedding, saved under the embedding's name.
    state, seen = {}, set()
    for name, parameter in model.named_parameters(remove_duplicate=True):
        if parameter.data_ptr() in seen:
            continue
        seen.add(parameter.data_ptr())
        state[name] = parameter.detach().contiguous().clone()
    save_file(state, args.out)


def load(model_dir, weights):
    model = build(model_dir)
    missing, unexpected = model.load_state_dict(load_file(weights),
                                                strict=False)
    tied = {name for name in missing if name.endswith("lm_head.weight")}
    if set(missing) - tied or unexpected:
        sys.exit(f"checkpoint does not fit the model: missing "
                 f"{sorted(set(missing) - tied)}, unexpected {unexpected}")
    return model


_described = set()


def describe(model, model_dir):
    """How transformers read the config (once per model): what a
    difference from tpc would first be looked for in."""
    if model_dir in _described:
        return
    _described.add(model_dir)
    config = model.config
    rope = getattr(config, "rope_parameters", None) or {
        "rope_theta": getattr(config, "rope_theta", None)}
    print(f"transformers {transformers.__version__} read {model_dir}: "
          f"rope {rope}, sliding window "
          f"{getattr(config, 'sliding_window', None)}, layer types "
          f"{getattr(config, 'layer_types', None)}")


def generate(args):
    model = load(args.model_dir, args.weights)
    tokens = load_file(args.tpc_generation)["tokens"]
    prompts = [[int(t) for t in seq.split(",")]
               for seq in args.prompts.split(";")]
    differ = 0
    for b, prompt in enumerate(prompts):
        row = tokens[b].tolist()
        ours = [t for t in row[len(prompt):] if t >= 0]
        ids = torch.tensor([prompt])
        with torch.no_grad():  # (no padding: a 0 in a prompt is a token)
            out = model.generate(ids, attention_mask=torch.ones_like(ids),
                                 do_sample=False,
                                 max_new_tokens=len(ours),
                                 min_new_tokens=len(ours), eos_token_id=None,
                                 pad_token_id=0)
        theirs = out[0, len(prompt):].tolist()
        same = ours == theirs
        differ += not same
        print(f"[{b}] tpc {ours} transformers {theirs}: "
              f"{'same' if same else 'DIFFERENT'}")
    print(f"{model.config.model_type}: greedy tokens "
          f"{'equal' if not differ else 'DIFFER'} on {len(prompts)} prompts")
    return not differ


def compare(args):
    model = load(args.model_dir, args.weights)
    ids = torch.tensor([[int(t) for t in seq.split(",")]
                        for seq in args.tokens.split(";")])
    with torch.no_grad():
        expected = model(input_ids=ids).logits.double()
    got = load_file(args.tpc_logits)["logits"].double()
    if got.shape != expected.shape:
        print(f"shapes differ: tpc {list(got.shape)}, transformers "
              f"{list(expected.shape)}")
        return False
    describe(model, args.model_dir)
    scale = expected.abs().max().item()
    rel = (got - expected).abs().max().item() / scale
    ok = rel <= args.max_rel
    print(f"{model.config.model_type}: max |tpc - transformers| relative "
          f"{rel:.3g} (max |logit| {scale:.3g}): "
          f"{'ok' if ok else 'MISMATCH'}")
    return ok


def parser():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    make_parser = commands.add_parser("make")
    make_parser.add_argument("model_dir")
    make_parser.add_argument("out")
    make_parser.add_argument("--seed", type=int, default=0)
    compare_parser = commands.add_parser("compare")
    compare_parser.add_argument("model_dir")
    compare_parser.add_argument("weights")
    compare_parser.add_argument("tokens")
    compare_parser.add_argument("tpc_logits")
    compare_parser.add_argument("--max-rel", type=float, required=True)
    generate_parser = commands.add_parser("generate")
    generate_parser.add_argument("model_dir")
    generate_parser.add_argument("weights")
    generate_parser.add_argument("prompts")
    generate_parser.add_argument("tpc_generation")
    batch_parser = commands.add_parser("batch")
    batch_parser.add_argument("jobs")
    return parser


def run(args):
    if args.command == "batch":
        failed = 0
        for line in open(args.jobs):
            if line.strip():
                print(f"$ {line.strip()}", flush=True)
                failed += not run(parser().parse_args(shlex.split(line)))
        print(f"batch: {failed} failed")
        return failed == 0
    command = {"make": make, "compare": compare, "generate": generate}
    ok = command[args.command](args)
    return ok is None or ok


def main():
    sys.exit(0 if run(parser().parse_args()) else 1)


if __name__ == "__main__":
    main()
