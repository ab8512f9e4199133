"""Example streaming model: a character-level text generator (an order-4 Markov chain).

model_fn learns which letter follows each run of four letters in corpus.txt; predict_fn
returns a generator that samples one letter at a time, so the reply streams through
InvokeEndpointWithResponseStream part by part (InvokeEndpoint gets the joined text).

Request (JSON): {"prompt": "The endpoint", "max_new_chars": 200, "seed": 7}. A real
language model spends time on every token; ``TOKEN_DELAY_S`` (environment, default
0.02 s) stands in for that, so the stream is visible at reading speed.
"""

import json
import os
import random
import time
from collections import defaultdict

ORDER = 4


def model_fn(model_dir):
    with open(os.path.join(model_dir, "corpus.txt"), encoding="utf-8") as f:
        text = " ".join(f.read().split())
    following = defaultdict(list)
    for i in range(len(text) - ORDER):
        following[text[i:i + ORDER]].append(text[i + ORDER])
    return {"following": dict(following), "starts": [text[:ORDER]]}


def input_fn(request_body, request_content_type):
    if not request_content_type.startswith("application/json"):
        raise ValueError(f"unsupported content type {request_content_type!r}; send application/json")
    request = json.loads(request_body or "{}")
    max_new = int(request.get("max_new_chars", 200))
    if not 1 <= max_new <= 5000:
        raise ValueError("max_new_chars must be between 1 and 5000")
    return {"prompt": str(request.get("prompt", "")), "max_new_chars": max_new, "seed": request.get("seed")}


def predict_fn(request, model):
    return _generate(model, request["prompt"], request["max_new_chars"], random.Random(request["seed"]),
                     float(os.environ.get("TOKEN_DELAY_S", "0.02")))


def _generate(model, prompt, max_new_chars, rng, delay_s):
    following = model["following"]
    context = (" " * ORDER + prompt)[-ORDER:]
    if context not in following:
        context = model["starts"][0]
    for _ in range(max_new_chars):
        choices = following.get(context)
        if not choices:  # the corpus's last letters: start over
            context = model["starts"][0]
            choices = following[context]
        letter = rng.choice(choices)
        context = context[1:] + letter
        if delay_s:
            time.sleep(delay_s)
        yield letter


def output_fn(prediction, accept):
    return prediction, "text/plain; charset=utf-8"
