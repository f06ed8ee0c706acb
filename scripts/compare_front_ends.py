"""Two transfer sweeps side by side (docs/transfer.md, "The two front-ends side by side"):
per task and N, each front-end's baseline, FixyNN accuracy, loss with its 95% interval and
verdict; the largest N that holds for every task; the tasks both sweeps share.

    .venv/bin/python scripts/compare_front_ends.py A/transfer.json B/transfer.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def label(doc: dict[str, Any]) -> str:
    model = doc["config"]["model"]
    size = f"{model['in_channels']}x{model['input_size']}x{model['input_size']}"
    return f"{model['arch']} ({size}, source {doc['config']['tasks']['source']})"


def cell(row: dict[str, Any]) -> str:
    low, high = row["acc_loss_ci95"]
    return (f"{row['fixed_acc']:.2f} | {row['acc_loss']:+.2f} [{low:+.2f}, {high:+.2f}] | "
            f"{row['verdict']}")


def table(docs: list[dict[str, Any]]) -> str:
    tasks = [t for t in docs[0]["config"]["tasks"]["targets"]
             if all(t in d["config"]["tasks"]["targets"] for d in docs)]
    lines = ["| task | front-end | baseline | N | FixyNN | loss [95%] | verdict |",
             "|---|---|---|---|---|---|---|"]
    for task in tasks:
        for doc in docs:
            rows = sorted((r for r in doc["results"] if r["task"] == task), key=lambda r: r["n"])
            base = doc["baselines"][task]["acc"]
            for i, row in enumerate(rows):
                head = (f"{task} | {doc['config']['model']['arch']} | {base:.2f}" if i == 0
                        else " | | ")
                lines.append(f"| {head} | {row['n']} | {cell(row)} |")
    for doc in docs:
        lines.append("")
        lines.append(f"{label(doc)}: largest N that holds for every task of its sweep: "
                     f"{doc['largest_n_under_1pct']}; {doc['config']['train']['repeats']} "
                     f"repeats, {doc['config']['train']['max_train_images']} training images x "
                     f"{doc['config']['train']['transfer_epochs']} epochs.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path, help="transfer.json files")
    args = parser.parse_args()
    docs = []
    for path in args.sweeps:
        try:
            docs.append(json.loads(path.read_text()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SystemExit(f"{path}: cannot read it as JSON ({exc}); give the transfer.json "
                             "that fixynn transfer or fixynn run wrote") from exc
    try:
        print(table(docs))
    except (KeyError, TypeError) as exc:
        raise SystemExit(f"{args.sweeps}: not transfer.json files of this fixynn (missing "
                         f"{exc}); rerun the sweeps") from exc


if __name__ == "__main__":
    main()
