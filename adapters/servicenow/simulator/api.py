"""``ServiceNowSimulator``: the state (``state``) served through the route table (``routes``) on
the ``SimulatedAPI`` base, so it runs in-process on ``responses`` and as a real HTTP server, with
fault injection, lost answers, call counting and signed notifications."""

from __future__ import annotations

import re
from typing import Any

from connector.testing.simulator import SimRequest, SimResponse

from . import batch, change_api, routes
from .state import ServiceNowState


class ServiceNowSimulator(ServiceNowState):
    """Tables, users, OAuth, encoded queries, paging, business rules and signed notifications."""

    def __init__(self, base_url: str = "https://sim.service-now.test") -> None:
        super().__init__(base_url)
        self._lost: list[list[Any]] = []
        self.batch_items: list[tuple[str, str, int]] = []  # (method, path, status) run inside batches
        for method, pattern, route in [*batch.ROUTES, *change_api.ROUTES, *routes.ROUTES]:
            self.add_route(method, pattern, lambda request, match, route=route: route(self, request, match))

    def add_standard_template(self, name: str, template_value: str) -> str:
        """A standard change template (``template_value``: an encoded query of field=value pairs
        the change starts with, e.g. 'short_description=Restart pods^category=Software')."""
        with self.lock:
            return self.insert_raw(
                "std_change_record_producer", {"name": name, "template_value": template_value}
            )["sys_id"]

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        return routes.authenticate(self, request)

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return {
                "error": {
                    "message": "Rate limit exceeded",
                    "detail": "Rate limit of 100 requests per hour for Table API exceeded",
                },
                "status": "failure",
            }
        return {"error": {"message": f"Injected fault {status}", "detail": ""}, "status": "failure"}

    def lose_answer(self, method: str, path: str, times: int = 1, status: int = 504) -> None:
        """Process the next matching request, then answer ``status`` instead (a lost answer)."""
        self._lost.append([method.upper(), path, times, status])

    def handle_item(self, request: SimRequest) -> SimResponse:
        """One item of a Batch API call (under the lock, as the batch's caller): injected faults
        that match it answer for it, like they would for the same call sent on its own."""
        response = self._take_fault(request) or self._dispatch(request)
        self.batch_items.append((request.method, request.path, response.status))
        return response

    def handle(self, request: SimRequest) -> SimResponse:
        response = super().handle(request)
        with self.lock:
            for lost in self._lost:
                if lost[0] == request.method and re.search(lost[1], request.path) and lost[2] > 0:
                    lost[2] -= 1
                    response = routes.error(lost[3], "Gateway Timeout", "the answer was lost on the way back")
                    break
            self._lost = [x for x in self._lost if x[2] > 0]
        self.flush_notifications(background=True)
        return response
