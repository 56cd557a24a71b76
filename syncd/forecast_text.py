"""A plan's forecast as ``syncd plan`` prints it: calls and time, the guard, what the LMS lacks,
who is out of scope and why."""

from __future__ import annotations

from syncd.engine.push.forecast import Forecast
from syncd.progress import span

SCOPE_EXAMPLES = 10


def forecast_lines(forecast: Forecast) -> list[str]:
    lines = [_calls_line(forecast)]
    guard = forecast.guard
    if forecast.guard_stops:
        lines.append(f"guard: the push would stop here (exit 3): {guard.reason}")
    elif guard.tripped:
        lines.append(f"guard: tripped ({guard.deprovisions} deactivations), but approved once")
    elif guard.deprovisions:
        lines.append(
            f"guard: {guard.deprovisions} deactivations of {guard.linked} linked, within the "
            f"limit of {guard.limit}"
        )
    if forecast.unusable:
        lines.append("missing in the LMS (the push would fail these):")
        lines += [f"  {line}" for line in forecast.unusable]
    lines += forecast.unlisted
    if forecast.out_of_scope:
        shown = list(forecast.scope_reasons.items())[:SCOPE_EXAMPLES]
        more = forecast.out_of_scope - len(shown)
        lines.append(f"out of scope: {forecast.out_of_scope:,} people" + (", e.g." if more else ""))
        lines += [f"  {hr_key}: {reason}" for hr_key, reason in shown]
        if more:
            lines.append(f"  ... and {more:,} more")
    return lines


def _calls_line(forecast: Forecast) -> str:
    estimate = forecast.estimate
    if not estimate.calls:
        return "calls: none"
    text = f"calls: about {estimate.calls:,}"
    if estimate.seconds:
        return text + f", at least {span(estimate.seconds)} at the configured rate limits"
    return text + ", none waiting for the configured rate limits"
