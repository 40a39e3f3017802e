"""A mover SIGKILLed at each step of a move, under a client writing and one reading: nothing
acknowledged is lost, no answer is a 500, none waits long, and the move run again finishes."""

import json
import subprocess
import sys
import threading
import time

import pytest
import webtest

STEPS = ["snapshot", "catch-up", "pause", "verify", "switch", "registry", "drop-source"]
SLOWEST = 4.0  # seconds: the request lock timeout (2 s) and a retry, with room for a slow CI

MOVER = """
import json, os, signal, sys
from tenantapp import tenancy_from
from tenantapp.lifecycle import moving

settings, slug, to_mode, at = json.loads(sys.argv[1])

def step(name):
    if name == at:
        os.kill(os.getpid(), signal.SIGKILL)  # as an operator's kill -9, or the OOM killer

tenancy_from(settings).move_tenant(slug, to_mode, step=step)
"""


@pytest.mark.parametrize("step", STEPS)
def test_a_mover_killed_at_any_step_loses_nothing_and_holds_no_request(
    app, settings, tenancy, make_tenant, step
):
    tenant = make_tenant("mvk", mode="schema")
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    stop = threading.Event()
    written, answers, slowest = [], [], [0.0]

    def write():
        for i in range(100_000):
            if stop.is_set():
                return
            started = time.monotonic()
            email = f"w{i}@k.example"
            answer = client.post_json(
                f"/{tenant.slug}/users",
                {"email": email, "name": "W"},
                headers=tenant.auth,
                expect_errors=True,
            )
            slowest[0] = max(slowest[0], time.monotonic() - started)
            answers.append(answer.status_int)
            if answer.status_int == 201:
                written.append(email)

    def read():
        while not stop.is_set():
            started = time.monotonic()
            answer = client.get(
                f"/{tenant.slug}/users?limit=5", headers=tenant.auth, expect_errors=True
            )
            slowest[0] = max(slowest[0], time.monotonic() - started)
            answers.append(answer.status_int)

    clients = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in clients:
        thread.start()
    try:
        args = json.dumps([settings, tenant.slug, "shared", step])
        mover = [sys.executable, "-c", MOVER, args]  # our own code, our own settings
        killed = subprocess.run(mover, timeout=120, check=False)  # noqa: S603
        assert killed.returncode == -9, f"the mover never reached {step!r}"
        tenancy.move_tenant(tenant.slug, "shared")  # run again: it finishes
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
    assert tenancy.get_tenant(tenant.slug).mode == "shared"
    assert set(answers) <= {200, 201, 503}, sorted(set(answers))
    assert slowest[0] < SLOWEST, f"an answer took {slowest[0]:.1f} s"
    listed, url = set(), f"/{tenant.slug}/users?limit=200"
    while url:
        page = client.get(url, headers=tenant.auth).json
        listed |= {user["email"] for user in page["items"]}
        url = page.get("next")
    assert set(written) <= listed  # every acknowledged write is at the new place
