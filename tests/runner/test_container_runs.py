"""Container mode, against a stand-in runtime: what the runner asks podman or docker to do.

This machine's podman cannot start containers (crun: "cgroups in hybrid mode not supported"),
so the stand-in below takes podman's command line and runs the program itself, keeping a log
of every call. It checks the runner's side of the contract: the image and the program, the
work directory mounted at its own path, the process cap, environment values passed by name
only (never on the command line), and stop and removal by the container's name.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

from baryon.runner import Runner, RunStatus
from baryon.settings import Settings
from tests.runner.test_runner import RecordingIO

STAND_IN = r'''#!PYTHON
"""A podman stand-in: run | stop | rm, each call logged."""
import json, os, signal, subprocess, sys
calls, pids = "CALLS", "PIDS"
with open(calls, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
verb, rest = sys.argv[1], sys.argv[2:]
if verb == "run":
    options, i, workdir, names = {}, 0, None, []
    while rest[i].startswith("-"):
        flag = rest[i]
        if flag in ("--rm", "--init"):
            i += 1
            continue
        value = rest[i + 1]
        if flag == "-w":
            workdir = value
        if flag == "-e":
            names.append(value)
        options.setdefault(flag, []).append(value)
        i += 2
    image, argv = rest[i], rest[i + 1:]
    environment = {"PATH": "/usr/bin:/bin"}
    environment.update({name: os.environ[name] for name in names if name in os.environ})
    child = subprocess.Popen(argv, cwd=workdir, env=environment, start_new_session=True)
    with open(os.path.join(pids, options["--name"][0]), "w") as f:
        f.write(str(child.pid))
    sys.exit(child.wait())
if verb == "stop":
    with open(os.path.join(pids, rest[-1])) as f:
        os.killpg(int(f.read()), signal.SIGTERM)
'''


def _stand_in(tmp_path: Path) -> tuple[Path, Path]:
    runtime, calls, pids = tmp_path / "podman", tmp_path / "calls.jsonl", tmp_path / "pids"
    pids.mkdir()
    script = STAND_IN.replace("PYTHON", sys.executable, 1)
    runtime.write_text(
        script.replace('"CALLS"', repr(str(calls))).replace('"PIDS"', repr(str(pids)))
    )
    runtime.chmod(runtime.stat().st_mode | stat.S_IXUSR)
    return runtime, calls


def _calls(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _settings(tmp_path: Path, runtime: Path) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return Settings(
        data_dir=data_dir,
        runner_sandbox="container",
        runner_container_runtime=str(runtime),
        runner_kill_grace_seconds=1.0,
    )


def test_a_container_run_runs_the_image_with_the_work_directory_and_names_only(
    tmp_path: Path,
) -> None:
    runtime, calls = _stand_in(tmp_path)
    io = RecordingIO()
    with Runner(_settings(tmp_path, runtime)).workspace({"proton-inputs.json": "{}"}) as work:
        result = work.run(
            ["sh", "-c", 'cat proton-inputs.json; echo "$STAGE"'],
            environment={"STAGE": "beta", "SECRET": "s3cr3t"},
            io=io,
            image="public.ecr.aws/example/builder:1",
        )
        workdir = str(work.path)
    assert result.status is RunStatus.SUCCEEDED, result.reason
    assert io.program_lines()[-1] == "{}beta"  # the inputs file has no newline
    run = next(call for call in _calls(calls) if call[0] == "run")
    assert "public.ecr.aws/example/builder:1" in run
    assert run[run.index("-v", run.index("--pids-limit")) :].count(f"{workdir}:{workdir}") == 1
    assert run[run.index("-w") + 1] == workdir
    assert run[run.index("--pids-limit") + 1].isdigit()
    assert {"STAGE", "SECRET"} <= {run[i + 1] for i, part in enumerate(run) if part == "-e"}
    assert not any("s3cr3t" in part or "beta" in part for part in run)
    name = run[run.index("--name") + 1]
    assert ["rm", "-f", name] in _calls(calls)


def test_cancelling_a_container_run_stops_the_container_by_name(tmp_path: Path) -> None:
    runtime, calls = _stand_in(tmp_path)
    io = RecordingIO(cancel_on="started")
    with Runner(_settings(tmp_path, runtime)).workspace({}) as work:
        result = work.run(
            ["sh", "-c", "echo started; sleep 60"], environment={}, io=io, image="example:1"
        )
    assert result.status is RunStatus.CANCELLED
    name = next(call for call in _calls(calls) if call[0] == "run")
    container = name[name.index("--name") + 1]
    assert any(call[0] == "stop" and call[-1] == container for call in _calls(calls))
