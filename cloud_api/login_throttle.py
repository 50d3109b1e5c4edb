"""Failed logins per user name, in memory: after `limit` failures within `window`
seconds, further tries for that name are refused (429) until the oldest leaves the window.

An attempt counts as a failure from the moment it starts and is forgiven when it succeeds,
so that many attempts sent at once cannot all slip past the limit while their passwords
are being checked. In memory only: a restart forgets, and each replica counts its own
(an attacker spreading tries over replicas gets limit x replicas per window).
"""

from __future__ import annotations

import threading
from collections import deque

LIMIT = 5
WINDOW_SECONDS = 300.0
MAX_NAMES = 10_000  # names tracked at once; unknown names are the caller's choice


class LoginThrottle:
    def __init__(
        self, limit: int = LIMIT, window: float = WINDOW_SECONDS, max_names: int = MAX_NAMES
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_names = max_names
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, name: str, now: float) -> float | None:
        """Start a try for `name`: the seconds to wait when it is refused (nothing is
        counted then), else None, and the try counts as a failure until succeeded()."""
        with self._lock:
            recent = self._failures.get(name)
            if recent is not None:
                while recent and recent[0] <= now - self.window:
                    recent.popleft()
                if len(recent) >= self.limit:
                    return recent[0] + self.window - now
            else:
                self._make_room(now)
                recent = self._failures[name] = deque()
            recent.append(now)
            return None

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)

    def _make_room(self, now: float) -> None:
        if len(self._failures) < self.max_names:
            return
        stale = [
            n for n, times in self._failures.items() if not times or times[-1] <= now - self.window
        ]
        for n in stale:
            del self._failures[n]
        while len(self._failures) >= self.max_names:  # still full: forget the quietest
            quietest = min(self._failures, key=lambda n: self._failures[n][-1])
            del self._failures[quietest]
