"""Inside a forked execution environment: apply the spec, import the handler, serve invocations.

The channel to the host carries protocol frames. The environment sends one frame when its init is
done (`{"ready": 1, "init_ms": ..}`), then answers each invocation frame with one reply frame:
`{"ok": 1}` + the JSON result, or `{"error": "Unhandled", "dead": 0|1}` + Lambda's error JSON;
both carry `"ms"` (handler duration) and `"rss"` (ru_maxrss in KiB).
"""

from __future__ import annotations

import ctypes
import decimal
import importlib
import importlib.util
import json
import logging
import os
import resource
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bayou.functions.protocol import encode_frame, read_frame_blocking
from bayou.functions.runtime.context import LambdaContext

_PR_SET_PDEATHSIG = 1
Handler = Callable[[Any, Any], Any]

try:  # loaded once in the zygote, so that an environment does not pay for dlopen (~0.4 ms)
    LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # pragma: no cover - not glibc
    LIBC = None
_CGROUP_ROOT = "/sys/fs/cgroup"


class InitFault(Exception):
    """Why the handler could not be loaded; reported on every invocation of the environment."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.trace = trace or []


def _decimal_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def load_handler(handler: str) -> Handler:
    """Import `module.function` as awslambdaric does, raising InitFault with Lambda's error types."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise InitFault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from None
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        raise InitFault("Runtime.ImportModuleError", f"Unable to import module '{modname}': {exc}") from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise InitFault(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {exc}", trace
        ) from None
    except Exception as exc:  # noqa: BLE001 - any exception at import is the function's init error
        raise InitFault(type(exc).__name__, str(exc), _user_trace(exc)) from None
    try:
        return getattr(module, fname)  # type: ignore[no-any-return]
    except AttributeError:
        raise InitFault(
            "Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'"
        ) from None


def _user_trace(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)
    here = __file__
    return traceback.format_list([f for f in frames if f.filename != here])


def error_json(error_type: str, message: str, request_id: str, trace: list[str]) -> bytes:
    doc = {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}
    return json.dumps(doc).encode()


class _RequestIdFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def setup_logging() -> _RequestIdFilter:
    """The root logger writes to stderr in Lambda's format; a later basicConfig() is a no-op, as on Lambda."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    stream = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    stream.setFormatter(formatter)
    request_filter = _RequestIdFilter()
    stream.addFilter(request_filter)
    root.addHandler(stream)
    return request_filter


def _vm_size_bytes() -> int:
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _limit_memory(memory_mb: int, cgroups: bool) -> None:
    """cgroup v2 memory.max when we may create a child cgroup, else RLIMIT_AS = size now + MemorySize."""
    if cgroups and _cgroup_limit(memory_mb):
        return
    limit = _vm_size_bytes() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _cgroup_limit(memory_mb: int) -> bool:
    try:
        with open("/proc/self/cgroup") as own:
            rel = own.read().strip().split("::", 1)[1]
        group = os.path.join(_CGROUP_ROOT + rel, f"bayou-env-{os.getpid()}")
        os.mkdir(group)
        with open(os.path.join(group, "memory.max"), "w") as limit:
            limit.write(str(memory_mb * 1024 * 1024))
        with open(os.path.join(group, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
        return True
    except (OSError, IndexError):
        return False


class Prepared:
    """What a freshly forked process sets up before it knows which function it will run.

    A spare child of the zygote does this while it waits for a spec, so that a cold start is
    left with the function's own part (`apply_spec`) and the handler's import.
    """

    def __init__(self) -> None:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        if LIBC is not None:
            LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        _clear_environ()
        self.cgroups = os.access(os.path.join(_CGROUP_ROOT, "cgroup.controllers"), os.W_OK)
        self.request_filter = setup_logging()
        _warm_up()


def _clear_environ() -> None:
    """os.environ.clear() pops one item at a time through MutableMapping (~0.75 ms for 30 names)."""
    data = os.environ._data  # type: ignore[attr-defined]
    for name in data:
        os.unsetenv(name)
    data.clear()


def _warm_up() -> None:
    """Run once the code every invocation runs, so that its first-touch (copy-on-write) page
    faults happen here rather than in the first request."""
    request = {"request_id": "warm-up", "invoked_arn": "", "deadline_ms": 0, "client_context": None}
    LambdaContext(request, {}).get_remaining_time_in_millis()
    json.loads(json.dumps({"a": [1, 2.5, "x", None, True]}))
    error_json("E", "m", "r", [])
    encode_frame({"ok": 1, "ms": 0.1, "dead": 0, "rss": 1}, b"{}")
    resource.getrusage(resource.RUSAGE_SELF)
    time.perf_counter()
    # A spec's worth of JSON and variables, and a module search: the allocations of a cold start
    # then land on pages this process already owns.
    names = [f"_BAYOU_WARM_UP_{i:02d}" for i in range(40)]
    json.loads(json.dumps({"spec": {"env": {name: "x" * 64 for name in names}}}))
    os.environ.update({name: "x" * 64 for name in names})
    _clear_environ()
    importlib.util.find_spec("_bayou_warm_up_no_such_module")
    exec(compile("import json\n\ndef handler(event, context):\n    return {'ok': True}\n", "<warm-up>", "exec"), {})
    _vm_size_bytes()


def apply_spec(spec: dict[str, Any], log_fd: int, prepared: Prepared) -> None:
    """The function's part of an environment: output to its log, its variables, code and memory limit."""
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    os.environ.update(spec.get("env") or {})
    code_dir = spec["code_dir"]
    os.chdir(code_dir)
    sys.path.insert(0, code_dir)
    if os.path.isdir(os.path.join(code_dir, "boto3")) or os.path.isdir(os.path.join(code_dir, "botocore")):
        for name in [n for n in sys.modules if n.split(".")[0] in ("boto3", "botocore", "s3transfer")]:
            del sys.modules[name]
    _limit_memory(int(spec.get("memory_mb") or 128), prepared.cgroups)


class Runtime:
    """One environment's loop: one invocation at a time over the channel."""

    def __init__(self, channel: socket.socket, spec: dict[str, Any], request_filter: _RequestIdFilter) -> None:
        self.channel = channel
        self.stream = channel.makefile("rb")
        self.spec = spec
        self.handler: Handler | None = None
        self.fault: InitFault | None = None
        self.request_filter = request_filter

    def init(self) -> float:
        started = time.perf_counter()
        try:
            self.handler = load_handler(self.spec["handler"])
        except InitFault as fault:
            self.fault = fault
            _log_error(fault.error_type, str(fault), fault.trace)
        except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt at import
            self.fault = InitFault(type(exc).__name__, str(exc), _user_trace(exc))
            _log_error(self.fault.error_type, str(self.fault), self.fault.trace)
        return (time.perf_counter() - started) * 1000

    def serve(self) -> None:
        while True:
            frame = read_frame_blocking(self.stream)
            if frame is None or frame[0].get("op") == "stop":
                return
            header, body, dead = self.invoke(*frame)
            self.channel.sendall(encode_frame(header, body))
            if dead:
                return

    def invoke(self, request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes, bool]:
        request_id = request.get("request_id", "")
        self.request_filter.request_id = request_id
        started = time.perf_counter()
        dead = False
        try:
            body = self._run(request, payload)
            header: dict[str, Any] = {"ok": 1}
        except _Failure as failure:
            body = error_json(failure.error_type, failure.message, request_id, failure.trace)
            header = {"error": "Unhandled"}
            dead = failure.fatal
        header["ms"] = (time.perf_counter() - started) * 1000
        header["dead"] = int(dead)
        sys.stdout.flush()
        sys.stderr.flush()
        header["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return header, body, dead

    def _run(self, request: dict[str, Any], payload: bytes) -> bytes:
        if self.fault is not None:
            _log_error(self.fault.error_type, str(self.fault), self.fault.trace)
            raise _Failure(self.fault.error_type, str(self.fault), self.fault.trace)
        assert self.handler is not None
        try:
            event = json.loads(payload) if payload else {}
        except ValueError as exc:
            raise _Failure("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}", []) from None
        try:
            result = self.handler(event, LambdaContext(request, os.environ.copy()))
        except SystemExit as exc:
            _exit_now(exc.code)
        except MemoryError:
            raise _Failure(
                "Runtime.OutOfMemory",
                f"RequestId: {request.get('request_id', '')} Error: Runtime exited with error: MemoryError",
                [],
                fatal=True,
            ) from None
        except BaseException as exc:  # noqa: BLE001 - the handler's failure is the invocation's result
            trace = _user_trace(exc)
            _log_error(type(exc).__name__, str(exc), trace)
            raise _Failure(type(exc).__name__, str(exc), trace) from None
        try:
            return json.dumps(result, default=_decimal_default).encode()
        except (TypeError, ValueError, OverflowError) as exc:
            raise _Failure("Runtime.MarshalError", f"Unable to marshal response: {exc}", []) from None


class _Failure(Exception):
    def __init__(self, error_type: str, message: str, trace: list[str], fatal: bool = False) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace
        self.fatal = fatal


def _exit_now(code: object) -> None:
    """sys.exit() in a handler ends the environment, as on Lambda (Runtime.ExitError with its status)."""
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def _log_error(error_type: str, message: str, trace: list[str]) -> None:
    lines = "".join(trace)
    sys.stderr.write(f"[ERROR] {error_type}: {message}\nTraceback (most recent call last):\n{lines}")
    sys.stderr.flush()


def run(spec: dict[str, Any], channel_fd: int, log_fd: int, prepared: Prepared | None = None) -> None:
    """The forked child's whole life (`prepared` if a spare did that part already); never returns."""
    code = 0
    try:
        if prepared is None:
            prepared = Prepared()
        apply_spec(spec, log_fd, prepared)
        channel = socket.socket(fileno=channel_fd)
        runtime = Runtime(channel, spec, prepared.request_filter)
        init_ms = runtime.init()
        channel.sendall(encode_frame({"ready": 1, "init_ms": init_ms, "pid": os.getpid()}))
        runtime.serve()
    except BaseException:  # noqa: BLE001 - report and leave; the host sees the exit status
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        code = 1
    os._exit(code)
