"""The API's clock: app.state.clock() (time.time unless a test sets another), so that what
depends on the time of a request (a hazard turning red past its deadline, which visitor
passes have expired) can be tested without sleeping."""

from __future__ import annotations

import time

from fastapi import Request


def request_now(request: Request) -> float:
    clock = getattr(request.app.state, "clock", time.time)
    return float(clock())
