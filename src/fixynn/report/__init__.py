"""The run report: results.json (the record), report.md and report.html (for people)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixynn.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from fixynn.report.plots import render_plots
from fixynn.report.render import build_sections, to_html, to_markdown
from fixynn.report.results import validate_results

REPORT_HTML, REPORT_MD, RESULTS_JSON = "report.html", "report.md", "results.json"


def write_report(results: dict[str, Any], out_dir: str | Path,
                 sheets: dict[str, bytes] | None = None) -> dict[str, Path]:
    """Validate `results`, then write results.json, plots/*.png, report.md, report.html.

    `sheets`: PNGs of the tasks' images, "task-<name>" -> bytes (shown with each task).
    Each file is written atomically; report.html comes last, so its presence means the
    others are there too.
    """
    validate_results(results)
    out_dir = Path(out_dir)
    pngs = render_plots(results) | (sheets or {})
    sections = build_sections(results, set(pngs))
    paths = {"results": atomic_write_json(out_dir / RESULTS_JSON, results)}
    for name, png in pngs.items():
        paths[f"plot:{name}"] = atomic_write_bytes(out_dir / "plots" / f"{name}.png", png)
    paths["markdown"] = atomic_write_text(out_dir / REPORT_MD, to_markdown(sections))
    paths["html"] = atomic_write_text(out_dir / REPORT_HTML, to_html(sections, pngs))
    return paths
