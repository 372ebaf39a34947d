"""Would a cross-encoder re-check of borderline candidates beat plain cosine? Measured on the calibration protocol.

Run with the project's environment (PyTorch and transformers, CPU)::

    nice -n 10 .venv/bin/python benchmarks/cross_encoder_check.py ../shared/data/qqp-pairs-dev.jsonl [--json OUT]

What it does, with the functions ``intelbot cache calibrate`` uses (``split_pairs``,
``run_protocol``, ``pick_threshold``, ``figures``), so its figures sit beside the
README's table:

1. ``split_pairs(pairs, 0.5)``: fitting rows (the first half) and reporting rows (the
   second half). The reporting rows are used for nothing but the final figures.
2. The fitting rows are split again (``split_pairs(fit, 0.3)``): a cross-encoder
   (all-MiniLM-L6-v2's weights read as a sequence classifier with one output, both
   questions in one input) is fine-tuned on the labelled pairs of the first 70 %; the
   band and the threshold are picked on the other 30 % (the inner rows), on their own
   cosine protocol.
3. Plain cosine's threshold is picked on all the fitting rows, as ``calibrate`` does.
4. Both are scored on the reporting rows: the cache's nearest candidate for each
   ``q2`` (by cosine) is re-checked by the cross-encoder when its cosine is in
   ``[floor, ceiling)``; above the band it is served on the cosine alone, below it is
   a miss.

``report_hindsight_best`` is the best band and threshold picked on the reporting rows
themselves: not a result, a ceiling on what the fine-tuned model could give.
Training comes first; the vectors come from the quality benchmark's cache
(``benchmarks/.cache/``; ``--wait-for-vectors`` waits for another process, such as
``semantic_cache.py quality``, to write it instead of embedding the pairs twice).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from semantic_cache import pair_embedder, vectors_file

from intelbot.embedding.bundled import BUNDLED_NAME, bundled_model_path
from intelbot_semantic_cache.calibration import (
    LabelledPair,
    Lookup,
    QuestionGroups,
    embed_all,
    figures,
    pick_threshold,
    read_pairs,
    run_protocol,
    split_pairs,
)
from intelbot_semantic_cache.matching import MatchRule

TARGET = 0.95
HOLDOUT = 0.5
INNER_SHARE = 0.3
FLOORS = (0.7, 0.75, 0.8, 0.85, 0.9)
CEILINGS = (0.96, 0.98, 0.99, 1.01)  # 1.01: no upper band, every candidate from the floor up is re-checked
ABOVE_BAND = 2.0  # score of a candidate above the band: served whenever the threshold is a probability


def fine_tune(
    rows: Sequence[tuple[str, str, float]],
    *,
    epochs: int,
    batch_size: int,
    max_length: int,
    learning_rate: float,
    seed: int,
    log: Any,
) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    generator = random.Random(seed)
    path = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    model.train()
    model.bert.embeddings.word_embeddings.weight.requires_grad_(
        False
    )  # 30k x 384 token table: 7k pairs cannot move it usefully
    optimiser_parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimiser = torch.optim.AdamW(optimiser_parameters, lr=learning_rate, weight_decay=0.01)
    steps = epochs * math.ceil(len(rows) / batch_size)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup)))
    )
    loss_function = torch.nn.BCEWithLogitsLoss()
    step = 0
    started = time.perf_counter()
    for epoch in range(epochs):
        order = list(range(len(rows)))
        generator.shuffle(order)
        running = 0.0
        for start in range(0, len(order), batch_size):
            batch = [rows[i] for i in order[start : start + batch_size]]
            # either order: the cache's decision must not depend on which question was stored first
            firsts, seconds = zip(*[(a, b) if generator.random() < 0.5 else (b, a) for a, b, _ in batch], strict=True)
            inputs = tokenizer(
                list(firsts), list(seconds), truncation=True, max_length=max_length, padding=True, return_tensors="pt"
            )
            labels = torch.tensor([label for _, _, label in batch], dtype=torch.float32)
            logits = model(**inputs).logits.squeeze(-1)
            loss = loss_function(logits, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            running += float(loss)
            step += 1
            if step % 50 == 0:
                log(
                    f"  epoch {epoch + 1} step {step}/{steps} loss {running / 50:.4f} "
                    f"({time.perf_counter() - started:.0f} s)"
                )
                running = 0.0
    model.eval()
    return model, tokenizer


def score(
    model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], *, max_length: int, batch_size: int = 64
) -> np.ndarray:
    """P(duplicate) for each (query, candidate), the mean over both orders."""
    import torch

    out = np.zeros(len(pairs))
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            total = np.zeros(len(batch))
            for first, second in (zip(*batch, strict=True), reversed(list(zip(*batch, strict=True)))):
                inputs = tokenizer(
                    list(first), list(second), truncation=True, max_length=max_length, padding=True, return_tensors="pt"
                )
                total += model(**inputs).logits.squeeze(-1).numpy()
            out[start : start + len(batch)] = 1.0 / (1.0 + np.exp(-total / 2))
    return out


def rechecked(lookups: Sequence[Lookup], probabilities: dict[int, float], floor: float, ceiling: float) -> list[Lookup]:
    """The lookups scored by the stage: exact stays exact, the band gets the cross-encoder, above it passes."""
    result = []
    for position, lookup in enumerate(lookups):
        if lookup.matched is None or lookup.kind != "semantic":
            result.append(lookup)
        elif lookup.similarity >= ceiling:
            result.append(Lookup(lookup.matched, lookup.kind, lookup.similarity, ABOVE_BAND + lookup.similarity))
        elif lookup.similarity >= floor:
            result.append(Lookup(lookup.matched, lookup.kind, lookup.similarity, probabilities[position]))
        else:
            result.append(Lookup(lookup.matched, lookup.kind, lookup.similarity, -1.0 + lookup.similarity))
    return result


def band_pairs(
    pairs: Sequence[LabelledPair], lookups: Sequence[Lookup], floor: float
) -> tuple[list[int], list[tuple[str, str]]]:
    positions = [
        i
        for i, lookup in enumerate(lookups)
        if lookup.matched is not None and lookup.kind == "semantic" and lookup.similarity >= floor
    ]
    return positions, [(pairs[i].q2, str(lookups[i].matched)) for i in positions]


def single_pair_ms(
    model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], *, max_length: int
) -> dict[str, float]:
    """Latency of one re-check (both orders, batch of 2) as the cache would run it, PyTorch on CPU."""
    import torch

    latencies = []
    with torch.inference_mode():
        for query, candidate in pairs:
            began = time.perf_counter()
            model(**both_orders(tokenizer, query, candidate, max_length=max_length, tensors="pt"))
            latencies.append((time.perf_counter() - began) * 1000)
    values = np.asarray(latencies)
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p99_ms": round(float(np.percentile(values, 99)), 2)}


def both_orders(tokenizer: Any, query: str, candidate: str, *, max_length: int, tensors: str) -> Any:
    """The pair as a batch of two, in both orders (the re-check scores their mean), as ``tensors`` ("pt"/"np")."""
    return tokenizer(
        [query, candidate],
        [candidate, query],
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors=tensors,
    )


def onnx_single_pair_ms(
    model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], *, max_length: int
) -> dict[str, float]:
    """The same re-check on ONNX Runtime (the fine-tuned model exported, one intra-op thread, as the bot runs).

    The export's logits are checked against PyTorch's on the first pairs before timing.
    """
    import tempfile
    import warnings

    import onnxruntime
    import torch

    names = ("input_ids", "attention_mask", "token_type_ids")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "pair.onnx"
        example = tokenizer(["a b"], ["c"], return_tensors="pt")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                tuple(example[name] for name in names),
                str(path),
                dynamo=False,
                input_names=list(names),
                output_names=["logits"],
                dynamic_axes={**{name: {0: "batch", 1: "sequence"} for name in names}, "logits": {0: "batch"}},
                opset_version=17,
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def feed(query: str, candidate: str) -> dict[str, np.ndarray]:
        inputs = both_orders(tokenizer, query, candidate, max_length=max_length, tensors="np")
        return {name: np.asarray(inputs[name], dtype=np.int64) for name in names}

    worst = 0.0
    with torch.inference_mode():
        for query, candidate in pairs[:20]:
            inputs = feed(query, candidate)
            expected = model(**{name: torch.from_numpy(value) for name, value in inputs.items()}).logits.numpy()
            worst = max(worst, float(np.max(np.abs(session.run(None, inputs)[0] - expected))))
    latencies = []
    for query, candidate in pairs:
        began = time.perf_counter()
        session.run(None, feed(query, candidate))
        latencies.append((time.perf_counter() - began) * 1000)
    values = np.asarray(latencies)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
        "largest_logit_difference_to_pytorch": round(worst, 6),
    }


async def measure(arguments: argparse.Namespace, log: Any) -> dict[str, Any]:
    import torch

    torch.set_num_threads(arguments.threads)
    pairs = read_pairs(arguments.pairs)
    fit_pairs, report_pairs, split = split_pairs(pairs, HOLDOUT)
    train_pairs, inner_pairs, inner_split = split_pairs(fit_pairs, INNER_SHARE)
    rows = [(pair.q2, pair.q1, float(pair.duplicate)) for pair in train_pairs]
    log(f"fine-tuning on {len(rows)} examples from rows 0-{inner_split - 1} ({sum(r[2] for r in rows):.0f} positive)")
    started = time.perf_counter()
    model, tokenizer = fine_tune(
        rows,
        epochs=arguments.epochs,
        batch_size=arguments.batch_size,
        max_length=arguments.max_length,
        learning_rate=arguments.learning_rate,
        seed=0,
        log=log,
    )
    training_seconds = time.perf_counter() - started
    log(f"trained in {training_seconds:.0f} s")

    if arguments.wait_for_vectors:
        wanted = vectors_file(arguments.pairs, BUNDLED_NAME)
        while not wanted.exists():  # another process is embedding the pairs (benchmarks/semantic_cache.py)
            log(f"waiting for {wanted}")
            await asyncio.sleep(30)
        await asyncio.sleep(30)  # let the writer finish the file
    embedder, vectors_path, _ = await pair_embedder(arguments.pairs, pairs)
    vectors = await embed_all(embedder, pairs)
    log(f"vectors: {vectors_path}")
    cosine = MatchRule(0.0, None, embedder.name)
    fit_groups = QuestionGroups(fit_pairs)
    inner_groups, report_groups = QuestionGroups(inner_pairs), QuestionGroups(report_pairs)
    fit_lookups = await run_protocol(fit_pairs, embedder, cosine, vectors)
    cosine_threshold = pick_threshold(fit_pairs, fit_lookups, fit_groups, TARGET)
    if cosine_threshold is None:
        raise SystemExit(f"plain cosine reaches precision {TARGET} at no threshold on the fitting rows: use more pairs")
    inner_lookups = await run_protocol(inner_pairs, embedder, cosine, vectors)
    report_lookups = await run_protocol(report_pairs, embedder, cosine, vectors)

    low = min(FLOORS)
    inner_positions, inner_band = band_pairs(inner_pairs, inner_lookups, low)
    started = time.perf_counter()
    inner_probabilities = dict(
        zip(inner_positions, score(model, tokenizer, inner_band, max_length=arguments.max_length), strict=True)
    )
    batched_ms = (time.perf_counter() - started) * 1000 / max(1, len(inner_band))
    log(f"scored {len(inner_band)} inner in-band pairs ({batched_ms:.2f} ms a pair, batched, both orders)")
    choices = []
    for floor in FLOORS:
        for ceiling in CEILINGS:
            lookups = rechecked(inner_lookups, inner_probabilities, floor, ceiling)
            threshold = pick_threshold(inner_pairs, lookups, inner_groups, TARGET)
            if threshold is None:
                continue
            point = figures(inner_pairs, lookups, inner_groups, threshold)
            choices.append({"floor": floor, "ceiling": ceiling, **point})
    inner_cosine = figures(inner_pairs, inner_lookups, inner_groups, cosine_threshold)
    best = max(choices, key=lambda row: (row["hit_rate"], row["precision"]))
    log(
        f"inner rows: best band {best['floor']}-{best['ceiling']} threshold {best['threshold']:.4f} "
        f"hit rate {best['hit_rate']} precision {best['precision']} (cosine {inner_cosine['hit_rate']})"
    )

    report_positions, report_band = band_pairs(report_pairs, report_lookups, best["floor"])
    report_probabilities = dict(
        zip(report_positions, score(model, tokenizer, report_band, max_length=arguments.max_length), strict=True)
    )
    chosen = figures(
        report_pairs,
        rechecked(report_lookups, report_probabilities, best["floor"], best["ceiling"]),
        report_groups,
        best["threshold"],
    )
    baseline = figures(report_pairs, report_lookups, report_groups, cosine_threshold)
    semantic = sum(1 for lookup in report_lookups if lookup.kind == "semantic")
    in_band = sum(
        1
        for lookup in report_lookups
        if lookup.kind == "semantic" and best["floor"] <= lookup.similarity < best["ceiling"]
    )
    # what the best threshold in hindsight would give on the reporting rows (not a choice: a ceiling on the idea)
    hindsight = []
    for floor in FLOORS:
        for ceiling in CEILINGS:
            if floor < best["floor"]:
                continue
            positions = [p for p in report_positions if report_lookups[p].similarity >= floor]
            lookups = rechecked(report_lookups, {p: report_probabilities[p] for p in positions}, floor, ceiling)
            threshold = pick_threshold(report_pairs, lookups, report_groups, TARGET)
            if threshold is not None:
                hindsight.append(
                    {"floor": floor, "ceiling": ceiling, **figures(report_pairs, lookups, report_groups, threshold)}
                )
    latency = single_pair_ms(model, tokenizer, report_band[:300], max_length=arguments.max_length)
    onnx_latency = onnx_single_pair_ms(model, tokenizer, report_band[:300], max_length=arguments.max_length)
    return {
        "pairs": len(pairs),
        "fit_rows": [0, split],
        "trained_on_rows": [0, inner_split],
        "band_and_threshold_picked_on_rows": [inner_split, split],
        "report_rows": [split, len(pairs)],
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(arguments).items()},
        "training_examples": len(rows),
        "training_seconds": round(training_seconds, 1),
        "inference_batched_ms_per_pair": round(batched_ms, 2),
        "inference_single_pair": latency,
        "inference_single_pair_onnxruntime_1_thread": onnx_latency,
        "inner_choices": choices,
        "inner_cosine": inner_cosine,
        "chosen": {"floor": best["floor"], "ceiling": best["ceiling"], "threshold": best["threshold"]},
        "report_cross_encoder": chosen,
        "report_cosine": baseline,
        "hit_rate_vs_cosine": round(chosen["hit_rate"] / baseline["hit_rate"], 4),
        "report_in_band_share_of_semantic_lookups": round(in_band / max(1, semantic), 4),
        "report_hindsight_best": max(hindsight, key=lambda row: row["hit_rate"]) if hindsight else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--learning-rate", type=float, default=4e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--wait-for-vectors", action="store_true", help="train first, then wait for the vectors file")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    arguments = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = asyncio.run(measure(arguments, log))
    text = json.dumps(result, indent=1)
    print(text)
    if arguments.json is not None:
        arguments.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
