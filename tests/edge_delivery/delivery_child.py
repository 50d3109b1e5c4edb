"""A stand-in edge process for the crash tests: it is killed with SIGKILL at random moments.

    python delivery_child.py append OUTBOX RUN            append samples forever
    python delivery_child.py edge OUTBOX RUN URL TOKEN    append and send, like the agent
    python delivery_child.py drain OUTBOX URL TOKEN       send until empty, print stats, exit
    python delivery_child.py die-before-ack OUTBOX URL TOKEN K
                                                          send; SIGKILL itself on the K-th
                                                          ack, after the API stored the
                                                          batch and before the outbox
                                                          deleted it

A sample's uid ("RUN-I") is printed only after ``append_samples`` returned, so every
printed uid is a committed record; a kill between commit and print leaves a committed
record that was never printed, which the tests allow for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import orjson

from edge.model import Event, Lane, Reading, Sample
from edge.outbox import Outbox
from edge.uplink import Uplink

SITE = os.environ.get("DELIVERY_CHILD_SITE", "crash-site")
BUILDING = "crash-building"
CYCLE = 10  # samples per poll cycle
POINTS = 20
CYCLE_INTERVAL = 0.05  # 10 samples x 20 points every 50 ms: 4000 points/s, the hot path
BASE_TS = 1_780_000_000.0


def cycle(run: int, first: int) -> list[Sample]:
    samples = []
    for i in range(first, first + CYCLE):
        # A unique timestamp per sample, so a store keyed on (series, ts) cannot hide a
        # duplicate by overwriting it.
        ts = BASE_TS + run * 10_000 + i * 0.001
        readings = [Reading(ts, "crash", "uid", run * 1_000_000 + i, "")]
        readings += [
            Reading(ts, "crash", f"p{j}", 230.0 + j + (i % 97) / 10, "V") for j in range(POINTS - 1)
        ]
        samples.append(Sample(ts, "crash-meter", readings, tags={"uid": f"{run}-{i}"}))
    return samples


async def append_forever(outbox: Outbox, run: int) -> None:
    i = 0
    while True:
        samples = cycle(run, i)
        outbox.append_samples(samples)
        # Committed: now say so. One write() per cycle, so a kill cannot tear a line.
        sys.stdout.write("".join(f"{s.tags['uid']}\n" for s in samples))
        sys.stdout.flush()
        if i % 100 == 0:
            outbox.append_event(
                Event(BASE_TS + run * 10_000 + i * 0.001, "crash", "tick", f"{run}-{i}")
            )
        i += CYCLE
        await asyncio.sleep(CYCLE_INTERVAL)


def make_uplink(outbox: Outbox, url: str, token: str) -> Uplink:
    return Uplink(
        outbox,
        url,
        token,
        SITE,
        BUILDING,
        max_records=200,
        max_age=0.2,
        backoff_initial=0.05,
        backoff_max=0.5,
        poll_interval=0.05,
        stats_interval=5.0,
    )


class AckKiller(Outbox):
    """An outbox that dies like kill -9 when asked to delete acknowledged records."""

    def __init__(self, *args, kill_on_ack: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.acks_left = kill_on_ack

    def ack(self, lane: Lane, seq: int) -> int:
        self.acks_left -= 1
        if self.acks_left == 0:
            sys.stdout.write(f"dying before ack of {lane} {seq}\n")
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().ack(lane, seq)


async def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "append":
        with Outbox(argv[1]) as outbox:
            await append_forever(outbox, int(argv[2]))
    elif mode == "edge":
        with Outbox(argv[1]) as outbox:
            async with make_uplink(outbox, argv[3], argv[4]):
                await append_forever(outbox, int(argv[2]))
    elif mode == "drain":
        with Outbox(argv[1]) as outbox:
            async with make_uplink(outbox, argv[2], argv[3]) as uplink:
                drained = await uplink.drain(60)
                stats = uplink.stats()
            print(orjson.dumps({"drained": drained, **stats}).decode())
    elif mode == "die-before-ack":
        with AckKiller(argv[1], kill_on_ack=int(argv[4])) as outbox:
            async with make_uplink(outbox, argv[2], argv[3]) as uplink:
                await uplink.drain(60)
        print("drained without dying", flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(main(sys.argv[1:]))
