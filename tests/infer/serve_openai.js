// serve_openai.js BASE_URL KEY EXPECTED_JSON: the official `openai` client
// against `llmpi serve` (model "tiny", --api-key KEY): a chat completion
// (text equal to `llmpi sample --chat`'s, from EXPECTED_JSON), the same
// request streamed (deltas add up to the same text), a text completion,
// models.list, and errors: an unknown model (BadRequestError 400,
// model_not_found), a prompt too long for the context (400,
// context_length_exceeded), a wrong key (AuthenticationError 401).
'use strict';
const assert = require('assert');
const fs = require('fs');
const OpenAI = require('openai');

async function main() {
  const [base, key, expectedPath] = process.argv.slice(2);
  const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));
  const client = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0, timeout: 30000 });
  const req = {
    model: 'tiny',
    messages: [{ role: 'system', content: 'be nice' }, { role: 'user', content: 'hello there' }],
    max_tokens: 20, seed: 7, temperature: 0.9,
  };

  const r = await client.chat.completions.create(req);
  assert.strictEqual(r.object, 'chat.completion');
  assert.strictEqual(r.choices[0].message.role, 'assistant');
  assert.strictEqual(r.choices[0].message.content, expected.text);
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.strictEqual(r.usage.completion_tokens, expected.tokens);
  assert.strictEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);

  const stream = await client.chat.completions.create({ ...req, stream: true });
  let text = '', chunks = 0, finish = null;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.strictEqual(text, expected.text);
  assert.strictEqual(finish, r.choices[0].finish_reason);
  assert.ok(chunks >= 3, `only ${chunks} chunks`);

  const c = await client.completions.create({ model: 'tiny', prompt: 'ROMEO:', max_tokens: 8 });
  assert.strictEqual(c.object, 'text_completion');
  assert.strictEqual(typeof c.choices[0].text, 'string');
  assert.ok(c.usage.completion_tokens >= 1 && c.usage.completion_tokens <= 8);

  const models = await client.models.list();
  assert.deepStrictEqual(models.data.map((m) => m.id), ['tiny']);

  await assert.rejects(client.chat.completions.create({ ...req, model: 'gpt-4o' }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.strictEqual(e.status, 400);
    assert.strictEqual(e.code, 'model_not_found');
    assert.strictEqual(e.param, 'model');
    return true;
  });
  const long = 'the king and the queen '.repeat(40);
  await assert.rejects(client.chat.completions.create({ ...req, messages: [{ role: 'user', content: long }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded');
  const wrong = new OpenAI({ baseURL: base + '/v1', apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(wrong.chat.completions.create(req), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  console.log('openai client: chat, stream, completion, models, errors ok');
}

main().catch((e) => { console.error('FAIL:', e && e.stack ? e.stack : e); process.exit(1); });
