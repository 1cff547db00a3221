"""The proxy alone, with real nginx in front of two tiny HTTP servers on loopback (no oppscope instance, so each
test takes seconds): the switch is confirmed through the proxy, and a reload that did not take effect, an upstream
that does not answer and a configuration nginx refuses are errors that leave the previous upstream in force."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from oppscope.config import Settings, load_settings
from oppscope.serving import proxy as proxy_module
from oppscope.serving.control import NGINX_MISSING, PROXY_INVALID, RELOAD_UNCONFIRMED, ServingError
from oppscope.serving.paths import RunPaths
from oppscope.serving.proxy import Proxy
from tests.web.conftest import free_port


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status":"ready"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def upstreams() -> Iterator[list[int]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Ready) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [server.server_address[1] for server in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def proxy(settings: Settings) -> Iterator[Proxy]:
    paths = RunPaths.of(settings)
    paths.make()
    running = Proxy(settings, paths, "127.0.0.1", free_port(), nonce="test-nonce")
    yield running
    if running.process is not None:
        running.process.send_signal(signal.SIGCONT)
    running.stop(graceful=False)


def test_switch_is_confirmed_through_the_proxy(proxy: Proxy, upstreams: list[int]) -> None:
    proxy.start("one", upstreams[0])
    assert proxy.probe().upstream == f"127.0.0.1:{upstreams[0]}" and proxy.generation == 1
    proxy.switch("two", upstreams[1])
    probe = proxy.probe()
    assert (probe.status, probe.generation, probe.upstream) == (200, 2, f"127.0.0.1:{upstreams[1]}")
    assert proxy.upstream_id == "two"


def test_a_reload_that_does_not_take_effect_is_an_error(proxy: Proxy, upstreams: list[int]) -> None:
    """A stopped master never acts on the reload: the old workers go on serving the old configuration."""
    proxy.start("one", upstreams[0])
    before = proxy.paths.upstream_conf.read_text()
    assert proxy.process is not None
    proxy.process.send_signal(signal.SIGSTOP)
    with pytest.raises(ServingError) as refused:
        proxy.switch("two", upstreams[1], timeout_s=3)
    assert refused.value.code == RELOAD_UNCONFIRMED
    assert proxy.paths.upstream_conf.read_text() == before and proxy.upstream_id == "one"
    proxy.process.send_signal(signal.SIGCONT)
    assert proxy.probe().upstream == f"127.0.0.1:{upstreams[0]}"


def test_an_upstream_that_does_not_answer_is_not_switched_to(proxy: Proxy, upstreams: list[int]) -> None:
    proxy.start("one", upstreams[0])
    with pytest.raises(ServingError) as refused:
        proxy.switch("nobody", free_port(), timeout_s=3)
    assert refused.value.code == RELOAD_UNCONFIRMED and proxy.upstream_id == "one"
    proxy.switch("one-again", upstreams[0])  # the restored file is a configuration nginx accepts
    assert proxy.probe().generation == 3


def test_nginx_t_refuses_a_broken_configuration(proxy: Proxy, upstreams: list[int]) -> None:
    proxy.start("one", upstreams[0])
    proxy.paths.nginx_conf.write_text(proxy.paths.nginx_conf.read_text().replace("events {", "events {{"))
    with pytest.raises(ServingError) as refused:
        proxy.switch("two", upstreams[1])
    assert refused.value.code == PROXY_INVALID and "nginx" in refused.value.details["output"]
    assert proxy.probe().upstream == f"127.0.0.1:{upstreams[0]}"


def test_a_missing_nginx_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("oppscope.programs.shutil.which", lambda _: None)
    monkeypatch.setattr(proxy_module, "_NGINX_CANDIDATES", ("/nonexistent/nginx",))
    with pytest.raises(ServingError) as missing:
        proxy_module.find_nginx()
    assert missing.value.code == NGINX_MISSING and "apt-get install nginx" in missing.value.message
