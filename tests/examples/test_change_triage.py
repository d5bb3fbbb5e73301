"""examples/change_triage: IT change-request triage. On a ServiceNow simulator served over HTTP,
across processes: the agent checks the policy and the laptop, classifies the request and files a
change_request with the mapped fields; the change manager asks a question in a work note and the
agent's answer comes back as one (a connector process polling); the manager approves; in another
process the provisioning runs once, the outcome is a work note, the change closes, and the agent
summarises what was done. With the second config, the same on Jira."""

from __future__ import annotations

import re

from adapters.servicenow.simulator import seeded_demo
from connector.demo.examples import run_example
from tests.examples.conftest import config_for, example, jsonl, ok

SN_ENV = {"SN_USER": "svc_connector", "SN_PASSWORD": "svc-password"}


def test_on_servicenow_across_processes_with_a_question(world):
    sim = seeded_demo("http://127.0.0.1")
    with sim.serve() as url:
        config = config_for("change_triage", "servicenow.yaml", world, url)
        started = ok(example("change_triage", "start", "--config", str(config), cwd=world, env=SN_ENV))
        assert "calls lookup_policy(" in started and "calls lookup_device(" in started
        number = re.search(r"ticket (CHG\d+)", started).group(1)
        conversation = re.search(r"conversation (change-triage-\w+): waiting", started).group(1)
        record = sim.record(number)
        assert record["type"] == "normal" and record["risk"] == "3" and record["category"] == "Software"
        assert record["short_description"] == "[agent] Install Docker Desktop on LT-2291 for j.doe"
        assert "Intune" in record["implementation_plan"] and "Uninstall" in record["backout_plan"]
        assert "j.doe asked the IT service desk" in record["justification"]

        sim.update(number, "change.manager", work_notes="@agent is there a Docker Business seat for j.doe?")
        ok(example("change_triage", "poll", "--once", "--config", str(config), cwd=world, env=SN_ENV))
        notes = [n["value"] for n in sim.journal(number, "work_notes")]
        assert any(
            "Answer from the agent to Casey Manager's question" in n and "3 free seats" in n for n in notes
        )
        assert sim.record(number)["state"] == "-5" and jsonl(world / "provisioning.jsonl") == []

        sim.approve(number, "change.manager", "approved for Friday")
        ok(example("change_triage", "poll", "--once", "--config", str(config), cwd=world, env=SN_ENV))
        [job] = jsonl(world / "provisioning.jsonl")
        assert (job["software"], job["configuration_item"], job["change_type"]) == (
            "Docker Desktop",
            "LT-2291",
            "normal",
        )
        assert sim.record(number)["state"] == "3"  # Implement -> Review -> Closed
        notes = [n["value"] for n in sim.journal(number, "work_notes")]
        assert any("succeeded: Executed provision_software" in n and job["job"] in n for n in notes)
        shown = ok(
            example(
                "change_triage",
                "conversations",
                "show",
                conversation,
                "--config",
                str(config),
                cwd=world,
                env=SN_ENV,
            )
        )
        assert "[done]" in shown and "Done: Docker Desktop is installed on LT-2291 for j.doe" in shown
        assert "3 free seats" in shown  # the question and its answer are part of the conversation


def test_on_jira_with_the_second_config(world):
    run = run_example("change-triage", "jira", ("ask", "Is LT-2291 licensed?"), folder=world / "jira")
    assert run.status == "done" and run.tickets == ["OPS-1"]
    assert "3 free seats" in run.answer
    assert (
        run.effect[0].startswith("provisioning: PRV-")
        and "Docker Desktop on LT-2291 for j.doe" in run.effect[0]
    )
