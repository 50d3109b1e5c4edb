"""When the outbox cannot take a poll (disk full, I/O error), the agent keeps polling,
counts what it loses and says so in the log, instead of dying."""

from __future__ import annotations

import asyncio
import logging

from acq_helpers import mixed_fleet
from sim_thread import SimulatorThread

from edge.agent import Agent
from edge.config import load_site


def test_failing_outbox_is_counted_and_logged_while_polling_goes_on(tmp_path, caplog):
    fleet = mixed_fleet(frozen=True)
    with SimulatorThread(fleet) as sim:
        site_file = tmp_path / "site.yaml"
        site_file.write_text(
            "site: s1\nbuilding: b1\n"
            f"buses: [{{id: gw, tcp: {{host: 127.0.0.1, port: {sim.port}}}}}]\n"
            "devices: [{id: 'm{unit}', bus: gw, profile: chint/dtsu666, units: 1-4,"
            " interval: 200ms}]\n"
            "outbox: {path: outbox.sqlite}\n"
        )
        agent = Agent.from_site(load_site(site_file))

        async def scenario():
            task = asyncio.create_task(agent.run())
            await asyncio.sleep(1.0)
            stored = agent.outbox.backlog()["readings"].records
            agent.outbox.close()  # from now on every append fails
            polls_before = agent.stats()["polls"]
            await asyncio.sleep(1.0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return stored, polls_before

        with caplog.at_level(logging.ERROR, logger="steward.edge"):
            stored, polls_before = asyncio.run(scenario())
    stats = agent.stats()
    assert stored >= 4 * 4
    assert stats["polls"] >= polls_before + 4 * 4  # still polling every 200 ms
    assert stats["lost_points"] >= 4 * 4 * 24
    errors = [r.message for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # rate-limited, not one line per poll
    assert errors[0].startswith("cannot store 24 points of m")
