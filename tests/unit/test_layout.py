"""The shape of the code: the package's imports form no cycle (imports inside functions
count: a lazy import hides a cycle, it does not remove it), and ruff passes with the
project's configuration."""
import ast
import dataclasses
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "modeldiff_core"


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports, anywhere in its body."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    graph[name].add(sub if sub in mods else target)
            elif isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names)
        graph[name] = {m for m in graph[name] if m in mods and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    # score_run imports it lazily
    assert "modeldiff_core.results" in graph["modeldiff_core.methods.ground_truth.score"]


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph seen a level up: modeldiff_core's packages and top modules, each a node
    (modeldiff_core.stages.cluster -> modeldiff_core.stages)."""
    top = lambda m: ".".join(m.split(".")[:2])  # noqa: E731
    out: dict[str, set[str]] = {}
    for a, bs in graph.items():
        out.setdefault(top(a), set()).update(top(b) for b in bs if top(b) != top(a))
    for bs in list(out.values()):
        for b in bs:
            out.setdefault(b, set())
    return out


def test_no_two_packages_import_each_other():
    """Modules may form no cycle, and neither may packages: models below stages, hypotheses
    (types, tests, the predicate language) below the assistants, the LLM call path below both."""
    assert cycles(package_graph(import_graph())) == []


def test_the_package_check_sees_a_cycle_between_packages():
    graph = {"modeldiff_core.a.x": {"modeldiff_core.b.y"}, "modeldiff_core.b.z": {"modeldiff_core.a.w"},
             "modeldiff_core.a.w": set(), "modeldiff_core.b.y": set()}
    assert cycles(graph) == []  # no module cycle ...
    assert cycles(package_graph(graph)) == [["modeldiff_core.a", "modeldiff_core.b"]]  # ... but one


def test_ruff_passes():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    out = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# ------------------------------------------------------------------ sizes and roles
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_PARAMETERS = 8
# The argument parser is one long declaration: splitting it would scatter the CLI's contract.
SIZE_EXEMPT = {("modeldiff_core/cli.py", "build_parser"),
               ("modeldiff_core/cli_methods.py", "add_method_parsers")}


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs]
            n = len(params) + bool(a.vararg) + bool(a.kwarg)
            if params and params[0].arg in ("self", "cls"):
                n -= 1
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1, n


def test_no_module_is_too_long():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_is_too_long_or_takes_too_many_parameters():
    found = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "views").glob("*.py")]:
        rel = str(path.relative_to(ROOT))
        for name, line, length, n in _functions(path):
            if (rel, name) not in SIZE_EXEMPT and (length > MAX_FUNCTION_LINES or n > MAX_PARAMETERS):
                found.append(f"{rel}:{line} {name}: {length} lines, {n} parameters")
    assert found == []


def test_the_size_checks_see_a_long_function(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f(a, b, c, d, e, f, g, h, i):\n" + "    x = 1\n" * 70)
    [(name, _, length, n)] = list(_functions(f))
    assert (name, length, n) == ("f", 71, 9)


UI_FILES = [ROOT / "app.py", ROOT / "dashboard.py", ROOT / "home.py", *(ROOT / "views").glob("*.py")]
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE)\b[^\n]*\b(FROM|INTO|SET|TABLE)\b")
# What computes rather than shows: statistics, models and figures live in the core.
UI_FORBIDDEN_IMPORTS = ("plotly", "scipy", "sklearn", "duckdb", "statsmodels", "torch",
                        "modeldiff_core.hypotheses.stats")


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_pages_hold_ui_only():
    found = []
    for path in UI_FILES:
        text = path.read_text()
        found += [f"{path.name}: SQL" for _ in SQL.finditer(text)][:1]
        found += [f"{path.name}: imports {m}" for m in sorted(_imports(path))
                  if m.startswith(UI_FORBIDDEN_IMPORTS)]
    assert found == []


def test_the_ui_check_sees_sql_and_plotly(tmp_path):
    page = tmp_path / "p.py"
    page.write_text('import plotly.express as px\nq = "SELECT x FROM runs"\n')
    assert SQL.search(page.read_text()) and "plotly.express" in _imports(page)


# The CLI and the jobs adapt arguments onto one `commands` function each (a method's through the
# registry): what they may take from the package beside those is settings and plumbing (the
# jobs' one shared embedder), never an analysis.
ADAPTER_ALLOWED = re.compile(r"^([A-Z]\w*|parse_\w+|check_\w+|load_prompt_file|read_text_file|"
                             r"builtin_prompt_set|stop_heartbeats|default_db_path|first_line|"
                             r"make_embedder|prompts_from_files|\w+_summary)$")


def test_cli_and_jobs_are_adapters_onto_commands():
    found = []
    for name in ("cli.py", "cli_methods.py", "jobs.py"):
        tree = ast.parse((PACKAGE / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level and node.module not in (
                    "commands", "cli_methods", "cli_args", "context", "methods.registry"):
                found += [f"{name}: {node.module}.{a.name}" for a in node.names
                          if not ADAPTER_ALLOWED.match(a.name) and node.module is not None]
    assert found == []


def test_every_job_kind_has_a_command():
    from modeldiff_core import commands
    from modeldiff_core.methods.registry import METHODS

    assert set(commands.KINDS) == {"run", "hypothesis", *(m.name for m in METHODS if m.job)}
    assert all(v in commands.KINDS for v in commands.OLDER_KINDS.values())


def test_the_dashboard_config_binds_locally_and_leaves_running_jobs_the_cpu():
    """The server binds to loopback only; it neither watches its sources nor collects garbage
    after every script run: the jobs panel reruns each second, and a full collection in a
    process holding torch holds the GIL for a good part of a second (bench/bench_ui_gc.py:
    a job took 1.33x as long beside one collection a second)."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["serverAddress"] == "127.0.0.1"
    assert config["server"]["fileWatcherType"] == "none"
    assert config["runner"]["postScriptGC"] is False


# Defaults of the analyses' settings, as typed before they had one home: none may be written
# again outside the settings module that declares them (a CLI flag, a page widget, a command).
KNOWN_DEFAULTS = {
    "the scale grid": re.compile(r"0,\s*0\.25,\s*0\.5,\s*0\.75,\s*1\b"),
    "a probe's rounds, games, answers, examples": re.compile(r"\b12, 3, 4, 3\b|, 1, 200, 12\)"),
    "a number default in a flag": re.compile(r"default=\d"),
    "a page widget's literal default of a method setting": re.compile(
        r"number_input\([^)]*,\s*(32|3000|8|12|240|200|480|16|128)\)"),
}


def test_no_default_of_a_setting_is_written_outside_its_settings():
    places = [*(PACKAGE / "methods").rglob("*.py"), PACKAGE / "cli_methods.py",
              PACKAGE / "commands.py", *(ROOT / "views").glob("*.py")]
    found = [f"{p.relative_to(ROOT)}: {what}" for p in places if p.name != "settings.py"
             for what, pattern in KNOWN_DEFAULTS.items() if pattern.search(p.read_text())]
    assert found == []


def test_the_defaults_check_sees_a_copied_grid(tmp_path):
    assert KNOWN_DEFAULTS["the scale grid"].search('st.text_input("grid", "0, 0.25, 0.5, 0.75, 1")')
    assert KNOWN_DEFAULTS["a number default in a flag"].search('add_argument("--x", default=32)')


# A method folder reads another only where it is that one's face: planting's command over the
# ground truth's machinery. What two analyses share lives in methods/common/.
SHARED_FACES = {("plant", "ground_truth")}


def test_no_method_reaches_into_another():
    found = []
    for a, bs in import_graph().items():
        parts = a.split(".")
        if len(parts) < 4 or parts[1] != "methods":
            continue
        for b in bs:
            other = b.split(".")
            if (len(other) >= 3 and other[1] == "methods"
                    and other[2] not in (parts[2], "common", "registry")
                    and (parts[2], other[2]) not in SHARED_FACES):
                found.append(f"{a} -> {b}")
    assert found == []


# ------------------------------------------------------------------ the methods' face
def _methods():
    from modeldiff_core.methods.registry import METHODS

    return METHODS


@pytest.mark.parametrize("m", _methods(), ids=lambda m: m.name)
def test_every_method_shows_the_same_face(m):
    folder = PACKAGE / "methods" / m.face.__name__.split(".")[-1]
    from modeldiff_core.methods.registry import FACE

    assert all((folder / f"{part}.py").is_file() for part in FACE)
    assert dataclasses.is_dataclass(m.Params)
    assert list(inspect.signature(m.face.run.run).parameters) == ["store", "params", "ctx"]
    assert isinstance(m.face.cli.HELP, str) and m.face.cli.HELP
    for name in ("add_arguments", "params_from_args"):
        assert callable(getattr(m.face.cli, name))
    for name in ("summary", "to_json", "report", "sections"):
        assert callable(getattr(m.face.show, name))
    assert (ROOT / "views" / m.page).is_file()


def test_every_method_folder_is_in_the_registry():
    folders = {p.parent.name for p in (PACKAGE / "methods").glob("*/settings.py")}
    assert folders == {m.face.__name__.split(".")[-1] for m in _methods()}
