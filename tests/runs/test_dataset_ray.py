"""`ferx batch --engine ray`: each test runs `python -m ferx.scale` in a subprocess that starts and
stops its own single-node Ray cluster (2 CPUs). Where user namespaces are available the subprocess
runs in a private network namespace whose only interface is loopback (`unshare -rn`), so the
cluster cannot listen on or reach any other address (Ray 2.60 otherwise binds some servers to all
interfaces, whatever `--node-ip-address` says). The rows must equal the local engine's, also when
an actor is killed midway."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.runs.dataset_helpers import errors_frame, faces_frame

pytest.importorskip("ray.data")

ROOT = Path(__file__).resolve().parents[2]


@cache
def _loopback_prefix() -> list[str]:
    """The command prefix that runs a command with loopback as its only network, or [] where this
    machine does not allow unprivileged network namespaces."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return []
    prefix = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    return prefix if probe.returncode == 0 else []


def _start(collection: Path, out: Path, shard_size: int) -> subprocess.Popen[bytes]:
    if not _loopback_prefix():
        # Ray 2.60 binds some of its servers to every interface and one agent to the machine's own
        # address even when told 127.0.0.1; outside a loopback-only namespace it is not run here.
        pytest.skip("cannot confine Ray to loopback here (unshare -rn is not permitted)")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "ferx.scale", str(collection), str(out), "--engine", "ray", "--workers", "2",
           "--chunk", "4", "--shard-size", str(shard_size), "--video-fps", "5", "-q"]
    return subprocess.Popen([*_loopback_prefix(), *cmd], env=env, start_new_session=True, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=600)  # a safety net for a hung run, not a measurement
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, err.decode(errors="replace")


def _actor_pids() -> list[int]:
    import psutil

    pids = []
    for p in psutil.process_iter():
        try:
            if "ChunkAnalyzer" in " ".join(p.cmdline()):
                pids.append(p.pid)
        except psutil.Error:
            continue
    return pids


@pytest.mark.slow  # starts a Ray cluster (~15 s)
def test_ray_writes_the_same_rows_as_local(collection: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    rc, err = _finish(_start(collection, out, shard_size=50))
    assert rc == 1, err  # 1: the planted bad files failed, everything else was analysed
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["status"], summary["engine"], summary["pending"]) == ("complete", "ray", 0)
    assert faces_frame(out).equals(faces_frame(reference))
    assert errors_frame(out).equals(errors_frame(reference))
    assert not _actor_pids()  # the cluster is gone with the run
    # a successful run shows no error- or warning-level lines of Ray's (there was one at error level
    # on every run, about the actors' constructor arguments), nor Ray Data's start/finish lines
    noise = [line for line in err.splitlines() if re.search(r"\] [EW] |ERROR|WARNING|Warning:|streaming_executor", line)
             and "network_util.cc" not in line]  # no external network in the namespace: Ray says so before ferx can quiet it
    assert not noise, noise


def test_ray_without_loopback_stops_at_once_and_says_why(tmp_path: Path) -> None:
    """In a network namespace whose loopback is down, Ray used to wait for ever, printing its own
    retries; the run now stops before any model loads, exit 2, naming the loopback interface."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"], check=False).returncode:
        pytest.skip("unprivileged network namespaces are not permitted here")
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(sorted((SHARED / "lfw-expressions" / "images").glob("*.jpg"))[0], photos)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = ["unshare", "-rn", sys.executable, "-m", "ferx.scale", str(photos), str(tmp_path / "ds"), "--engine", "ray",
           "-q"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)  # a bound on a hang
    assert done.returncode == 2, done.stderr
    assert "loopback" in done.stderr and "--engine local" in done.stderr
    assert not list((tmp_path / "ds").rglob("*.parquet"))


@pytest.mark.slow  # starts a Ray cluster and kills an actor (~20 s)
def test_killed_actor_loses_nothing(collection: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    proc = _start(collection, out, shard_size=10)
    manifest = out / "_ferx" / "manifest.jsonl"
    killed = None
    deadline = time.monotonic() + 300  # a safety net, not a measurement
    while proc.poll() is None and time.monotonic() < deadline:
        if manifest.exists() and manifest.read_bytes().count(b"\n") >= 2:
            pids = _actor_pids()
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed = pids[0]
                break
        time.sleep(0.05)
    rc, err = _finish(proc)
    assert killed is not None, f"no actor was killed (rc {rc}): {err[-2000:]}"
    assert rc == 1, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["pending"] == 0
    assert faces_frame(out).equals(faces_frame(reference))
    assert sorted(errors_frame(out).source) == sorted(errors_frame(reference).source)


def test_address_auto_without_a_cluster_is_a_one_line_error(tmp_path: Path, monkeypatch, capsys) -> None:
    """`--address auto` with no Ray cluster running ended in Ray's ConnectionError traceback (after the
    output folder was set up); a cluster that `ray start` recorded and that has died since made Ray
    retry. Both stop before any model loads and any Ray starts: exit 2, one line saying what was
    looked for and what to do. No cluster is started here (fast)."""
    import socket

    import ray._private.services as services

    from ferx.cli import main

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "raytmp"))  # where `ray start` records its cluster
    def no_gcs() -> frozenset[str]:  # nor the Ray of anyone else on this machine
        return frozenset()

    no_gcs.cache_clear = lambda: None  # type: ignore[attr-defined]  # ray.init calls it
    monkeypatch.setattr(services, "find_gcs_addresses", no_gcs)
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(sorted((SHARED / "lfw-expressions" / "images").glob("*.jpg"))[0], photos)
    args = ["batch", str(photos), str(tmp_path / "ds"), "--engine", "ray", "--address", "auto", "-q"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("ferx: error: --address auto: no running Ray cluster was found") and err.count("\n") == 1
    assert "ray start --head" in err and "drop --address" in err
    (tmp_path / "raytmp" / "ray").mkdir(parents=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing answers there
    (tmp_path / "raytmp" / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}\n")
    assert main(args) == 2
    err = capsys.readouterr().err
    # (Ray turns 127.0.0.1 into this machine's own address, as ray.init would connect)
    assert "--address auto: nothing answers at " in err and f":{port} (" in err and err.count("\n") == 1
    assert not list((tmp_path / "ds").rglob("*.parquet"))
