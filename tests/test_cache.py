"""No fixed cost paid twice: the CLI keeps compiled programs on disk, so a second run of
the same shapes in a fresh process loads its programs instead of compiling them (JAX's
persistent compilation cache; its events count hits and misses)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import spec_text

ROOT = Path(__file__).resolve().parents[1]

COUNT = """
import json, sys
import jax
from dynax.cli import main
events = []
jax.monitoring.register_event_listener(lambda event, **kw: events.append(event))
rc = main(["run", sys.argv[1], "-o", sys.argv[2], "--quiet"])
count = lambda name: sum(e == f"/jax/compilation_cache/{name}" for e in events)
print(json.dumps(dict(rc=rc, compiled=count("cache_misses"), loaded=count("cache_hits"))))
"""


def _run(spec, out, cache):
    env = dict(os.environ, DYNAX_COMPILATION_CACHE=str(cache))
    p = subprocess.run(
        [sys.executable, "-c", COUNT, spec, out], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # ~12 s (two fresh processes); test_engine.py::test_one_compilation_per_compile_group stays
def test_second_run_of_the_same_shapes_does_not_compile(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        spec_text(
            "depth = [1, 2]\nn_over_p = [0.5, 2.0]\nsnr = [1.0]\nseed = { count = 2 }",
            "n_in = 7",
            "width = 5",
        )
    )
    first = _run(str(spec), str(tmp_path / "a.nc"), tmp_path / "cache")
    second = _run(str(spec), str(tmp_path / "b.nc"), tmp_path / "cache")
    # the data draws, the closed form and the GD kernel: compiled once, then loaded
    assert first == dict(rc=0, compiled=3, loaded=0)
    assert second == dict(rc=0, compiled=0, loaded=3)
