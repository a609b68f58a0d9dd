"""How long the embedded model takes to load once it is converted and its files are in the page cache.

    python benchmarks/warm_load.py [--model embedded:gemma-3-270m] [--repeats 3]

Each repeat is a fresh Python process (as each `basepersona` command is) and reports, in order:
import torch; import transformers; resolve the model (no GGUF work once converted); the tokenizer
(from basepersona's pickled copy after the first load; see backends/tokenizer_cache.py); the
weights (transformers also imports the architecture's modelling code here); and all of
`load_backend`, which is those three plus the backend's set-up; and `load_backend` once more in the
same process, which is what an eval harness importing basepersona pays for each further model load
(the imports of torch, transformers and the modelling code are then done). The first repeat warms
the page cache and the tokenizer copy, so the median of the later repeats is the warm figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
model = sys.argv[1]
marks = {}
began = time.perf_counter()
import torch
marks["import torch"] = time.perf_counter() - began
step = time.perf_counter()
import transformers
marks["import transformers"] = time.perf_counter() - step
from basepersona.backends import tokenizer_cache
from basepersona.models import resolve_model
step = time.perf_counter()
resolved = resolve_model(model, lambda m: None)
marks["resolve model"] = time.perf_counter() - step
step = time.perf_counter()
tokenizer_cache.load_tokenizer(resolved.load_path)
marks["tokenizer"] = time.perf_counter() - step
step = time.perf_counter()
transformers.AutoModelForCausalLM.from_pretrained(resolved.load_path, dtype=torch.float32)
marks["weights (and the model's code)"] = time.perf_counter() - step
print(json.dumps(marks))
"""

WHOLE = r"""
import json, sys, time
import torch
from basepersona.backends import load_backend
marks = {}
for name in ("load_backend (torch already imported)", "load_backend again (libraries imported)"):
    began = time.perf_counter()
    backend = load_backend(sys.argv[1], device="cpu", announce=lambda m: None)
    marks[name] = time.perf_counter() - began
    del backend
print(json.dumps(marks))
"""


def run(code: str, model: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, model], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded:gemma-3-270m")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    parts = [run(CHILD, args.model) for _ in range(args.repeats + 1)][1:]
    wholes = [run(WHOLE, args.model) for _ in range(args.repeats)]
    print(f"{args.model}, warm (converted, page cache and tokenizer copy current), median of {args.repeats} "
          "fresh processes")
    print("| step | seconds |")
    print("|---|---|")
    for name in parts[0]:
        print(f"| {name} | {statistics.median(p[name] for p in parts):.2f} |")
    for name in wholes[0]:
        print(f"| **{name}** | **{statistics.median(w[name] for w in wholes):.2f}** |")


if __name__ == "__main__":
    main()
