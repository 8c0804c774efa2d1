// gguf_llama.mjs NPM_DIR SPEC.json: checks `llmpi export --format gguf`
// files with two independent readers from npm (installed by gguf.sh into
// the build tree):
// - @huggingface/gguf: every key, tensor name, shape, type, offset and the
//   alignment against what SPEC says the model is (shape from the
//   checkpoint, tokens/merges/specials from the model's tokenizer.json in
//   Hugging Face form, i.e. already in GPT-2 byte-to-unicode strings);
// - node-llama-cpp (prebuilt llama.cpp): loads spec.models[0] (f32) and
//   writes OUT/tok.<i>.ids (ids of texts[i], space separated, the format of
//   `llmpi tokenizer encode`), OUT/gen.<i>.txt (greedy continuation of
//   prompts[i], up to max_tokens or an end-of-generation token) and, through
//   its Jinja chat-template support on the GGUF's tokenizer.chat_template,
//   OUT/chat.<i>.ids (the prompt ids) and OUT/chat.<i>.txt (greedy answer).
// OUT/loss.json: llama.cpp's cross-entropy per model type on spec.loss.
// spec.jinja: [messages, expected rendering] pairs for the template itself.
// Exit 1 with one line per problem found.
import fs from 'fs';
import path from 'path';

const [npmDir, specFile] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(specFile, 'utf8'));
const mod = (p) => import(path.join(npmDir, 'node_modules', p));
let fails = 0;
const fail = (msg) => { console.error(`FAIL: ${msg}`); fails++; };

// ---- structure ----
const { gguf } = await mod('@huggingface/gguf/dist/index.mjs');
const tj = JSON.parse(fs.readFileSync(spec.tokenizer_json, 'utf8'));
const { n_layer: L, n_embd: C, n_head: H, block_size: T, vocab_size: V } = spec.shape;
const tokens = new Array(V);
for (const [s, id] of Object.entries(tj.model.vocab)) tokens[id] = s;
const types = new Array(V).fill(1);
for (const a of tj.added_tokens) { tokens[a.id] = a.content; types[a.id] = 3; }
const merges = tj.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
const find = (s) => tj.added_tokens.find((a) => a.content === s)?.id;

for (const [file, ftype] of spec.models) {
  const { metadata: md, tensorInfos, tensorDataOffset } = await gguf(file, { allowLocalFile: true });
  const size = BigInt(fs.statSync(file).size);
  const want = {
    version: 3, tensor_count: BigInt(4 + 12 * L), 'general.architecture': 'gpt2', 'general.name': 'llmpi',
    'general.file_type': { f32: 0, f16: 1, q8_0: 7 }[ftype], 'general.alignment': 32,
    'gpt2.context_length': T, 'gpt2.embedding_length': C, 'gpt2.feed_forward_length': 4 * C,
    'gpt2.block_count': L, 'gpt2.attention.head_count': H,
    'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.pre': 'llama-bpe',
    'tokenizer.ggml.bos_token_id': find('<|endoftext|>'), 'tokenizer.ggml.eos_token_id': find('<|endoftext|>'),
    'tokenizer.ggml.padding_token_id': find('<|endoftext|>'), 'tokenizer.ggml.eot_token_id': find('<|end|>'),
    'tokenizer.ggml.add_bos_token': false, 'tokenizer.ggml.add_eos_token': false,
  };
  if (ftype === 'q8_0') want['general.quantization_version'] = 2;
  const keys = Object.keys(md).filter((k) => k !== 'version' && k !== 'tensor_count' && k !== 'kv_count');
  const expectKeys = new Set([...Object.keys(want), 'gpt2.attention.layer_norm_epsilon', 'tokenizer.ggml.tokens',
    'tokenizer.ggml.token_type', 'tokenizer.ggml.merges', 'tokenizer.chat_template']);
  expectKeys.delete('version'); expectKeys.delete('tensor_count');
  if (md.kv_count !== BigInt(keys.length)) fail(`${file}: kv_count ${md.kv_count} but ${keys.length} keys`);
  for (const k of keys) if (!expectKeys.has(k)) fail(`${file}: unexpected key ${k}`);
  for (const k of expectKeys) if (!(k in md)) fail(`${file}: key ${k} missing`);
  for (const [k, v] of Object.entries(want)) if (md[k] !== v) fail(`${file}: ${k} = ${md[k]}, expected ${v}`);
  if (Math.abs(md['gpt2.attention.layer_norm_epsilon'] - 1e-5) > 1e-12) fail(`${file}: layer_norm_epsilon`);
  const gt = md['tokenizer.ggml.tokens'], gty = md['tokenizer.ggml.token_type'], gm = md['tokenizer.ggml.merges'];
  if (gt.length !== V || gt.some((s, i) => s !== tokens[i])) fail(`${file}: tokens differ from tokenizer.json's vocab`);
  if (gty.length !== V || gty.some((x, i) => x !== types[i])) fail(`${file}: token types wrong`);
  if (gm.length !== merges.length || gm.some((s, i) => s !== merges[i])) fail(`${file}: merges differ from tokenizer.json's`);
  // tensors: names and ggml shapes llama.cpp's gpt2 loader asks for
  const names = [['token_embd.weight', [C, V]], ['position_embd.weight', [C, T]]];
  for (let l = 0; l < L; l++) {
    names.push([`blk.${l}.attn_norm.weight`, [C]], [`blk.${l}.attn_norm.bias`, [C]],
      [`blk.${l}.attn_qkv.weight`, [C, 3 * C]], [`blk.${l}.attn_qkv.bias`, [3 * C]],
      [`blk.${l}.attn_output.weight`, [C, C]], [`blk.${l}.attn_output.bias`, [C]],
      [`blk.${l}.ffn_norm.weight`, [C]], [`blk.${l}.ffn_norm.bias`, [C]],
      [`blk.${l}.ffn_up.weight`, [C, 4 * C]], [`blk.${l}.ffn_up.bias`, [4 * C]],
      [`blk.${l}.ffn_down.weight`, [4 * C, C]], [`blk.${l}.ffn_down.bias`, [C]]);
  }
  names.push(['output_norm.weight', [C]], ['output_norm.bias', [C]]);
  if (tensorInfos.length !== names.length) fail(`${file}: ${tensorInfos.length} tensors, expected ${names.length}`);
  if (tensorDataOffset % 32n !== 0n) fail(`${file}: tensor data starts at ${tensorDataOffset}, not 32-aligned`);
  let end = 0n;
  tensorInfos.forEach((t, i) => {
    const [name, shape] = names[i] ?? ['?', []];
    if (t.name !== name) fail(`${file}: tensor ${i} is ${t.name}, expected ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, j) => d !== BigInt(shape[j])))
      fail(`${file}: ${t.name} shape [${t.shape}], expected [${shape}]`);
    const dtype = shape.length === 1 || ftype === 'f32' ? 0 : ftype === 'f16' ? 1 : 8;   // ggml F32 F16 Q8_0
    if (t.dtype !== dtype) fail(`${file}: ${t.name} type ${t.dtype}, expected ${dtype}`);
    const n = BigInt(shape.reduce((a, b) => a * b, 1));
    const bytes = dtype === 0 ? 4n * n : dtype === 1 ? 2n * n : (n / 32n) * 34n;
    if (t.offset % 32n !== 0n) fail(`${file}: ${t.name} offset ${t.offset} not 32-aligned`);
    if (t.offset < end) fail(`${file}: ${t.name} overlaps the tensor before it`);
    if (t.offset !== (end + 31n) / 32n * 32n) fail(`${file}: ${t.name} offset ${t.offset}: a gap other than padding`);
    end = t.offset + bytes;
  });
  if (tensorDataOffset + (end + 31n) / 32n * 32n !== size) fail(`${file}: size ${size} != data end ${tensorDataOffset + end} padded`);
}

// ---- llama.cpp ----
const { getLlama, JinjaTemplateChatWrapper, LlamaChatSession } = await mod('node-llama-cpp/dist/index.js');
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath: spec.models[0][0] });
spec.texts.forEach(([file, special], i) => {
  const ids = model.tokenize(fs.readFileSync(file, 'utf8'), special);
  fs.writeFileSync(path.join(spec.out, `tok.${i}.ids`), ids.join(' ') + '\n');
});
const ctx = await model.createContext({ contextSize: T, threads: 1 });
const greedy = async (promptIds) => {
  const seq = ctx.getSequence();
  const out = [];
  for await (const t of seq.evaluate(promptIds, { temperature: 0 })) {
    if (model.isEogToken(t)) break;
    out.push(t);
    if (out.length >= spec.max_tokens) break;
  }
  seq.dispose();
  return model.detokenize(out);
};
for (let i = 0; i < spec.prompts.length; i++)
  fs.writeFileSync(path.join(spec.out, `gen.${i}.txt`), await greedy(model.tokenize(spec.prompts[i], false)));
const template = model.fileInfo.metadata.tokenizer.chat_template;
if (!template) fail('no tokenizer.chat_template');
// node-llama-cpp renders messages through placeholders (their text goes in
// after rendering), so the template's own filters never see it: check them
// with the Jinja engine itself (@huggingface/jinja, as llama.cpp's server,
// Ollama's importer and transformers run it) on raw texts, against
// spec.jinja[i] (the llmpi-chat-1 rendering of normalised texts).
const { Template } = await mod('@huggingface/jinja/dist/index.js');
for (const [messages, want] of spec.jinja) {
  const got = new Template(template).render({ messages, add_generation_prompt: true });
  if (got !== want) fail(`chat template renders ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  // without the generation prompt the document closes as llmpi's SFT rows do
  const doc = new Template(template).render({ messages, add_generation_prompt: false });
  const wantDoc = want.replace(/<\|assistant\|>$/, '') + '<|endoftext|>';
  if (doc !== wantDoc) fail(`chat template (no generation prompt) renders ${JSON.stringify(doc)}, expected ${JSON.stringify(wantDoc)}`);
}
const wrapper = new JinjaTemplateChatWrapper({ template });
for (let i = 0; i < spec.chats.length; i++) {
  const [system, user] = spec.chats[i];
  const history = [...(system !== null ? [{ type: 'system', text: system }] : []), { type: 'user', text: user },
    { type: 'model', response: [] }];
  const { contextText } = wrapper.generateContextState({ chatHistory: history });
  const ids = contextText.tokenize(model.tokenizer);
  fs.writeFileSync(path.join(spec.out, `chat.${i}.ids`), ids.join(' ') + '\n');
  fs.writeFileSync(path.join(spec.out, `chat.${i}.txt`), await greedy(ids));
}
await model.dispose();

// cross-entropy (nats/token) of every model in spec.models on spec.loss.windows
// windows of block_size tokens of spec.loss.text, next-token probabilities
// from llama.cpp: OUT/loss.json {type: loss}
const losses = {};
for (const [file, ftype] of spec.models) {
  const m = await llama.loadModel({ modelPath: file });
  const ids = m.tokenize(fs.readFileSync(spec.loss.text, 'utf8'), false);
  const c = await m.createContext({ contextSize: T, threads: 1 });
  const seq = c.getSequence();
  let sum = 0, n = 0;
  for (let w = 0; w < spec.loss.windows && (w + 1) * T <= ids.length; w++) {
    const win = ids.slice(w * T, (w + 1) * T);
    await seq.clearHistory();
    const res = await seq.controlledEvaluate(win.map((t, i) => (i < T - 1 ? [t, { generateNext: { probabilities: true } }] : t)));
    for (let i = 0; i < T - 1; i++) {
      const p = res[i]?.next?.probabilities?.get(win[i + 1]);
      if (!(p > 0)) { fail(`${file}: no probability for a target token`); break; }
      sum -= Math.log(p);
      n++;
    }
  }
  losses[ftype] = sum / n;
  await c.dispose();
  await m.dispose();
}
fs.writeFileSync(path.join(spec.out, 'loss.json'), JSON.stringify(losses) + '\n');
await llama.dispose();
process.exit(fails ? 1 : 0);
