"""The official OpenAI Python SDK against the gateway with the full plugin chain (e2e/clients/chain.yaml)
in front of the mock LLM. Run by e2e/clients/tests/sdk_clients.rs, which starts the chain and sets:

  OPENAI_BASE_URL  the gateway's OpenAI base URL (http://127.0.0.1:PORT/v1)
  MOCK_URL         the primary mock LLM's root, for /mock/requests (what the provider really saw)

Each run uses its own tenant (x-tenant) so the semantic cache, which is scoped by tenant, starts cold.
"""

import json
import os
import time
import urllib.request
import uuid

import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk

RUN = uuid.uuid4().hex[:8]
MODEL = "gpt-4o-mini"
BASE_URL = os.environ["OPENAI_BASE_URL"]
MOCK_URL = os.environ["MOCK_URL"]


def make_client(tenant, **headers):
    # max_retries=0: a 429 must reach the test, not be retried by the SDK.
    return OpenAI(base_url=BASE_URL, api_key="sk-e2e", max_retries=0, timeout=60,
                  default_headers={"x-tenant": tenant, **headers})


@pytest.fixture(scope="module")
def client():
    return make_client(f"py-{RUN}")


def user(text):
    return [{"role": "user", "content": text}]


def provider_saw(needle):
    """User texts of the requests the primary mock received that contain `needle`."""
    with urllib.request.urlopen(f"{MOCK_URL}/mock/requests") as r:
        logged = json.load(r)
    texts = [m.get("content") for req in logged if isinstance(req.get("body"), dict)
             for m in req["body"].get("messages", []) if m.get("role") == "user"]
    return [t for t in texts if isinstance(t, str) and needle in t]


def until_hit(create):
    """Calls `create()` (a with_raw_response call) until the cache answers; stores finish after
    the response, so the first repeat can race the store."""
    deadline = time.monotonic() + 10
    while True:
        raw = create()
        if raw.headers.get("x-cache-status") == "HIT" or time.monotonic() > deadline:
            return raw
        time.sleep(0.1)


def test_non_streaming_chat_completion(client):
    question = f"Say hello to the gateway ({RUN} plain)"
    r = client.chat.completions.create(model=MODEL, messages=user(question))
    assert isinstance(r, ChatCompletion)
    assert r.object == "chat.completion"
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content.startswith("Mock answer ")
    assert question[:40] in choice.message.content
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert len(provider_saw(question)) == 1


def test_streaming_matches_the_non_streamed_answer(client):
    question = f"Stream me an answer ({RUN} stream)"
    chunks = list(client.chat.completions.create(model=MODEL, messages=user(question), stream=True))
    assert chunks and all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    # The client did not ask for usage: the limiter's injected usage chunk must not reach it.
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    # The same question again, bypassing the cache: the mock answers deterministically.
    plain = client.chat.completions.create(model=MODEL, messages=user(question),
                                           extra_headers={"x-higress-skip-ai-cache": "on"})
    assert streamed == plain.choices[0].message.content


def test_streaming_with_include_usage(client):
    question = f"Count my tokens please ({RUN} usage)"
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=user(question), stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    pieces = [c for c in chunks[:-1] if c.choices and c.choices[0].delta.content]
    # The mock sends one content delta per completion token.
    assert len(pieces) == last.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}


def test_tool_calls_plain_and_streamed(client):
    question = f"use get_weather for Paris {RUN}"
    r = client.chat.completions.create(model=MODEL, messages=user(question), tools=[WEATHER_TOOL])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": question[:20], "unit": "celsius"}

    chunks = list(client.chat.completions.create(model=MODEL, messages=user(question),
                                                 tools=[WEATHER_TOOL], stream=True))
    name = "".join(tc.function.name or "" for c in chunks if c.choices
                   for tc in (c.choices[0].delta.tool_calls or []) if tc.function)
    args = "".join(tc.function.arguments or "" for c in chunks if c.choices
                   for tc in (c.choices[0].delta.tool_calls or []) if tc.function)
    assert name == "get_weather"
    assert json.loads(args) == json.loads(call.function.arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_token_limit_is_a_rate_limit_error_with_retry_after():
    # chain.yaml: tenant `tiny` may use 600 tokens per minute. The cache is skipped so that every
    # request reaches the limiter (a hit is answered before it and never charged).
    tiny = make_client("tiny", **{"x-higress-skip-ai-cache": "on"})
    filler = "Please summarise the following meeting notes in detail. " * 20
    error = None
    for i in range(12):
        try:
            tiny.chat.completions.create(model=MODEL, max_tokens=50,
                                         messages=user(f"{filler} (note {i}, {RUN})"))
        except openai.RateLimitError as e:
            error = e
            break
    assert error is not None, "tenant tiny was never limited"
    assert error.status_code == 429
    assert error.code == "rate_limit_exceeded"
    retry_after = int(error.response.headers["retry-after"])
    # At most the one-minute window plus one of its 60 slots (the sliding window's granularity).
    assert 1 <= retry_after <= 61
    assert int(error.response.headers["x-ratelimit-remaining-tokens"]) >= 0
    # A streamed request is refused the same way, before any stream starts.
    with pytest.raises(openai.RateLimitError):
        tiny.chat.completions.create(model=MODEL, max_tokens=50, stream=True,
                                     messages=user(f"{filler} (streamed, {RUN})"))


def test_cache_hit_is_a_valid_completion_json_and_streamed(client):
    question = f"What is the tallest mountain in the world? ({RUN})"
    create = lambda **kw: client.chat.completions.with_raw_response.create(
        model=MODEL, messages=user(question), **kw)
    first = create()
    assert first.headers["x-cache-status"] == "MISS"
    original = first.parse().choices[0].message.content

    hit = until_hit(create)
    assert hit.headers["x-cache-status"] == "HIT"
    assert float(hit.headers["x-cache-similarity"]) == 1.0
    completion = hit.parse()
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content == original
    assert completion.choices[0].finish_reason == "stop"

    streamed = until_hit(lambda: create(stream=True))
    assert streamed.headers["x-cache-status"] == "HIT"
    chunks = list(streamed.parse())
    assert chunks and all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == original
    # Only the first request reached the provider.
    assert len(provider_saw(question)) == 1


def test_semantic_cache_hit_for_a_paraphrase(client):
    asked = f"What is the capital city of France? {RUN}"
    first = client.chat.completions.with_raw_response.create(model=MODEL, messages=user(asked))
    assert first.headers["x-cache-status"] == "MISS"
    paraphrase = f"What's the capital of France? {RUN}"
    hit = until_hit(lambda: client.chat.completions.with_raw_response.create(
        model=MODEL, messages=user(paraphrase)))
    assert hit.headers["x-cache-status"] == "HIT", hit.headers
    similarity = float(hit.headers["x-cache-similarity"])
    assert 0.9 <= similarity < 1.0
    assert hit.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert provider_saw(paraphrase) == []


def test_pii_is_masked_before_the_provider_and_restored_in_the_answer(client):
    email = "alice.smith@example.com"
    question = f"({RUN}) My email is {email}, please confirm it"
    r = client.chat.completions.create(model=MODEL, messages=user(question))
    saw = provider_saw(f"({RUN}) My email is")
    assert len(saw) == 1
    assert email not in saw[0]
    assert "[EMAIL_1]" in saw[0]
    # The mock echoes the text it saw; the placeholder is restored for the client.
    assert email in r.choices[0].message.content
