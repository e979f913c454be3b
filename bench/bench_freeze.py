"""Time load + validate + freeze of the seed's qwen3_8B experiment, in-process; target under 0.5 s.

Prints one Markdown table row (``--header`` adds the header first):
| stage | experiment | cold s | warm median s | warm max s | runs | target s | ok |

"cold" is the first call in a fresh interpreter after the imports (module caches empty: YAML files read,
schema snapshot parsed, package versions looked up, git queried); "warm" repeats the whole chain into a new
runs folder each time, so every freeze really writes a bundle. Import time is reported separately on stderr.
Exit status 1 when the warm median misses the target.

    .venv/bin/python bench/bench_freeze.py [--runs 10] [--header] [--experiment PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_EXPERIMENT = REPO / "examples/torchtitan/configs/MI300X/qwen3_8B-BF16-pretrain.yaml"
TARGET_S = 0.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, default=DEFAULT_EXPERIMENT)
    parser.add_argument("--runs", type=int, default=10, help="warm repetitions (default 10)")
    parser.add_argument("--header", action="store_true", help="print the table header first")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    from primus.bundle import check_bundle, freeze
    from primus.config import load_experiment
    from primus.validate import validate

    import_s = time.perf_counter() - start

    def once(runs_dir: Path) -> float:
        begin = time.perf_counter()
        resolved = load_experiment(args.experiment)
        bundle = freeze(resolved, validate(resolved), runs_dir=runs_dir)
        elapsed = time.perf_counter() - begin
        check_bundle(bundle)  # not timed: proves each timed freeze wrote a complete bundle
        return elapsed

    with tempfile.TemporaryDirectory(prefix="bench-freeze-") as scratch:
        cold = once(Path(scratch) / "cold")
        warm = [once(Path(scratch) / f"warm-{index}") for index in range(args.runs)]

    median = statistics.median(warm)
    ok = median < TARGET_S
    if args.header:
        print("| stage | experiment | cold s | warm median s | warm max s | runs | target s | ok |")
        print("|---|---|---|---|---|---|---|---|")
    name = args.experiment.stem
    print(
        f"| load+validate+freeze | {name} | {cold:.3f} | {median:.3f} | {max(warm):.3f} | {args.runs} "
        f"| {TARGET_S} | {'yes' if ok else 'NO'} |"
    )
    print(f"imports (primus.config, primus.validate, primus.bundle): {import_s:.3f} s", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
