"""Releases on disk: installed for real from a clone's uv.lock, described, linked atomically, pruned."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oppscope.releases.store import Release, ReleaseError, Releases, install, resolve_source

PROJECT = Path(__file__).resolve().parents[2]


def clone(tmp: Path) -> Path:
    """A clone of the committed project, as an operator would deploy it."""
    target = tmp / "clone"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(target)], check=True)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Releases, Release, Path]:
    tmp = tmp_path_factory.mktemp("releases")
    checkout = clone(tmp)
    (checkout / "oppscope" / "DEPLOYED_MARK.txt").write_text("uncommitted\n")  # an untracked file is deployed too
    releases = Releases(tmp / "releases")
    return releases, install(releases, resolve_source(checkout, None)), checkout


def test_a_checkout_installs_from_its_lock(installed: tuple[Releases, Release, Path]) -> None:
    releases, release, checkout = installed
    home = releases.path(release.id)
    recorded = json.loads((home / "release.json").read_text())
    assert recorded == release.as_dict()
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert (release.commit, release.dirty, release.source) == (head.strip(), True, str(checkout))
    assert release.uv_lock_sha256 == hashlib.sha256((checkout / "uv.lock").read_bytes()).hexdigest()
    assert release.commit is not None and release.id.endswith(release.commit[:12])
    assert release.schema_head == "0001"
    assert (home / "src" / "oppscope" / "DEPLOYED_MARK.txt").is_file()
    # installed, not editable: the venv runs without its source, at the lock's versions
    version = subprocess.run([str(releases.oppscope(release.id)), "version", "--json"], capture_output=True, text=True)
    assert json.loads(version.stdout) == {"version": release.version}
    frozen = subprocess.run(
        [
            str(home / "venv" / "bin" / "python"),
            "-I",
            "-c",
            "import oppscope, fastapi; print(oppscope.__file__, fastapi.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert frozen[0].startswith(str(home / "venv")), "the release's code lives in its venv, not in a source tree"
    assert f'name = "fastapi"\nversion = "{frozen[1]}"' in (checkout / "uv.lock").read_text()
    assert [r.id for r in releases.all()] == [release.id]


def test_a_version_installs_from_git(tmp_path: Path) -> None:
    checkout = clone(tmp_path)
    subprocess.run(["git", "-C", str(checkout), "tag", "v-test"], check=True)
    releases = Releases(tmp_path / "releases")
    release = install(releases, resolve_source(None, "v-test", checkout))
    assert (release.ref, release.dirty, release.source) == ("v-test", False, f"git:{checkout}@v-test")
    assert (releases.path(release.id) / "src" / "uv.lock").is_file()
    with pytest.raises(ReleaseError, match="not a tag, branch or commit"):
        resolve_source(None, "no-such-tag", checkout)


def test_a_failed_install_leaves_nothing(tmp_path: Path) -> None:
    checkout = tmp_path / "broken"
    (checkout / "oppscope").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text('[project]\nname = "oppscope"\nversion = "9"\n')
    releases = Releases(tmp_path / "releases")
    with pytest.raises(ReleaseError, match=r"no uv\.lock"):
        install(releases, resolve_source(checkout, None))
    assert [p.name for p in releases.root.iterdir()] == []
    with pytest.raises(ReleaseError, match=r"no pyproject\.toml"):
        resolve_source(tmp_path, None)


def fake_release(releases: Releases, minutes: int) -> str:
    """A release directory with its metadata: links and pruning only read these."""
    moment = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    release_id = f"{moment.strftime('%Y%m%dT%H%M%SZ')}-r{minutes}"
    home = releases.path(release_id)
    home.mkdir(parents=True)
    fields = dict.fromkeys(("version", "source", "schema_head", "uv_lock_sha256", "python"), "x")
    record = Release(id=release_id, ref=None, commit=None, dirty=False, created_at=moment.isoformat(), **fields)
    (home / "release.json").write_text(json.dumps(record.as_dict()))
    return release_id


def test_links_switch_atomically_and_prune_keeps_linked_releases(tmp_path: Path) -> None:
    releases = Releases(tmp_path / "releases")
    ids = [fake_release(releases, m) for m in range(6)]
    assert (releases.link("current"), releases.link("previous")) == (None, None)
    releases.promote(ids[0])
    assert (releases.link("current"), releases.link("previous")) == (ids[0], None)
    releases.promote(ids[1])
    assert (releases.link("current"), releases.link("previous")) == (ids[1], ids[0])
    assert (releases.root / "current").resolve() == releases.path(ids[1])
    assert not any(p.name.startswith(".current") for p in releases.root.iterdir())
    pruned = releases.prune(keep=2)
    assert pruned == ids[2:4]  # the oldest unlinked ones; 0 and 1 are linked, 4 and 5 the newest
    assert [r.id for r in releases.all()] == [ids[0], ids[1], ids[4], ids[5]]
    with pytest.raises(ReleaseError, match="not a release id"):
        releases.set_link("current", "../etc")


def test_one_deploy_at_a_time(tmp_path: Path) -> None:
    releases = Releases(tmp_path / "releases")
    with releases.locked(), pytest.raises(ReleaseError, match="another deploy"), releases.locked():
        pass
    with releases.locked():
        pass
