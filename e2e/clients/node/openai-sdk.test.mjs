// The official OpenAI Node SDK against the gateway with the full plugin chain (e2e/clients/chain.yaml)
// in front of the mock LLM. Run by e2e/clients/tests/sdk_clients.rs (`node --test e2e/clients/node/`),
// which starts the chain and sets OPENAI_BASE_URL (the gateway's /v1) and MOCK_URL (the primary mock
// LLM, for /mock/requests: what the provider really saw). Each run has its own tenant (x-tenant), so
// the tenant-scoped semantic cache starts cold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';

const RUN = randomUUID().slice(0, 8);
const MODEL = 'gpt-4o-mini';
const BASE_URL = process.env.OPENAI_BASE_URL;
const MOCK_URL = process.env.MOCK_URL;
assert.ok(BASE_URL && MOCK_URL, 'OPENAI_BASE_URL and MOCK_URL must be set');

// maxRetries 0: a 429 must reach the test, not be retried by the SDK.
const makeClient = (tenant, headers = {}) =>
  new OpenAI({ baseURL: BASE_URL, apiKey: 'sk-e2e', maxRetries: 0, timeout: 60_000,
    defaultHeaders: { 'x-tenant': tenant, ...headers } });
const client = makeClient(`node-${RUN}`);
const user = (text) => [{ role: 'user', content: text }];

/** User texts of the requests the primary mock received that contain `needle`. */
async function providerSaw(needle) {
  const logged = await (await fetch(`${MOCK_URL}/mock/requests`)).json();
  return logged
    .flatMap((r) => (r.body && Array.isArray(r.body.messages) ? r.body.messages : []))
    .filter((m) => m.role === 'user' && typeof m.content === 'string' && m.content.includes(needle))
    .map((m) => m.content);
}

/** Calls `create()` (returning {data, response}) until the cache answers: the store finishes
 * after the response, so the first repeat can race it. */
async function untilHit(create) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = await create();
    if (got.response.headers.get('x-cache-status') === 'HIT' || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

const contentOf = (chunks) =>
  chunks.map((c) => (c.choices.length ? c.choices[0].delta.content ?? '' : '')).join('');

test('non-streaming chat completion', async () => {
  const question = `Say hello to the gateway (${RUN} plain)`;
  const r = await client.chat.completions.create({ model: MODEL, messages: user(question) });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.startsWith('Mock answer '));
  assert.ok(r.choices[0].message.content.includes(question.slice(0, 40)));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.equal((await providerSaw(question)).length, 1);
});

test('streaming matches the non-streamed answer', async () => {
  const question = `Stream me an answer (${RUN} stream)`;
  const chunks = await collect(
    await client.chat.completions.create({ model: MODEL, messages: user(question), stream: true }));
  assert.ok(chunks.length > 0);
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  // No usage asked for: the limiter's injected usage chunk must not reach the client.
  assert.ok(chunks.every((c) => !c.usage && c.choices.length === 1));
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  const plain = await client.chat.completions.create(
    { model: MODEL, messages: user(question) },
    { headers: { 'x-higress-skip-ai-cache': 'on' } });
  assert.equal(contentOf(chunks), plain.choices[0].message.content);
});

test('streaming with include_usage', async () => {
  const question = `Count my tokens please (${RUN} usage)`;
  const chunks = await collect(await client.chat.completions.create({
    model: MODEL, messages: user(question), stream: true, stream_options: { include_usage: true } }));
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
  const pieces = chunks.slice(0, -1).filter((c) => c.choices.length && c.choices[0].delta.content);
  assert.equal(pieces.length, last.usage.completion_tokens); // one delta per token (mock)
});

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city'],
    },
  },
};

test('tool calls, plain and streamed', async () => {
  const question = `use get_weather for Paris ${RUN}`;
  const r = await client.chat.completions.create({ model: MODEL, messages: user(question), tools: [weatherTool] });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(r.choices[0].message.content, null);
  const call = r.choices[0].message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: question.slice(0, 20), unit: 'celsius' });

  const chunks = await collect(await client.chat.completions.create(
    { model: MODEL, messages: user(question), tools: [weatherTool], stream: true }));
  const calls = chunks.flatMap((c) => (c.choices.length ? c.choices[0].delta.tool_calls ?? [] : []));
  assert.equal(calls.map((t) => t.function?.name ?? '').join(''), 'get_weather');
  assert.deepEqual(JSON.parse(calls.map((t) => t.function?.arguments ?? '').join('')),
    JSON.parse(call.function.arguments));
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
});

test('token limit surfaces as RateLimitError with Retry-After', async () => {
  // chain.yaml: tenant `tiny` may use 600 tokens per minute. The cache is skipped so that every
  // request reaches the limiter (a hit is answered before it and never charged).
  const tiny = makeClient('tiny', { 'x-higress-skip-ai-cache': 'on' });
  const filler = 'Please summarise the following meeting notes in detail. '.repeat(20);
  let error;
  for (let i = 0; i < 12 && !error; i++) {
    try {
      await tiny.chat.completions.create({ model: MODEL, max_tokens: 50, messages: user(`${filler} (note ${i}, ${RUN})`) });
    } catch (e) {
      error = e;
    }
  }
  assert.ok(error instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${error}`);
  assert.equal(error.status, 429);
  assert.equal(error.code, 'rate_limit_exceeded');
  const retryAfter = Number(error.headers.get('retry-after'));
  // At most the one-minute window plus one of its 60 slots (the sliding window's granularity).
  assert.ok(retryAfter >= 1 && retryAfter <= 61, `retry-after ${retryAfter}`);
  await assert.rejects(
    tiny.chat.completions.create({ model: MODEL, max_tokens: 50, stream: true, messages: user(`${filler} (streamed, ${RUN})`) }),
    OpenAI.RateLimitError);
});

test('a cache hit is a valid completion, as JSON and streamed', async () => {
  const question = `What is the tallest mountain in the world? (${RUN})`;
  const create = (extra = {}) =>
    client.chat.completions.create({ model: MODEL, messages: user(question), ...extra }).withResponse();
  const first = await create();
  assert.equal(first.response.headers.get('x-cache-status'), 'MISS');
  const original = first.data.choices[0].message.content;

  const hit = await untilHit(() => create());
  assert.equal(hit.response.headers.get('x-cache-status'), 'HIT');
  assert.equal(Number(hit.response.headers.get('x-cache-similarity')), 1);
  assert.equal(hit.data.object, 'chat.completion');
  assert.equal(hit.data.choices[0].message.content, original);
  assert.equal(hit.data.choices[0].finish_reason, 'stop');

  const streamed = await untilHit(() => create({ stream: true }));
  assert.equal(streamed.response.headers.get('x-cache-status'), 'HIT');
  const chunks = await collect(streamed.data);
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  assert.equal(contentOf(chunks), original);
  assert.equal((await providerSaw(question)).length, 1);
});

test('PII is masked before the provider and restored in the answer', async () => {
  const email = 'alice.smith@example.com';
  const question = `(${RUN}) My email is ${email}, please confirm it`;
  const r = await client.chat.completions.create({ model: MODEL, messages: user(question) });
  const saw = await providerSaw(`(${RUN}) My email is`);
  assert.equal(saw.length, 1);
  assert.ok(!saw[0].includes(email));
  assert.ok(saw[0].includes('[EMAIL_1]'), saw[0]);
  assert.ok(r.choices[0].message.content.includes(email));
});
