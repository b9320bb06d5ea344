// The reference tokenizations tpc's tokenizer is compared with:
//
//   node reference_tokenize.mjs NODE_MODULES TOKENIZER.json TEXTS.json
//       [--package gpt2|llama2|llama3]
//
// Prints a JSON list with, for each text of TEXTS.json, the ids
// @huggingface/tokenizers (the JS port of Hugging Face tokenizers) gives
// with special tokens added, and its decoding of them. With --package,
// the ids come from the vocabulary's own npm package instead (texts that
// hold special tokens, which those packages do not parse, get null), which
// checks that TOKENIZER.json describes that vocabulary faithfully.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [modules, tokenizerPath, textsPath, flag, name] = process.argv.slice(2);
const load = (file) => import(pathToFileURL(path.join(modules, file)).href);
const texts = JSON.parse(fs.readFileSync(textsPath, "utf8"));
const hasSpecial = (text) => /<\|[a-z_]+\|>|<s>|<\/s>|<unk>/.test(text);

let encode;
if (flag === "--package") {
  if (name === "gpt2") {
    const gpt = await load("gpt-3-encoder/index.js");
    encode = (text) => gpt.encode(text);
  } else if (name === "llama2") {
    const llama2 = (await load("llama-tokenizer-js/llama-tokenizer.js")).default;
    encode = (text) => llama2.encode(text);
  } else if (name === "llama3") {
    const llama3 = (await load("llama3-tokenizer-js/bundle/llama3-tokenizer-with-baked-data.js")).default;
    encode = (text) => llama3.encode(text, { bos: true, eos: false });
  } else {
    throw new Error(`unknown package ${name}`);
  }
  console.log(JSON.stringify(texts.map((t) => hasSpecial(t) ? null : { ids: encode(t) })));
} else {
  const { Tokenizer } = await load("@huggingface/tokenizers/dist/tokenizers.mjs");
  const json = JSON.parse(fs.readFileSync(tokenizerPath, "utf8"));
  // No clean-up of spaces before punctuation: that is a transformers
  // option, not part of the tokenizer.
  const tokenizer = new Tokenizer(json, { clean_up_tokenization_spaces: false });
  console.log(JSON.stringify(texts.map((t) => {
    const ids = tokenizer.encode(t).ids;
    return { ids, decoded: tokenizer.decode(ids) };
  })));
}
