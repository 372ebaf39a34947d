"""Plain-text renderings of an analysis and a report (what ``intelbot db`` prints without ``--json``)."""

from __future__ import annotations

from intelbot_db_advisor.advisor import Report
from intelbot_db_advisor.suggestion import Analysis, Suggestion


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.3f} ms"


def suggestion_lines(suggestion: Suggestion) -> list[str]:
    """One suggestion: its id and statement, then one line of evidence per statement it speeds up."""
    kind = "measured" if suggestion.measured else "planner cost"
    served = ", ".join(str(e.statement) for e in suggestion.evidence)
    lines = [
        f"[{suggestion.id}] {suggestion.sql}",
        f"    {suggestion.speedup:.1f}x faster ({kind}) for statements {served}, "
        f"{suggestion.share:.1%} of database time",
    ]
    for evidence in suggestion.evidence:
        cost = (
            f", cost {evidence.cost_before:.1f} -> {evidence.cost_after:.1f}"
            if evidence.cost_before is not None and evidence.cost_after is not None
            else ""
        )
        lines.append(
            f"    statement {evidence.statement} ({evidence.fingerprint}): {_ms(evidence.seconds_before)} -> "
            f"{_ms(evidence.seconds_after)}{cost}, {evidence.share:.1%} of time"
        )
    lines.extend(f"    note: {note}" for note in suggestion.notes)
    return lines


def analysis_lines(analysis: Analysis) -> list[str]:
    lines = [f"{len(analysis.suggestions)} index suggestion(s) on {analysis.dialect}"]
    for suggestion in analysis.suggestions:
        lines.extend(suggestion_lines(suggestion))
    if analysis.covered:
        lines.append("already covered by existing indexes:")
        lines.extend(f"    {item}" for item in analysis.covered)
    for problem in analysis.problems:
        lines.append(f"problem: {problem}")
    lines.extend(f"note: {note}" for note in analysis.notes)
    return lines


def report_lines(report: Report) -> list[str]:
    lines = [
        f"captured: {len(report.figures)} statement fingerprints, {report.total_seconds * 1000:.1f} ms of database time"
    ]
    heaviest = sorted(report.figures, key=lambda item: item.total_seconds, reverse=True)[:10]
    if heaviest:
        lines.append("slowest statements (by total time):")
    for item in heaviest:
        share = item.total_seconds / report.total_seconds if report.total_seconds else 0.0
        lines.append(
            f"    {item.fingerprint} {share:6.1%} {item.calls:>7} calls, mean {_ms(item.mean_seconds)}, "
            f"max {_ms(item.max_seconds)}: {item.text[:160]}"
        )
    lines.extend(f"note: {note}" for note in report.notes)
    lines.extend(analysis_lines(report.analysis))
    lines.append("health:")
    lines.extend(f"    [{finding.level}] {finding.check}: {finding.message}" for finding in report.findings)
    pool = report.pool
    lines.append(
        f"pool: {pool.pool} size {pool.size} overflow {pool.max_overflow}, peak in use {pool.peak_in_use}, "
        f"{pool.checkouts} checkouts ({pool.overflow_checkouts} overflow)"
        + (f", server max_connections {pool.max_connections}" if pool.max_connections else "")
    )
    lines.append(f"    advice: {pool.recommendation} ({pool.reason})")
    return lines
