// hf_encode.js TOKENIZER_JSON OUT_DIR TEXT...
// Loads TOKENIZER_JSON with Hugging Face `tokenizers` (npm; NODE_PATH points
// at the build tree's copy) exactly as a user would (Tokenizer.fromFile),
// encodes each TEXT file (UTF-8) and writes OUT_DIR/<i>.ids: the ids space
// separated on one line, the format of `llmpi tokenizer encode`. Also checks
// that HF decodes the ids back to the text. Exit 1 with one line on failure.
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

async function main() {
  const [file, outDir, ...texts] = process.argv.slice(2);
  let tok;
  try {
    tok = Tokenizer.fromFile(file);
  } catch (e) {
    console.error(`hf_encode: ${file}: Hugging Face tokenizers cannot load it: ${e.message}`);
    process.exit(1);
  }
  for (let i = 0; i < texts.length; i++) {
    const text = fs.readFileSync(texts[i], 'utf8');
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    const ids = enc.getIds();
    fs.writeFileSync(path.join(outDir, `${i}.ids`), ids.join(' ') + '\n');
    const back = await tok.decode(ids, false);
    if (back !== text) {
      console.error(`hf_encode: ${file}: HF does not decode ${texts[i]} back to its text`);
      process.exit(1);
    }
  }
}
main().catch((e) => { console.error(`hf_encode: ${e.message}`); process.exit(1); });
