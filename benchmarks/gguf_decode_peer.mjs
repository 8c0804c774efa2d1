// gguf_decode_peer.mjs NPM_DIR MODEL.gguf THREADS TOKENS PROMPT: llama.cpp's
// (npm node-llama-cpp, prebuilt CPU build) batch-1 greedy decode speed on a
// GGUF: prefills PROMPT, then draws TOKENS tokens (end-of-generation tokens
// do not stop it), timing the decode steps only (first token to last), as
// `llmpi sample --json` reports decode_tok_s. One JSON line.
import path from 'path';

const [npmDir, file, threads, tokens, prompt] = process.argv.slice(2);
const { getLlama } = await import(path.join(npmDir, 'node_modules/node-llama-cpp/dist/index.js'));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath: file });
const ctx = await model.createContext({ contextSize: 512, threads: Number(threads) });
const seq = ctx.getSequence();
const ids = model.tokenize(prompt, false);
const n = Number(tokens);
let got = 0, t1 = 0, t0 = performance.now();
for await (const t of seq.evaluate(ids, { temperature: 0, yieldEogToken: true })) {
  void t;
  if (++got === 1) t1 = performance.now();
  if (got >= n) break;
}
const t2 = performance.now();
console.log(JSON.stringify({
  bench: 'llama_cpp_decode', model: path.basename(file), threads: Number(threads), tokens: got,
  prefill_s: +((t1 - t0) / 1e3).toFixed(4), decode_tok_s: +((got - 1) / ((t2 - t1) / 1e3)).toFixed(2),
  llama_cpp_build: llama.buildType, cpu: 'node-llama-cpp prebuilt',
}));
await llama.dispose();
