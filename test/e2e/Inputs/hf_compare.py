"""The comparison with Hugging Face transformers' own implementation.

usage: hf_compare.py make MODEL_DIR OUT.safetensors --seed S
       hf_compare.py compare MODEL_DIR WEIGHTS.safetensors TOKENS
                     TPC_LOGITS.safetensors --max-rel R

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
"""
import argparse
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


def compare(args):
    model = build(args.model_dir)
    missing, unexpected = model.load_state_dict(load_file(args.weights),
                                                strict=False)
    tied = {name for name in missing if name.endswith("lm_head.weight")}
    if set(missing) - tied or unexpected:
        sys.exit(f"checkpoint does not fit the model: missing "
                 f"{sorted(set(missing) - tied)}, unexpected {unexpected}")
    ids = torch.tensor([[int(t) for t in seq.split(",")]
                        for seq in args.tokens.split(";")])
    with torch.no_grad():
        expected = model(input_ids=ids).logits.double()
    got = load_file(args.tpc_logits)["logits"].double()
    if got.shape != expected.shape:
        sys.exit(f"shapes differ: tpc {list(got.shape)}, transformers "
                 f"{list(expected.shape)}")
    scale = expected.abs().max().item()
    rel = (got - expected).abs().max().item() / scale
    ok = rel <= args.max_rel
    print(f"{model.config.model_type}: max |tpc - transformers| relative "
          f"{rel:.3g} (max |logit| {scale:.3g}): "
          f"{'ok' if ok else 'MISMATCH'}")
    sys.exit(0 if ok else 1)


def main():
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
    args = parser.parse_args()
    make(args) if args.command == "make" else compare(args)


if __name__ == "__main__":
    main()
