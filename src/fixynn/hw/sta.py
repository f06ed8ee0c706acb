"""Static timing of a mapped netlist with OpenSTA (Debian package `opensta`).

Method: ideal clock (no clock tree), every input arriving at the clock edge and every output
required at the next one, the library's typical corner; the worst max-delay path decides the
minimum clock period = data arrival + the capturing flip-flop's setup time. A layer module's
inputs come from the previous layer's output register in the whole FFE: a path that starts at
an input port therefore leaves out that register's clock-to-Q (0.23 ns for osu018's DFFPOSX1
at a light load), while paths between the layer's own registers are complete.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixynn.errors import FixynnError
from fixynn.hw.liberty import Library

STA_TIMEOUT_S = 600.0
PERIOD_NS = 1000.0  # far above any layer's path: the slack then measures the path itself


@dataclass(frozen=True)
class Timing:
    """The critical path of one netlist and the clock it allows."""

    critical_path_ns: float  # arrival + setup of the worst path
    startpoint: str
    endpoint: str

    @property
    def f_max_mhz(self) -> float:
        return 1e3 / self.critical_path_ns

    def to_dict(self) -> dict[str, Any]:
        return {"critical_path_ns": self.critical_path_ns, "f_max_mhz": self.f_max_mhz,
                "startpoint": self.startpoint, "endpoint": self.endpoint}


def find_sta() -> str:
    sta = shutil.which("sta")
    if sta is None:
        raise FixynnError("OpenSTA (`sta`) not found: install it with `apt-get install opensta` "
                          "(bash scripts/install-system-deps.sh does)")
    return sta


def sta_script(netlist: Path, top: str, liberty: Path, buffer_cell: str) -> str:
    inputs = "[delete_from_list [all_inputs] [get_ports clk]]"
    return (f"read_liberty {{{liberty}}}\nread_verilog {{{netlist}}}\nlink_design {top}\n"
            f"create_clock -name clk -period {PERIOD_NS} [get_ports clk]\n"
            f"set_input_delay 0 -clock clk {inputs}\n"
            f"set_driving_cell -lib_cell {buffer_cell} {inputs}\n"
            "set_output_delay 0 -clock clk [all_outputs]\n"
            "report_checks -path_delay max -digits 4\nexit\n")


def critical_path(netlist_text: str, top: str, library: Library,
                  timeout_s: float = STA_TIMEOUT_S) -> Timing:
    """Run OpenSTA on a netlist mapped to `library` and parse its worst path (inputs driven
    by the library's smallest buffer, as the netlist was mapped)."""
    sta = find_sta()
    with tempfile.TemporaryDirectory(prefix="fixynn-sta-") as tmp:
        netlist, script = Path(tmp) / "netlist.v", Path(tmp) / "sta.tcl"
        netlist.write_text(netlist_text)
        script.write_text(sta_script(netlist, top, library.path.resolve(), library.buffer()))
        try:
            proc = subprocess.run([sta, "-no_splash", "-exit", str(script)], capture_output=True,
                                  text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise FixynnError(f"OpenSTA on {top!r} ran past {timeout_s:g} s") from exc
    return parse_report(proc.stdout + proc.stderr, top)


_SLACK = re.compile(r"^\s*(-?[0-9.]+)\s+slack \((MET|VIOLATED)\)", re.M)
_POINT = re.compile(r"^(Startpoint|Endpoint): (\S+)", re.M)


def parse_report(text: str, top: str) -> Timing:
    """Worst path of `report_checks` output: period minus slack is the path's arrival + setup."""
    slack = _SLACK.search(text)
    points = dict(_POINT.findall(text))
    if slack is None or "Startpoint" not in points or "Endpoint" not in points:
        error = next((ln for ln in text.splitlines() if "Error" in ln), "no timing path found")
        raise FixynnError(f"OpenSTA on {top!r}: {error.strip()}")
    return Timing(critical_path_ns=round(PERIOD_NS - float(slack.group(1)), 4),
                  startpoint=points["Startpoint"], endpoint=points["Endpoint"])
