"""Function limits through a real `bayou server` and boto3's `lambda` client.

Timeouts kill the environment, the memory limit is enforced, reserved concurrency throttles with
Lambda's 429, one crashing environment does not take others down, import errors come back as
Lambda's error types, provisioned environments are pre-warmed, and idle environments are reaped.
Every limit test ends by invoking again: the function must still work after the limit hit.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .fnutil import create_function, invoke_json, lambda_client, unique_name, wait_for
from .helpers import BayouServer

# boto3 retries 429s by default; the throttling tests must see the first answer.
NO_RETRY = Config(retries={"max_attempts": 0, "mode": "standard"}, read_timeout=60)

# One handler for most tests: the event says what to do.
HANDLER = """
import os, signal, time

def handler(event, context):
    mode = event.get("mode")
    if mode == "sleep":
        time.sleep(event["seconds"])
    elif mode == "alloc":
        data = b"\\x01" * (1 << 30)  # written, so it is resident, not just reserved
        return len(data)
    elif mode == "exit":
        os._exit(3)
    elif mode == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    return {"pid": os.getpid(), "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
"""


@pytest.fixture(scope="module")
def lam(server):
    client = lambda_client(server, NO_RETRY)
    # Start the host's zygote with a generous timeout, so that the 1 s timeouts below measure the
    # handler; the start-up cost itself is test_init_time_does_not_count_against_the_timeout's subject.
    warm = unique_name("warm")
    create_function(client, warm, HANDLER, Timeout=30)
    invoke_json(client, warm, {})
    return client


@pytest.fixture
def fn(lam) -> str:
    name = unique_name("lim")
    create_function(lam, name, HANDLER, Timeout=10, MemorySize=128)
    return name


def log_tail(resp: dict) -> str:
    return base64.b64decode(resp.get("LogResult", "")).decode("utf-8", "replace")


def report_line(resp: dict) -> str:
    lines = [line for line in log_tail(resp).splitlines() if line.startswith("REPORT RequestId:")]
    assert len(lines) == 1, log_tail(resp)
    return lines[0]


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def assert_works(lam, name: str, **kw) -> int:
    result, resp = invoke_json(lam, name, {}, **kw)
    assert resp["StatusCode"] == 200, resp
    assert "FunctionError" not in resp, (resp, result)
    assert isinstance(result, dict) and result["pid"] > 0, result
    return result["pid"]


def throttle_info(exc: ClientError) -> tuple[str, int, str | None, str | None]:
    r = exc.response
    return (
        r["Error"]["Code"],
        r["ResponseMetadata"]["HTTPStatusCode"],
        r["ResponseMetadata"]["HTTPHeaders"].get("retry-after"),
        r.get("Reason"),
    )


# ---------------------------------------------------------------- timeout


def test_timeout_kills_the_environment_and_the_next_invocation_works(lam):
    name = unique_name("tmo")
    create_function(lam, name, HANDLER, Timeout=1, MemorySize=128)
    warm_pid = assert_works(lam, name)

    started = time.monotonic()
    result, resp = invoke_json(lam, name, {"mode": "sleep", "seconds": 30})
    elapsed = time.monotonic() - started

    assert elapsed < 3.5, f"a 1 s timeout answered after {elapsed:.1f} s"
    assert resp["StatusCode"] == 200
    assert resp.get("FunctionError") == "Unhandled", resp
    assert "Task timed out after 1.00 seconds" in result["errorMessage"], result
    assert result["errorType"] == "Sandbox.Timedout", result
    assert result["errorMessage"].startswith(f"RequestId: {resp['ResponseMetadata']['RequestId']}"), result
    # the sleeping environment was the warm one, and it is gone (killed, not left sleeping)
    assert wait_for(lambda: not pid_alive(warm_pid), timeout=3), f"environment {warm_pid} still alive"

    new_pid = assert_works(lam, name)
    assert new_pid != warm_pid


def test_init_time_does_not_count_against_the_timeout(lam):
    """Lambda bounds the init phase (module import) separately (10 s); Timeout covers the handler only."""
    name = unique_name("init")
    slow_import = "import time\ntime.sleep(1.5)\n" + HANDLER
    create_function(lam, name, slow_import, Timeout=1)
    result, resp = invoke_json(lam, name, {}, LogType="Tail")
    assert "FunctionError" not in resp, result
    assert result["pid"] > 0
    init = re.search(r"Init Duration: ([0-9.]+) ms", report_line(resp))
    assert init and float(init.group(1)) >= 1400, report_line(resp)


# ---------------------------------------------------------------- memory


def test_memory_limit_fails_the_invocation_and_the_next_one_works(lam, fn):
    assert_works(lam, fn)
    started = time.monotonic()
    result, resp = invoke_json(lam, fn, {"mode": "alloc"})
    assert time.monotonic() - started < 9, "the allocation ran into the timeout instead of the memory limit"
    assert resp.get("FunctionError") == "Unhandled", (resp, result)
    assert isinstance(result, dict), result
    assert result.get("errorType") == "Runtime.OutOfMemory" or "out of memory" in json.dumps(result).lower(), result
    assert_works(lam, fn)


# ---------------------------------------------------------------- reserved concurrency


def test_reserved_concurrency_throttles_exactly_the_excess(lam, fn):
    lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=2)
    assert lam.get_function_concurrency(FunctionName=fn)["ReservedConcurrentExecutions"] == 2
    barrier = threading.Barrier(4)

    def call(_: int):
        client = lambda_client_like(lam)
        barrier.wait()
        try:
            result, resp = invoke_json(client, fn, {"mode": "sleep", "seconds": 2})
            return ("ok", resp.get("FunctionError"), result)
        except ClientError as exc:
            return ("throttled", *throttle_info(exc))

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(call, range(4)))

    ok = [o for o in outcomes if o[0] == "ok"]
    throttled = [o for o in outcomes if o[0] == "throttled"]
    assert len(ok) == 2 and len(throttled) == 2, outcomes
    assert all(o[1] is None for o in ok), ok
    for _, code, status, retry_after, reason in throttled:
        assert (code, status) == ("TooManyRequestsException", 429)
        assert retry_after is not None and retry_after.strip().isdigit(), retry_after
        assert reason == "ReservedFunctionConcurrentInvocationLimitExceeded", reason

    # the throttled ones left no busy slot behind: two at once still fit
    with ThreadPoolExecutor(2) as pool:
        again = list(pool.map(lambda _: assert_works(lambda_client_like(lam), fn), range(2)))
    assert len(again) == 2


def test_reserved_concurrency_zero_throttles_everything(lam, fn):
    lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)
    for _ in range(3):
        with pytest.raises(ClientError) as info:
            invoke_json(lam, fn, {})
        code, status, retry_after, reason = throttle_info(info.value)
        assert (code, status) == ("TooManyRequestsException", 429)
        assert retry_after is not None
        assert reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=fn)
    assert_works(lam, fn)


def lambda_client_like(lam):
    """A separate client per thread (boto3 clients are thread-safe, but one per thread is what users do)."""
    import boto3

    creds = lam._request_signer._credentials
    return boto3.session.Session().client(
        "lambda", endpoint_url=lam.meta.endpoint_url, region_name=lam.meta.region_name,
        aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key, config=NO_RETRY,
    )


# ---------------------------------------------------------------- crashes


@pytest.mark.parametrize(
    ("mode", "message"),
    [("exit", "Runtime exited with error: exit status 3"), ("segv", "Runtime exited with error: signal: segmentation fault")],
)
def test_crashing_environment_fails_only_its_own_invocation(lam, fn, mode, message):
    assert_works(lam, fn)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(invoke_json, lambda_client_like(lam), fn, {"mode": "sleep", "seconds": 2})
        time.sleep(0.7)  # the slow one holds the warm environment; the crash gets another one
        assert not slow.done()
        result, resp = invoke_json(lam, fn, {"mode": mode})
        slow_result, slow_resp = slow.result(timeout=30)

    assert resp.get("FunctionError") == "Unhandled", (resp, result)
    assert result["errorType"] == "Runtime.ExitError", result
    assert message in result["errorMessage"], result
    assert "FunctionError" not in slow_resp, (slow_resp, slow_result)
    assert slow_result["pid"] > 0
    assert_works(lam, fn)


# ---------------------------------------------------------------- import errors


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("missing.handler", "Runtime.ImportModuleError", "Unable to import module 'missing'"),
        ("app.nope", "Runtime.HandlerNotFound", "nope"),
    ],
)
def test_import_errors_are_unhandled_function_errors(lam, handler, error_type, message):
    name = unique_name("imp")
    create_function(lam, name, HANDLER, handler=handler)
    for _ in range(2):  # a failed init is not cached as a working environment
        result, resp = invoke_json(lam, name, {})
        assert resp["StatusCode"] == 200
        assert resp.get("FunctionError") == "Unhandled", (resp, result)
        assert result["errorType"] == error_type, result
        assert message in result["errorMessage"], result
    lam.update_function_configuration(FunctionName=name, Handler="app.handler")
    wait_for(lambda: lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful")
    assert_works(lam, name)


# ---------------------------------------------------------------- provisioned concurrency


def test_provisioned_concurrency_prewarms_environments(lam, server):
    name = unique_name("prov")
    create_function(lam, name, HANDLER)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    before = set(server.pids())

    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2)
    wait_for(
        lambda: lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")["Status"] == "READY",
        timeout=10,
    )
    # the environments exist before anyone invokes: two new processes in the server's tree
    wait_for(lambda: len(set(server.pids()) - before) >= 2, timeout=8)
    time.sleep(0.5)  # let their init finish

    client = lambda_client_like(lam)

    def call(_: int):
        result, resp = invoke_json(lambda_client_like(lam), name, {"mode": "sleep", "seconds": 1},
                                   Qualifier="live", LogType="Tail")
        return result, resp

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(call, range(2)))
    for result, resp in outcomes:
        assert "FunctionError" not in resp, result
        assert "Init Duration" not in report_line(resp), log_tail(resp)
    _, resp = invoke_json(client, name, {}, Qualifier="live", LogType="Tail")
    assert "Init Duration" not in report_line(resp)


def test_provisioned_environments_report_their_initialization_type(lam, server):
    """Lambda sets AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency in provisioned environments."""
    name = unique_name("ptype")
    create_function(lam, name, HANDLER)
    assert invoke_json(lam, name, {})[0]["init_type"] == "on-demand"
    version = lam.publish_version(FunctionName=name)["Version"]
    before = set(server.pids())
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    wait_for(lambda: len(set(server.pids()) - before) >= 1, timeout=8)
    time.sleep(0.5)
    result, resp = invoke_json(lam, name, {}, Qualifier=version, LogType="Tail")
    assert "Init Duration" not in report_line(resp), log_tail(resp)
    assert result["init_type"] == "provisioned-concurrency", result


# ---------------------------------------------------------------- idle reaping


@pytest.fixture(scope="module")
def short_ttl_server(tmp_path_factory):
    srv = BayouServer(tmp_path_factory.mktemp("bayou-ttl") / "data", extra_args=("--fn-idle-ttl", "1"))
    srv.start()
    yield srv
    srv.stop()


def test_idle_environments_are_reaped_after_the_ttl(short_ttl_server):
    lam = lambda_client(short_ttl_server, NO_RETRY)
    name = unique_name("ttl")
    create_function(lam, name, HANDLER)

    first, resp = invoke_json(lam, name, {}, LogType="Tail")
    assert "Init Duration" in report_line(resp), log_tail(resp)
    second, resp = invoke_json(lam, name, {}, LogType="Tail")
    assert "Init Duration" not in report_line(resp), log_tail(resp)
    assert second["pid"] == first["pid"]

    time.sleep(3)
    assert not pid_alive(first["pid"]), "idle environment not reaped after 3 s with --fn-idle-ttl 1"
    third, resp = invoke_json(lam, name, {}, LogType="Tail")
    assert "Init Duration" in report_line(resp), log_tail(resp)
    assert third["pid"] != first["pid"]

