"""Layers of the code: no import circle, and the runtime never loads the trainer or TensorFlow."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import numpy as np
import soundfile as sf

from engine_support import ROOT

SRC = ROOT / "src"

CORE = {"config", "errors", "backoff", "held_signals"}
"""Top-level modules every room may use: they import no room."""
MAY_IMPORT = {
    "engine": set(),
    "audio": set(),
    "inference": {"engine"},
    "offline": {"engine", "inference", "audio", "stages"},
    "publish": {"engine", "inference", "status"},
    "fleet": {"publish", "engine"},
    "train": {"engine", "inference", "audio", "offline", "stages"},
}
"""Room -> the other rooms (besides CORE) it may import.  The wiring (``app``, ``stages``, ``status``,
``api``) and ``cli`` may import any runtime room; nothing but ``voxstream.train`` imports ``voxstream.train``."""


def _module_name(path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def _room(module: str) -> str:
    """``voxstream.engine.gate`` -> ``engine``; ``voxstream.config`` -> ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def import_graph() -> dict[str, set[str]]:
    """Module -> the voxstream modules it imports anywhere in its file (lazy imports inside functions too)."""
    modules = {_module_name(p): p for p in (SRC / "voxstream").rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def test_graph_sees_the_packages():
    """The walk finds both packages and real edges (so the circle check below cannot pass vacuously)."""
    graph = import_graph()
    assert "voxstream.engine.pipeline" in graph and "voxstream.train.trainer" in graph
    assert "voxstream.offline.clips" in graph["voxstream.train.protocols"]
    assert "voxstream.engine.pipeline" in graph["voxstream.stages"]


def test_no_import_circle():
    """Depth-first search over the import graph of src/voxstream finds no cycle."""
    graph = import_graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(dep) :] + [dep]))
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_rooms_import_only_what_they_may():
    """Each room imports only CORE and the rooms MAY_IMPORT lists for it (lazy imports inside functions too)."""
    graph = import_graph()
    offenders = []
    for module, deps in graph.items():
        room = _room(module)
        if room not in MAY_IMPORT:
            continue
        allowed = MAY_IMPORT[room] | CORE | {room}
        offenders += [f"{module} -> {dep}" for dep in sorted(deps) if _room(dep) not in allowed]
    assert offenders == []


def test_the_room_rule_can_fail():
    """The rule sees a real edge that it would forbid if the room table said so (not vacuous)."""
    graph = import_graph()
    assert "voxstream.engine.params" in graph["voxstream.inference.card"]
    assert _room("voxstream.inference.card") == "inference" and "engine" in MAY_IMPORT["inference"]


def test_runtime_never_imports_train_or_tensorflow():
    """No module outside voxstream.train names voxstream.train, tensorflow or keras in any import."""
    offenders = []
    for path in (SRC / "voxstream").rglob("*.py"):
        if "train" in path.relative_to(SRC / "voxstream").parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if n.split(".")[0] in ("tensorflow", "keras") or n.startswith("voxstream.train")
            ]
    assert offenders == []


def test_run_fast_loads_no_trainer_and_no_tensorflow(tmp_path):
    """`voxstream run --file … --fast` leaves no voxstream.train*, tensorflow* or keras* module in sys.modules."""
    clip = tmp_path / "tone.wav"
    t = np.arange(3 * 16000) / 16000
    sf.write(str(clip), (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    code = (
        "import json, sys; from voxstream.cli.main import main; "
        f"rc = main(['run', '--file', {str(clip)!r}, '--fast', '--no-ws', '--no-mqtt', '--json']); "
        "print(json.dumps({'rc': rc, 'mods': sorted(m for m in sys.modules "
        "if m.startswith(('voxstream.train', 'tensorflow', 'keras')))}), file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    assert result["rc"] == 0 and proc.stdout.count("\n") >= 2, proc.stderr[-1500:]
    assert result["mods"] == []
