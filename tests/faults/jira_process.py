"""The Jira simulator in a process of its own, for the multi-process fault suite: the seeded demo
instance over HTTP, a share of the connector account's requests answered with 429/5xx, lost or
slow answers, and its signed webhooks sent to random replicas — batched, shuffled, some twice.

    python -m tests.faults.jira_process --replicas 8101,8102,8103 [--rate 0.2] [--seed 1]

prints ``READY <port>`` once it listens; ``GET /_test/state`` (any user's credentials) answers
every issue with its comments, and what was injected. Stopped by SIGTERM."""

from __future__ import annotations

import argparse
import base64
import queue
import random
import signal
import sys
import threading
import time
from typing import Any

import requests

from adapters.jira.simulator import JiraSimulator
from connector.testing.simulator import SimRequest, SimResponse

SECRET = "demo-webhook-secret"
BOT = "Basic " + base64.b64encode(b"jira-bot@example.com:bot-token").decode()


class WebhookScatter:
    """Sends each delivery to a random replica, in shuffled batches, a share of them twice (to
    another random replica): the duplicates and reordering a real webhook sender produces."""

    def __init__(self, ports: list[int], rng: random.Random, duplicate: float = 0.3) -> None:
        self.ports = ports
        self.rng = rng
        self.duplicate = duplicate
        self.queue: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()
        self.sent = 0
        self.duplicated = 0
        self.unreachable = 0
        threading.Thread(target=self._run, name="webhook-scatter", daemon=True).start()

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float = 5.0) -> int:
        self.queue.put((body, headers))
        return 202

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            time.sleep(self.rng.uniform(0.05, 0.4))  # deliveries pile up, then go out of order
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self.rng.shuffle(batch)
            for body, headers in batch:
                targets = [self.rng.choice(self.ports)]
                if self.rng.random() < self.duplicate:
                    targets.append(self.rng.choice(self.ports))
                    self.duplicated += 1
                for port in targets:
                    self._post(port, body, headers)

    def _post(self, port: int, body: bytes, headers: dict[str, str]) -> None:
        self.sent += 1
        try:
            requests.post(f"http://127.0.0.1:{port}/webhooks/jira", data=body, headers=headers, timeout=3)
        except requests.RequestException:
            self.unreachable += 1  # that replica is down (killed): the poll finds the decision


def state_route(sim: JiraSimulator, scatter: WebhookScatter) -> Any:
    def answer(request: SimRequest, match: Any) -> SimResponse:
        issues = [
            {
                "key": issue.key,
                "status": sim.statuses[issue.status].name,
                "labels": list(issue.fields.get("labels") or []),
                "comments": [
                    {"body": c["body"], "properties": c.get("properties") or {}} for c in issue.comments
                ],
            }
            for issue in sim.issues.values()
        ]
        injected = dict(sim.chaos.counts) if sim.chaos is not None else {}
        hooks = {"sent": scatter.sent, "duplicated": scatter.duplicated, "unreachable": scatter.unreachable}
        return SimResponse(200, {"issues": issues, "injected": injected, "webhooks": hooks})

    return answer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", required=True, help="comma-separated ports of the replicas")
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--slow", type=float, default=1.2, help="seconds a slow answer is held")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sim = JiraSimulator.seeded_demo("http://127.0.0.1")
    scatter = WebhookScatter([int(p) for p in args.replicas.split(",")], rng)
    sim.deliver_webhook = scatter  # type: ignore[method-assign]
    sim.add_webhook("http://replicas/webhooks/jira", ["jira:issue_updated"], secret=SECRET)
    sim.add_route("GET", "/_test/state", state_route(sim, scatter))
    sim.inject_chaos(
        args.rate, seed=args.seed, slow=args.slow, applies=lambda r: r.header("Authorization") == BOT
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with sim.serve() as url:
        print(f"READY {url.rsplit(':', 1)[1]}", flush=True)
        stop.wait()
    sys.exit(0)


if __name__ == "__main__":
    main()
