"""The zero-downtime deploy and the rollback, as numbered steps over the supervisor's control API.

A deploy installs the release from its lock, runs the seed's pre-deployment checklist, migrates the schema from
the new release's own code (expand migrations only, so the serving release keeps running on it), starts the new
release beside the old one, gates on its readiness and on its process really being new, switches the proxy,
drains and retires the old instance, and runs the post-deployment checks through the proxy. A failure after the
switch rolls back by itself: the old release serves again before the command exits non-zero.

Every step is recorded (number, name, status, detail, duration, data) and reported as it finishes, so a person sees
progress and a script reads the same record as JSON.
"""

from __future__ import annotations

import json
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import psutil

from oppscope.access.scopes import Scope
from oppscope.config import Settings
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.ops import checks
from oppscope.releases.events import Event
from oppscope.releases.notify import notify_event, shown, webhook_url
from oppscope.releases.store import Release, Releases, Source, install
from oppscope.serving.control import Instance, Retired, SupervisorStatus
from oppscope.state.migrate import head_revision
from oppscope.wiring import open_services

StepStatus = Literal["ok", "failed", "skipped", "warn"]


class DeployError(OppscopeError):
    default_kind = ErrorKind.unavailable


class Control(Protocol):
    """What the pipeline needs of the supervisor (``oppscope.serving.control.SupervisorClient``)."""

    def status(self) -> SupervisorStatus: ...
    def start_instance(self, release_dir: Path | None = None) -> Instance: ...
    def switch(self, instance_id: str) -> None: ...
    def retire(self, instance_id: str, drain_seconds: float = 10.0) -> Retired: ...


@dataclass(frozen=True)
class Step:
    number: int
    name: str
    status: StepStatus
    detail: str
    duration_s: float
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "duration_s": self.duration_s,
            "data": self.data,
        }


@dataclass(frozen=True)
class Done:
    """What a step function returns: its one-line detail and data; ``status`` other than ok for skips and warnings."""

    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    status: StepStatus = "ok"
    value: Any = None  # what the next steps need (an instance, a release); not part of the record


class StepFailedError(DeployError):
    """A step's check did not pass (not a bug): the run stops there, or rolls back."""


Progress = Callable[[Step], None]


@dataclass
class Outcome:
    action: Literal["deploy", "rollback"]
    release: str | None = None  # what serves at the end (None: the installed oppscope)
    replaced: str | None = None  # what served before
    ok: bool = False
    rolled_back: bool = False
    steps: list[Step] = field(default_factory=list)
    duration_s: float = 0.0
    error: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "ok": self.ok,
            "release": self.release,
            "replaced": self.replaced,
            "rolled_back": self.rolled_back,
            "duration_s": self.duration_s,
            "steps": [s.as_dict() for s in self.steps],
            "error": self.error,
        }


class Run:
    """Runs steps in order, timing and recording each; the first failure raises after it is recorded."""

    def __init__(self, outcome: Outcome, progress: Progress) -> None:
        self.outcome, self.progress = outcome, progress

    def step(self, name: str, action: Callable[[], Done]) -> Done:
        started = time.perf_counter()
        try:
            done = action()
        except OppscopeError as exc:
            self._record(name, "failed", exc.message, started, {"error": exc.body()["error"]})
            raise
        except (OSError, httpx.HTTPError, subprocess.SubprocessError) as exc:
            self._record(name, "failed", str(exc), started, {})
            raise DeployError(f"{name}_failed", f"{name}: {exc}") from exc
        self._record(name, done.status, done.detail, started, done.data)
        return done

    def skip(self, name: str, why: str) -> None:
        self._record(name, "skipped", why, time.perf_counter(), {})

    def _record(self, name: str, status: StepStatus, detail: str, started: float, data: dict[str, Any]) -> None:
        step = Step(len(self.outcome.steps) + 1, name, status, detail, round(time.perf_counter() - started, 3), data)
        self.outcome.steps.append(step)
        self.progress(step)


@dataclass(frozen=True)
class Options:
    run_tests: bool = False
    token: str | None = None  # for the post-deployment checks; without one in production a temporary one is made
    check_seconds: float = 10.0
    check_concurrency: int = 2
    webhook_url: str | None = None


# --- helpers the steps share --------------------------------------------------------------------------------


def cli_args(settings: Settings) -> list[str]:
    """What a release's own ``oppscope`` needs to read the same installation."""
    return ["--profile", settings.profile.value, "--data-dir", str(settings.data_dir.absolute())]


def run_release_command(
    executable: Path, args: Sequence[str], settings: Settings, timeout_s: float = 600.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(executable), *args, *cli_args(settings)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
        cwd=settings.data_dir.absolute().parent,
    )


def has_command(executable: Path, *command: str) -> bool:
    """Whether this release ships ``oppscope <command>`` (``--help`` answers 0 only for a known command)."""
    done = subprocess.run(
        [str(executable), *command, "--help"], capture_output=True, text=True, check=False, timeout=120
    )
    return done.returncode == 0


def _command_step(executable: Path, command: Sequence[str], settings: Settings) -> Done:
    """A preflight command of the new release, run for real; its JSON answer is kept as the step's data."""
    name = " ".join(command)
    if not has_command(executable, *command):
        return Done(f"skipped: this release has no `oppscope {name}`", status="skipped")
    done = run_release_command(executable, [*command, "--json"], settings)
    data = _json_or_text(done.stdout)
    if done.returncode != 0:
        raise StepFailedError(
            "preflight_failed",
            f"`oppscope {name}` failed (exit {done.returncode})",
            {"output": data, "stderr": done.stderr[-2000:]},
        )
    return Done(f"`oppscope {name}` passed", {"output": data})


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text[-2000:]


def _suite_done(suite: checks.Suite) -> Done:
    if not suite.ok:
        failing = [c.name + ": " + c.detail for c in suite.checks if c.status == "fail"]
        raise StepFailedError(
            f"{suite.name}_failed", f"check {suite.name} failed: " + "; ".join(failing), suite.as_dict()
        )
    return Done(f"{len(suite.checks)} checks passed", suite.as_dict())


def proxy_url(status: SupervisorStatus) -> str:
    """Where the proxy answers, from this machine (a wildcard listen address is reached on loopback)."""
    host = "127.0.0.1" if status.proxy.host in ("", "0.0.0.0", "::", "localhost") else status.proxy.host
    return f"http://[{host}]:{status.proxy.port}" if ":" in host else f"http://{host}:{status.proxy.port}"


def _published_model(settings: Settings) -> str | None:
    from oppscope.engines.cache import open_model_cache

    published = open_model_cache(settings).published()
    return published.model_id if published else None


def gate(instance: Instance, before: SupervisorStatus, started_after: float, release: Release | None) -> Done:
    """Ready on its own port, and a new process: not one that served before, started by this deploy, running the
    release's own ``oppscope`` (a silently failed start that left the old process answering is the trap)."""
    old_pids = {i.pid for i in before.instances}
    if instance.pid in old_pids:
        raise StepFailedError(
            "gate_not_new", f"pid {instance.pid} already served before this deploy", {"pid": instance.pid}
        )
    try:
        process = psutil.Process(instance.pid)
        created, command = process.create_time(), " ".join(process.cmdline())
    except psutil.Error as exc:
        raise StepFailedError("gate_not_running", f"the new instance's process {instance.pid} is gone: {exc}") from exc
    if created < started_after - 1:
        raise StepFailedError("gate_not_new", f"pid {instance.pid} started before this deploy", {"pid": instance.pid})
    if release is not None and f"/{release.id}/venv/bin/" not in command:
        raise StepFailedError(
            "gate_wrong_release", f"pid {instance.pid} does not run release {release.id}", {"cmd": command}
        )
    answer = httpx.get(f"http://127.0.0.1:{instance.port}/health/ready", timeout=10)
    if answer.status_code != 200:
        raise StepFailedError("gate_not_ready", f"/health/ready on port {instance.port} answered {answer.status_code}")
    return Done(
        f"instance {instance.id} ready on port {instance.port}, new pid {instance.pid}",
        {"instance": instance.id, "pid": instance.pid, "port": instance.port},
    )


@contextmanager
def check_token(settings: Settings, given: str | None) -> Iterator[str | None]:
    """The post-deployment checks' bearer token: the one given, else (where tokens are required) a temporary
    read/write token revoked afterwards, so production is checked through its real access control."""
    if given is not None or not settings.require_auth:
        yield given
        return
    with open_services(settings) as services:
        secret, info = services.tokens.create(
            "deploy-check", {Scope.read, Scope.write}, datetime.now(UTC) + timedelta(minutes=30)
        )
        try:
            yield secret
        finally:
            services.tokens.revoke(info.id)


class _Pipeline(ABC):
    """What a deploy and a rollback share: one at a time, every step recorded, the instance moves, the notice."""

    def __init__(
        self,
        outcome: Outcome,
        settings: Settings,
        control: Control,
        releases: Releases,
        webhook_url: str | None,
        progress: Progress,
    ) -> None:
        self.settings, self.control, self.releases, self.webhook_url = settings, control, releases, webhook_url
        self.outcome = outcome
        self.run = Run(outcome, progress)

    def _execute(self, body: Callable[[], None]) -> Outcome:
        started = time.perf_counter()
        try:
            with self.releases.locked():
                body()
            self.outcome.ok = True
        except OppscopeError as exc:
            self.outcome.error = exc.body()["error"]
        finally:
            self.outcome.duration_s = round(time.perf_counter() - started, 3)
        if (event := self._event()) is not None:
            send_notice(self.run, self.settings, self.webhook_url, event, self.outcome)
        return self.outcome

    @abstractmethod
    def _event(self) -> Event | None:
        """The notice the outcome calls for, if any."""

    def _start(self, release_dir: Path | None) -> Done:
        instance = self.control.start_instance(release_dir)
        label = release_dir.name if release_dir else "the installed oppscope"
        return Done(
            f"instance {instance.id} of {label} on port {instance.port} (pid {instance.pid})",
            {"instance": instance.id, "port": instance.port, "pid": instance.pid},
            value=instance,
        )

    def _switch(self, instance: Instance) -> Done:
        self.control.switch(instance.id)
        return Done(f"proxy upstream is instance {instance.id} (nginx -t, reload, confirmed)")

    def _retire(self, instance_id: str) -> Done:
        retired = self.control.retire(instance_id, self.settings.drain_seconds)
        waited = f"{retired.proxy_drain_s:.1f} s for the proxy's old workers"
        detail = f"instance {instance_id} drained ({waited}) and stopped"
        if retired.old_workers:
            busy = f"; {len(retired.old_workers)} old proxy workers still busy"
            return Done(detail + busy, {"old_workers": retired.old_workers}, status="warn")
        return Done(detail, {"proxy_drain_s": retired.proxy_drain_s})

    def _discard(self, instance: Instance) -> None:
        """An instance that never served: stop it at once (the one before still serves)."""
        with suppress(OppscopeError):  # recorded; the failure that brought us here is the one to report
            self.run.step("discard", lambda: self._stop_now(instance.id))

    def _stop_now(self, instance_id: str) -> Done:
        self.control.retire(instance_id, 0)
        return Done(f"instance {instance_id} stopped")


# --- deploy -------------------------------------------------------------------------------------------------


class Deploy(_Pipeline):
    def __init__(
        self, settings: Settings, control: Control, releases: Releases, options: Options, progress: Progress
    ) -> None:
        super().__init__(Outcome("deploy"), settings, control, releases, options.webhook_url, progress)
        self.options = options

    def __call__(self, source: Source) -> Outcome:
        return self._execute(lambda: self._deploy(source))

    def _event(self) -> Event:
        return Event.deployed if self.outcome.ok else Event.rolled_back if self.outcome.rolled_back else Event.failed

    def _deploy(self, source: Source) -> None:
        run, settings = self.run, self.settings
        before = self.control.status()
        old = before.active
        self.outcome.replaced = before.release
        new: Release = run.step("install", lambda: self._install(source)).value
        executable = self.releases.oppscope(new.id)
        run.step("preflight.config", lambda: _command_step(executable, ("config", "validate"), settings))
        run.step("preflight.connectivity", lambda: self._connectivity(before))
        run.step(
            "preflight.infrastructure",
            lambda: _suite_done(checks.infrastructure(settings, lambda: _published_model(settings))),
        )
        run.step("preflight.backup", lambda: _command_step(executable, ("backup", "create"), settings))
        if self.options.run_tests:
            run.step("preflight.tests", lambda: self._tests(new))
        else:
            run.skip("preflight.tests", "not asked for (--run-tests)")
        run.step("migrate", lambda: self._migrate(new, before.release))
        deploy_started = time.time()
        instance: Instance = run.step("start", lambda: self._start(self.releases.path(new.id))).value
        try:
            run.step("gate", lambda: gate(instance, before, deploy_started, new))
            run.step("switch", lambda: self._switch(instance))
        except OppscopeError:
            self._discard(instance)
            raise
        try:
            if old is not None:
                run.step("retire", lambda: self._retire(old))
            else:
                run.skip("retire", "no instance served before")
            self._post_checks(before)
        except OppscopeError:
            self._roll_back(before, instance)
            raise
        self.outcome.release = new.id
        run.step("links", lambda: self._links(new.id))

    def _install(self, source: Source) -> Done:
        release = install(self.releases, source)
        return Done(
            f"release {release.id} ({release.version}, schema {release.schema_head}) installed from uv.lock",
            {"release": release.as_dict()},
            value=release,
        )

    def _connectivity(self, status: SupervisorStatus) -> Done:
        with open_services(self.settings) as services:
            probes = [p for p in services.checks if not p.slow]
            published = services.model_cache.published
            with checks.service_client(proxy_url(status), None) as client:
                suite = checks.connectivity(
                    self.settings, probes, lambda: m.model_id if (m := published()) else None, client
                )
        return _suite_done(suite)

    def _tests(self, release: Release) -> Done:
        source = self.releases.path(release.id) / "src"
        done = subprocess.run(["make", "test"], cwd=source, capture_output=True, text=True, check=False, timeout=3600)
        if done.returncode != 0:
            raise StepFailedError("tests_failed", "the release's test suite failed", {"tail": done.stdout[-3000:]})
        return Done("`make test` passed", {"tail": done.stdout[-500:]})

    def _migrate(self, release: Release, serving: str | None) -> Done:
        """From the new release's code, holding back what the serving release's code could not run on."""
        old_head = self.releases.get(serving).schema_head if serving else head_revision()
        executable = self.releases.oppscope(release.id)
        done = run_release_command(
            executable, ["db", "upgrade", "--compatible-with", old_head, "--json"], self.settings
        )
        data = _json_or_text(done.stdout)
        if done.returncode != 0:
            raise StepFailedError(
                "migration_failed", "`oppscope db upgrade` failed", {"output": data, "stderr": done.stderr[-2000:]}
            )
        applied = data.get("applied", []) if isinstance(data, dict) else []
        deferred = data.get("deferred", []) if isinstance(data, dict) else []
        detail = f"schema at {data.get('after')}" if isinstance(data, dict) else "migrated"
        detail += f", applied {', '.join(applied)}" if applied else ", nothing to apply"
        if deferred:
            detail += f"; held back (contract) {', '.join(deferred)}"
        return Done(detail, {"output": data, "compatible_with": old_head})

    def _post_checks(self, status: SupervisorStatus) -> None:
        url = proxy_url(status)
        with check_token(self.settings, self.options.token) as token:
            with checks.service_client(url, token) as client:
                self.run.step("check.e2e", lambda: _suite_done(checks.e2e(client)))
            self.run.step(
                "check.performance",
                lambda: _suite_done(
                    checks.performance(
                        self.settings,
                        lambda: checks.service_client(url, token),
                        self.options.check_seconds,
                        self.options.check_concurrency,
                        # within one token's burst: the check measures the service, not the rate limiter
                        max(self.settings.rate_limit_burst - 10, 10),
                    )
                ),
            )

    def _links(self, release_id: str) -> Done:
        self.releases.promote(release_id)
        pruned = self.releases.prune(self.settings.releases_keep)
        previous = self.releases.link("previous")
        detail = f"current -> {release_id}, previous -> {previous or 'the installed oppscope'}"
        return Done(detail + (f"; pruned {', '.join(pruned)}" if pruned else ""), {"pruned": pruned})

    def _roll_back(self, before: SupervisorStatus, new: Instance) -> None:
        """Put the release that served before back in front, then stop the new one."""
        try:
            restored: Instance = self.run.step("rollback.start", lambda: self._restart_old(before)).value
            self.run.step("rollback.switch", lambda: self._switch(restored))
            self.run.step("rollback.retire", lambda: self._retire(new.id))
        except OppscopeError:
            return
        self.outcome.rolled_back = True
        self.outcome.release = before.release

    def _restart_old(self, before: SupervisorStatus) -> Done:
        current = self.control.status()
        alive = [i for i in current.instances if i.id == before.active and i.state in ("ready", "active")]
        if alive:
            return Done(f"instance {alive[0].id} still running", {"instance": alive[0].id}, value=alive[0])
        return self._start(self.releases.path(before.release) if before.release else None)


def send_notice(run: Run, settings: Settings, url: str | None, event: Event, outcome: Outcome) -> None:
    target = webhook_url(settings, url)
    if target is None:
        return
    run.step("notify", lambda: _notify_done(target, event, outcome))


def _notify_done(url: str, event: Event, outcome: Outcome) -> Done:
    """A notice that cannot be delivered is a warning: it changes nothing about what serves."""
    try:
        delivery = notify_event(url, event, outcome.release, outcome.replaced, {"steps": len(outcome.steps)})
    except OppscopeError as exc:
        return Done(f"{event} notice not delivered: {exc.message}", exc.details, status="warn")
    return Done(f"{event} notice delivered to {shown(url)} in {delivery.attempts} attempt(s)")


# --- rollback -----------------------------------------------------------------------------------------------


class Rollback(_Pipeline):
    def __init__(
        self, settings: Settings, control: Control, releases: Releases, webhook_url: str | None, progress: Progress
    ) -> None:
        super().__init__(Outcome("rollback"), settings, control, releases, webhook_url, progress)

    def __call__(self) -> Outcome:
        return self._execute(self._rollback)

    def _event(self) -> Event | None:
        return Event.rolled_back if self.outcome.ok else None

    def _rollback(self) -> None:
        current, previous = self.releases.link("current"), self.releases.link("previous")
        if current is None and previous is None:
            raise DeployError(
                "nothing_to_roll_back",
                "no release was deployed here, so there is none to go back to",
                {"releases": str(self.releases.root)},
                kind=ErrorKind.conflict,
            )
        before = self.control.status()
        self.outcome.replaced = before.release
        target = self.releases.get(previous) if previous else None
        started = time.time()
        release_dir = self.releases.path(target.id) if target else None
        instance: Instance = self.run.step("start", lambda: self._start(release_dir)).value
        try:
            self.run.step("gate", lambda: gate(instance, before, started, target))
            self.run.step("switch", lambda: self._switch(instance))
        except OppscopeError:
            self._discard(instance)
            raise
        if (old := before.active) is not None:
            self.run.step("retire", lambda: self._retire(old))
        self.outcome.release = target.id if target else None
        self.run.step("links", lambda: self._links(current, previous))

    def _links(self, current: str | None, previous: str | None) -> Done:
        self.releases.set_link("current", previous)
        self.releases.set_link("previous", current)
        return Done(f"current -> {previous or 'the installed oppscope'}, previous -> {current}")
