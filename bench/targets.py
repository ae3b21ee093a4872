"""The issue-12 targets, each with the value this run measured and whether it is met."""

from __future__ import annotations

import os

from gate import GateRun, critical_path, local_cost
from scale import SecondRun

CPUS = os.cpu_count() or 1
Medians = dict[str, tuple[float, float]]  # "S1:label" -> (median s, peak RSS MiB)


def _met(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "**not met**")


def _startup(medians: Medians) -> tuple[str, str, str]:
    run = medians.get("S3:jobcheck run (one check)")
    if run is None:
        return "-", "not measured", ""
    return f"{run[0]:.3f} s", _met(run[0] <= 0.15), ""


def _trivial(medians: Medians) -> tuple[str, str, str]:
    ours = medians.get(f"S1:jobcheck --jobs {CPUS} (default here)")
    task = medians.get("S1:go-task, parallel (deps)")
    lefthook = medians.get("S1:lefthook, parallel: true")
    if not (ours and task):
        return "-", "not measured", ""
    ratio = ours[0] / task[0]
    extra = f"; vs lefthook {ours[0] / lefthook[0]:.1f}x" if lefthook else ""
    value = f"{ratio:.2f}x go-task ({ours[0]:.2f} s vs {task[0]:.2f} s){extra}"
    return value, _met(ratio <= 1.5), ""


def _gate_path(gates: list[GateRun]) -> tuple[str, str, str]:
    measured = [
        g for g in gates if g.report and (g.report.get("stack_up") or {}).get("status") == "pass"
    ]
    if not measured:
        why = "the stack did not come up" if any(g.report for g in gates) else "no run"
        return "-", f"not measured ({why})", "run `bench/run.py --gate` (Docker, minutes)"
    parts, oks = [], []
    for gate in measured:
        path_s, _ = critical_path(gate.report)
        ratio = gate.duration_s / path_s if path_s else float("inf")
        oks.append(ratio <= 1.05)
        parts.append(
            f"{gate.label.split(',')[0]}: {gate.duration_s:.1f} s / {path_s:.1f} s = {ratio:.2f}"
        )
    return "; ".join(parts), _met(all(oks)), ""


def _second(second: SecondRun | None, gates: list[GateRun]) -> tuple[str, str, str]:
    if len(gates) >= 2 and gates[0].report and gates[1].report:
        first, again = gates[0], gates[1]
        ratio = again.duration_s / first.duration_s if first.duration_s else float("inf")
        local = local_cost(again.report)
        value = f"gate {ratio:.2f} of the first run; local checks {local:.1f} s in all"
        return value, _met(ratio < 0.40 and local < 1.0), "from S6"
    if second and second.ratio() is not None:
        ratio = second.ratio() or 0.0
        local = second.checks_cost(1)
        value = f"S5: second run {ratio:.2f} of the first; its checks {local:.1f} s in all"
        return value, _met(ratio < 0.40 and local < 1.0), "S5 only (the gate's run is S6)"
    return "-", "not measured", ""


def _validate(medians: Medians) -> tuple[str, str, str]:
    one = medians.get("S4:jobcheck validate, 1 check")
    small = medians.get("S4:jobcheck validate, 1,000 checks")
    large = medians.get("S4:jobcheck validate, 10,000 checks")
    if not (one and small and large):
        return "-", "not measured", ""
    per_small = (small[1] - one[1]) / 1_000 * 1024  # KiB per check
    per_large = (large[1] - one[1]) / 10_000 * 1024
    linear = per_large <= 1.5 * per_small if per_small > 0 else None
    value = (
        f"{large[0]:.2f} s, peak {large[1]:.0f} MiB (1,000 checks: {small[0]:.2f} s, "
        f"{small[1]:.0f} MiB); memory {per_small:.1f} KiB per check at 1,000, "
        f"{per_large:.1f} at 10,000"
    )
    ok = large[0] < 2.0 and bool(linear)
    return value, _met(ok), "linear: the per-check memory at 10,000 within 1.5x of at 1,000"


def render_targets(medians: Medians, second: SecondRun | None, gates: list[GateRun]) -> list[str]:
    rows = [
        ("`jobcheck run` of a one-check checklist <= 0.15 s wall", _startup(medians)),
        ("200 trivial checks <= 1.5x go-task", _trivial(medians)),
        (
            "release gate wall <= its critical path + 5 % (stack bring-up one node)",
            _gate_path(gates),
        ),
        (
            "second run, nothing changed: cached local checks < 1 s in all, "
            "wall < 40 % of the first",
            _second(second, gates),
        ),
        (
            "a canary with no worker fails within its grace (<= 5 s)",
            ("-", "not measured here", "a test of the job kind, not a benchmark"),
        ),
        ("`validate` of 10,000 checks < 2 s, memory linear in the count", _validate(medians)),
    ]
    lines = [
        "### Targets (issue 12)",
        "",
        "| target | this run | met? | note |",
        "|---|---|---|---|",
    ]
    lines += [f"| {target} | {value} | {met} | {note} |" for target, (value, met, note) in rows]
    return [*lines, ""]
