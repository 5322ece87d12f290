"""``corpusmill tokenize --engine ray``: one Ray task per input shard, results written in shard order.

The driver reads and sha256-checks each shard, hands its bytes to a task that encodes it with
the same :func:`pipelines.tokenize.iter_encoded` as the local engine, and writes the results in
shard order — so the bytes and the manifest ID are the local engine's. At most two tasks per
CPU are in flight, which bounds the driver's memory to that many shards' tokens.
"""

from __future__ import annotations

from collections import deque

from pipelines.config import RayOptions
from pipelines.engine_ray import connect
from pipelines.tokenize import iter_encoded, read_verified


def _encode(data: bytes, tok, batch_rows: int) -> list:
    tok.tokenizer.encode_special_tokens = True  # the policy, whatever pickling kept
    return list(iter_encoded(data, tok, batch_rows))


def encoded_shards(cat, mid, shards, todo, tok, batch_rows):
    import ray

    started = connect(RayOptions())
    try:
        task = ray.remote(_encode)
        window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        tok_ref = ray.put(tok)
        pending: deque = deque()
        queue = deque(todo)
        while queue or pending:
            while queue and len(pending) < window:
                i = queue.popleft()
                pending.append((i, task.remote(read_verified(cat, mid, shards[i]), tok_ref, batch_rows)))
            i, ref = pending.popleft()
            yield i, iter(ray.get(ref))
    finally:
        if started:
            ray.shutdown()
