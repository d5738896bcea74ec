"""`make deploy` asks for the environment (dev/prod) and tags what it deployed; `make release` tags a
rollback point. Run with `make -n` (nothing is built or deployed) and in a scratch git repository."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IDENTITY = {
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
}


def _make(*args: str, stdin: str = "", cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), **IDENTITY},
    )


@pytest.mark.parametrize("answer", ["dev", "prod"])
def test_make_deploy_asks_for_the_environment_and_deploys_that_one(answer: str) -> None:
    done = _make("-n", "deploy", stdin=f"{answer}\n")
    assert done.returncode == 0, done.stderr
    assert f"sam deploy --guided --config-env {answer}" in done.stdout
    assert f"deployed-tag ENV={answer}" in done.stdout and "sam-app" not in done.stdout


@pytest.mark.parametrize("answer", ["", "default", "staging"])
def test_make_deploy_refuses_anything_but_dev_or_prod(answer: str) -> None:
    done = _make("-n", "deploy", stdin=f"{answer}\n")
    assert done.returncode != 0
    assert "must be one of: dev prod" in done.stdout + done.stderr
    assert "sam deploy" not in done.stdout


def test_make_deploy_takes_env_from_the_command_line_without_asking() -> None:
    done = _make("-n", "deploy", "ENV=prod")
    assert done.returncode == 0 and "sam deploy --guided --config-env prod" in done.stdout


def _scratch_repo(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for argv in (
        ["git", "init", "-q"],
        ["git", "add", "Makefile"],
        ["git", "commit", "-qm", "first"],
    ):
        environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **IDENTITY}
        subprocess.run(argv, cwd=tmp_path, check=True, capture_output=True, env=environment)
    return tmp_path


def test_make_release_tags_head_and_refuses_uncommitted_work(tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path)
    done = _make("release", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = ["git", "tag", "-l", "release-*"]
    tags = subprocess.run(listed, check=True, cwd=repo, capture_output=True, text=True).stdout
    assert len(tags.split()) == 1 and f"tagged {tags.strip()}" in done.stdout
    (repo / "Makefile").write_text((repo / "Makefile").read_text() + "\n# changed\n")
    done = _make("release", cwd=repo)
    assert done.returncode != 0 and "commit or discard your changes first" in done.stdout
