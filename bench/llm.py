"""Speed of the local llama.cpp model (SmolLM2-135M-Instruct Q4_1 unless configured).

Measures, through ``LlamaCppLLM`` itself:

* load time (first call; the model file is read and the context allocated),
* prompt processing speed (prompt tokens/s) for a ~600-token RAG-shaped prompt,
* decode speed (generated tokens/s),

taking llama.cpp's own timings from each answer, and wall-clock time to first streamed
delta. Every repetition changes the first word of the prompt so that llama.cpp's prompt
cache cannot reuse the previous prompt's tokens. Thread count and context come from the
usual settings (``LLM_N_THREADS``, ``LLM_N_THREADS_BATCH``, ``LLM_CONTEXT_WINDOW``) or flags.

    .venv/bin/python bench/llm.py [--prompt-tokens 600] [--max-tokens 128] [--repeats 3]
        [--threads N] [--threads-batch N] [--model-path FILE] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ragd.adapters.llm.llamacpp import LlamaCppLLM
from ragd.ports.llm import ChatMessage, Completion, GenerationRequest

SYSTEM = (
    "You answer questions using only the numbered passages you are given. "
    "After every sentence, cite the passage it comes from as [n]."
)
PASSAGE = (
    "Tides are the rise and fall of sea levels caused by the combined effects of the "
    "gravitational forces exerted by the Moon and the Sun and the rotation of the Earth. "
    "Spring tides occur when the Sun, the Moon and the Earth are aligned, at new and full "
    "moon; neap tides occur at the quarter moons, when the pulls partly cancel. "
)
QUESTION = "What causes spring tides, and how do they differ from neap tides?"


def build_prompt(llm: LlamaCppLLM, target_tokens: int, salt: int) -> GenerationRequest:
    """A RAG-shaped prompt of about ``target_tokens`` model tokens (template excluded)."""
    passages: list[str] = []
    user = ""
    while True:
        passages.append(f"[{len(passages) + 1}] {PASSAGE}")
        user = f"Run {salt}. Passages:\n\n" + "\n\n".join(passages) + f"\n\nQuestion: {QUESTION}"
        if llm.count_tokens(SYSTEM) + llm.count_tokens(user) >= target_tokens:
            break
    return GenerationRequest(
        messages=[ChatMessage("system", SYSTEM), ChatMessage("user", user)],
        question=QUESTION,
        passages=passages,
        temperature=0.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompt-tokens", type=int, default=600)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--threads-batch", type=int, default=None)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--model-path", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    threads = args.threads or int(os.environ.get("LLM_N_THREADS", os.cpu_count() or 1))
    threads_batch = args.threads_batch or int(os.environ.get("LLM_N_THREADS_BATCH", threads))
    llm = LlamaCppLLM(
        model_path=args.model_path,
        context_window=args.context,
        threads=threads,
        threads_batch=threads_batch,
        timeout=600,
    )
    started = time.perf_counter()
    llm.count_tokens("load")  # the first call loads the model
    load_s = time.perf_counter() - started

    # Warm-up generation (first-call allocations), not reported.
    warm = build_prompt(llm, 64, salt=-1)
    llm.complete(replace(warm, max_tokens=8))

    rows: list[dict[str, Any]] = []
    for i in range(args.repeats):
        request = replace(build_prompt(llm, args.prompt_tokens, salt=i), max_tokens=args.max_tokens)
        engine = llm._ensure_loaded()  # llama.cpp's own timings are in the raw answer
        body = {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": 0.0,
            "cache_prompt": False,
        }
        t0 = time.perf_counter()
        raw = engine.server.handle_chat_completions(body)
        wall = time.perf_counter() - t0
        timings = raw.get("timings", {})
        usage = raw.get("usage", {})
        # Time to first streamed delta through the adapter (prompt cache defeated by salt).
        stream_request = replace(
            build_prompt(llm, args.prompt_tokens, salt=1000 + i), max_tokens=args.max_tokens
        )
        t0 = time.perf_counter()
        first_delta_s = None
        for item in llm.stream(stream_request):
            if first_delta_s is None and isinstance(item, str):
                first_delta_s = time.perf_counter() - t0
            if isinstance(item, Completion):
                break
        rows.append(
            {
                "prompt_tokens": usage.get("prompt_tokens"),
                "completion_tokens": usage.get("completion_tokens"),
                "prompt_tok_s": timings.get("prompt_per_second"),
                "decode_tok_s": timings.get("predicted_per_second"),
                "wall_s": wall,
                "first_delta_s": first_delta_s,
            }
        )
    llm.close()

    def median(key: str) -> float:
        return statistics.median(float(r[key]) for r in rows if r[key] is not None)

    summary = {
        "model": llm.model,
        "threads": threads,
        "threads_batch": threads_batch,
        "context": args.context,
        "load_s": round(load_s, 3),
        "prompt_tokens": int(median("prompt_tokens")),
        "completion_tokens": int(median("completion_tokens")),
        "prompt_tok_s": round(median("prompt_tok_s"), 1),
        "decode_tok_s": round(median("decode_tok_s"), 1),
        "answer_wall_s": round(median("wall_s"), 3),
        "first_delta_s": round(median("first_delta_s"), 3),
        "repeats": args.repeats,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "load_average": os.getloadavg()[0],
    }
    for key, value in summary.items():
        print(f"{key:>18}: {value}")
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": summary, "runs": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
