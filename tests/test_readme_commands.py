"""The README's commands run as written on a fresh clone: none of them writes onto a file
git tracks (the committed results live in results/reference/ and results/<item>/), and none
writes twice onto the same path without --force (dynax refuses an existing output)."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _commands(text: str) -> list[list[str]]:
    """Every `dynax ...` command of the file's bash blocks, as arguments (comments dropped)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0]
            for part in line.split("&&"):
                words = shlex.split(part)
                if words[:1] == ["dynax"] and "<" not in part and "$" not in part:
                    out.append(words[1:])
    return out


def _option(words, *names):
    for i, w in enumerate(words):
        if w in names and i + 1 < len(words):
            return words[i + 1]
    return None


def _targets(words) -> list[str]:
    """The paths a command writes (docs/design.md §4, command line)."""
    cmd, rest = words[0], words[1:]
    args = [
        w for i, w in enumerate(rest) if not w.startswith("-") and not (i and rest[i - 1].startswith("-"))
    ]
    out = _option(rest, "-o", "--output")
    if cmd == "run":
        return [out or f"results/{Path(args[0]).stem}.nc"]
    if cmd == "theory":
        return [out or f"results/{Path(args[0]).stem}.theory.nc"]
    if cmd == "analyze":
        result = Path(args[0])
        return [out or str(result.with_name(f"{result.stem}.summary.nc"))]
    if cmd == "gallery":
        folder = _option(rest, "--out") or f"{_option(rest, '--results') or 'results'}/{args[0]}"
        return [f"{folder}/numbers.json"]
    return []


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
def test_readme_commands_write_no_tracked_file_and_nothing_twice():
    tracked = set(
        subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    )
    for doc in ("README.md", "results/README.md"):
        written = set()
        commands = _commands((ROOT / doc).read_text())
        assert commands, doc
        for words in commands:
            for target in _targets(words):
                target = str(Path(target))
                assert target not in tracked, (
                    f"{doc}: `dynax {' '.join(words)}` would write onto tracked {target}"
                )
                assert target not in written or "--force" in words, (
                    f"{doc}: `dynax {' '.join(words)}` writes {target} a second time without --force"
                )
                written.add(target)


def test_the_check_sees_a_collision():
    assert _targets(["run", "sweeps/depth1_theory.toml"]) == ["results/depth1_theory.nc"]
    assert _targets(["analyze", "results/quickstart.nc", "--theory"]) == ["results/quickstart.summary.nc"]
    assert _targets(["gallery", "stopping"]) == ["results/stopping/numbers.json"]
    assert _commands("```bash\ndynax run a.toml && dynax analyze results/a.nc  # x\n```") == [
        ["run", "a.toml"],
        ["analyze", "results/a.nc"],
    ]
