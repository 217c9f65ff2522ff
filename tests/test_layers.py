"""The package's shape: layers that only import downwards, no cycles, no module too long,
and an import that changes nothing in the user's process (tests in subprocesses)."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import dynax

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dynax"
# lowest first; a module may import its own layer and the ones before it
LAYERS = [
    ("_version", "interrupt"),
    ("spec",),
    ("theory",),
    ("sim",),
    ("store",),
    ("engine",),
    ("predict",),
    ("analysis", "bounds"),
    ("plot",),
    ("gallery", "bench", "api", "report"),
    ("cli",),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
MAX_LINES = 500
MAX_FUNCTION_LINES = 80  # a function a reader takes in at once (decorators not counted)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules) -> set[str]:
    """The dynax modules ``name`` imports anywhere in its file (top level or in functions)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "dynax"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "dynax":
                continue
            for a in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{target}.{a.name}"
                found.add(sub if sub in modules else target)
    return found


def _rank(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return len(LAYERS)  # the facade dynax/__init__.py: nothing inside may import it
    return RANK[parts[1]]


def test_trainers_are_named_only_where_they_are_defined():
    """The engine asks the registry (dynax.sim.trainers) which trainer takes a group and calls
    it: no trainer's name appears as a string outside sim/, spec/ and bench/ (3 lines allowed,
    for documentation)."""
    from dynax.sim.trainers import TRAINERS

    names = "|".join(TRAINERS)
    pattern = re.compile(rf"[\"'](?:{names})[\"']")
    found = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for name, path in _modules().items()
        if [*name.split("."), ""][1] not in ("sim", "spec", "bench")
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert len(found) <= 3, found


def test_every_module_belongs_to_a_layer():
    for name in _modules():
        if name != "dynax":
            assert name.split(".")[1] in RANK, f"{name}: add its layer to LAYERS (and docs/design.md §5)"


def test_imports_only_go_down_a_layer():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        if name == "dynax":
            continue
        for target in _imports(name, path, modules):
            if _rank(target) > _rank(name):
                upward.append(f"{name} imports {target}")
    assert not upward, "imports that climb a layer:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) & set(modules) for name, path in modules.items()}
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_module_is_too_long():
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert not {n: k for n, k in long.items() if k > MAX_LINES}


def _long_functions(tree: ast.AST, limit: int) -> list[tuple[str, int, int]]:
    return [
        (node.name, node.lineno, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > limit
    ]


def test_no_function_is_too_long():
    long = [
        f"{path.relative_to(ROOT)}:{line} {name} ({n} lines)"
        for path in _modules().values()
        for name, line, n in _long_functions(ast.parse(path.read_text()), MAX_FUNCTION_LINES)
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
    # the check sees one: a function of 81 lines
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    assert _long_functions(ast.parse(f"def f():\n{body}\n"), MAX_FUNCTION_LINES) == [("f", 1, 81)]


def test_layer_check_sees_a_violation(tmp_path):
    """The checker itself: an upward import inside a function and a cycle are found."""
    (tmp_path / "theory.py").write_text("def f():\n    from .engine import plan\n")
    mods = {
        "dynax.theory": tmp_path / "theory.py",
        "dynax.engine": tmp_path / "e.py",
        "dynax.engine.plan": None,
    }
    found = _imports("dynax.theory", tmp_path / "theory.py", mods)
    assert found == {"dynax.engine.plan"} and _rank("dynax.engine.plan") > _rank("dynax.theory")


USER = """
import json, jax
before = bool(jax.config.jax_enable_x64)
import dynax, dynax.cli, dynax.gallery, dynax.bench, dynax.predict
import jax.numpy as jnp
print(json.dumps(dict(before=before, after=bool(jax.config.jax_enable_x64), dtype=str(jnp.array(1.0).dtype),
                      async_dispatch=bool(jax.config.values["jax_cpu_enable_async_dispatch"]))))
"""


def test_import_changes_no_global_jax_setting():
    out = subprocess.run([sys.executable, "-c", USER], capture_output=True, text=True, cwd=ROOT, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == dict(before=False, after=False, dtype="float32", async_dispatch=True)


BASELINE = """
import json, sys
import jax
import dynax
folder, names = sys.argv[1], sys.argv[2:]
for name in names:
    stem, _, dtype = name.partition(".")
    over = ["train.kernel=xla"] + (["train.dtype=float64"] if dtype else [])  # the kernel that made them
    dynax.run_sweep(dynax.load_spec(f"tests/baselines/{stem}.toml", over)).to_netcdf(f"{folder}/{name}.nc")
print(json.dumps({"x64_after": bool(jax.config.jax_enable_x64)}))
"""


def _baseline(names, tmp_path):
    """Sweeps run in a fresh process with JAX's defaults (x64 off) equal, bit for bit, the same
    sweeps run in this process (x64 on, conftest), and they equal the results the same specs gave
    before the layered package (tests/baselines/*.nc, made by the code of commit 2d17f2c, where
    ``import dynax`` switched x64 on globally) to the rounding another CPU's BLAS and LAPACK give
    (the files were made on another machine: eigendecompositions differ in their last bits there)."""
    out = subprocess.run(
        [sys.executable, "-c", BASELINE, str(tmp_path), *names],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["x64_after"] is False
    for name in names:
        stem, _, dtype = name.partition(".")
        over = ["train.kernel=xla"] + (["train.dtype=float64"] if dtype else [])
        here = dynax.run_sweep(dynax.load_spec(ROOT / "tests" / "baselines" / f"{stem}.toml", over))
        fresh = xr.open_dataset(tmp_path / f"{name}.nc").load()
        xr.testing.assert_equal(here.drop_attrs(), fresh.drop_attrs())
        ref = xr.open_dataset(ROOT / "tests" / "baselines" / f"{name}.nc").load()
        tol = 1e-9 if dtype else 1e-5  # relative, and as much of each variable's largest value
        for v in ref.data_vars:  # variables added since (ridge baselines, ...) are not in the baseline
            a, b = here[v].values, ref[v].values
            if np.issubdtype(b.dtype, np.floating):
                scale = np.nanmax(np.abs(b)) if np.isfinite(b).any() else 1.0
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=f"{name}: {v}")
            else:
                np.testing.assert_array_equal(a, b, err_msg=f"{name}: {v}")


@pytest.mark.slow  # 16 s; test_every_path_with_x64_off_equals_the_baseline (slow) covers more
def test_sweep_with_x64_off_equals_the_baseline(tmp_path):
    _baseline(["linear"], tmp_path)  # closed form, GD kernel, momentum, adam, null-space error, auto rates


@pytest.mark.slow
def test_every_path_with_x64_off_equals_the_baseline(tmp_path):
    _baseline(["linear.float64", "raw", "nonlinear", "online", "tanh"], tmp_path)


NO_SILENT_FLOAT32 = """
import warnings
warnings.filterwarnings("error", message=".*is not available.*")  # JAX: float64 requested with x64 off
import jax, numpy as np
import dynax
from dynax.gallery.common import realized_teacher_var
from dynax.gallery.nonlinear import hidden_spectrum
from dynax.predict import theory_dataset
from dynax.sim import data, teachers
from dynax.sim.scope import x64
spec = dynax.parse_spec(
    "[grid]\\ndepth = 2\\nn_over_p = [0.25]\\nsnr = [1.0]\\nseed = {count = 2}\\n[problem]\\nn_in = 6\\n"
    "teacher = 'relu'\\nteacher_width = 3\\nn_test = 20\\n"
    "[model]\\nwidth = 4\\nstudent = 'random_features'\\n"
    "activation = 'relu'\\n[train]\\nlearning_rate = 0.05\\nepochs = 5\\nrecord = {log = 4}\\n"
)
ds = dynax.run_sweep(spec)
theory_dataset(spec, n=50)
hidden_spectrum(ds, widths=(30,), n_seeds=2)
with x64():
    draws = [np.asarray(teachers.teacher(data.data_key(0, s), 6, 1, 1.0)) for s in (0, 1)]
    expect = [float(np.mean(w**2)) for w in draws]
np.testing.assert_array_equal(realized_teacher_var(ds).values, expect)
from dynax.sim import gd  # a single run by hand, as the README's moved-names table points to
st = data.seed_stats(0, 0, [6], 6, 1, 1.0)
cfg = gd.KernelConfig(2, 4, 6, 1, st.factor.shape[-1], 10, (0, 5, 10), dtype="float64")
make = lambda: gd.run_inputs(st.factor[0], st.teacher, n_train=6, init="gaussian", init_scale=0.5, seed=0)
out = gd.train_gd(cfg, make())
with x64():
    ref = gd.train_gd(cfg, make())
assert out.test_error.dtype == np.float64
np.testing.assert_array_equal(np.asarray(out.test_error), np.asarray(ref.test_error))
try:  # traced by a jit begun with x64 off: refused with the fix, not silently float32
    jax.jit(lambda run: gd.train_gd(cfg, run))(make())
    raise SystemExit("a float32 trace of train_gd was not refused")
except RuntimeError as e:
    assert "dynax.sim.scope.x64()" in str(e)
assert not jax.config.jax_enable_x64
print("ok")
"""


@pytest.mark.slow  # a fresh interpreter running a sweep (~15 s)
def test_no_float64_draw_falls_back_to_float32_outside_the_scope():
    """Every dynax function that draws data or weights runs in the float64 scope: with x64
    off in the caller's process, no JAX warning of a float64 request, and the teachers the
    gallery reads are the float64 draws."""
    out = subprocess.run([sys.executable, "-c", NO_SILENT_FLOAT32], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
