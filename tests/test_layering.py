"""Imports run only downward: config, text <- data <- models <- training <-
tasks <- compression <- serving, reports <- CLIs (with layers and checkpoints under models,
and metrics beside config).

Every `import` of this package in a layer's modules, at module level or
inside a function, is read from the source (`ast`), so a lazy import that
hides an upward dependency counts too. `MAY_IMPORT` says which other layers
each listed layer may use; `config` (hyper-parameters) is below everything.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_bert_lab"

MAY_IMPORT = {
    "config": set(),
    "text": set(),
    "layers": set(),
    "data": {"text"},
    # Reads and writes weights by name; models call it, never the reverse.
    "checkpoints": {"text"},
    "models": {"text", "layers", "checkpoints"},
    "metrics": set(),
    "training": {"text", "layers", "checkpoints", "models", "data"},
    "tasks": {"text", "layers", "checkpoints", "models", "data", "training",
              "metrics"},
    # Distillation and quantization (and, later, pruning) of task models.
    "compression": {"text", "layers", "checkpoints", "models", "data",
                    "training", "tasks", "metrics"},
    "serving": {"text", "layers", "checkpoints", "models", "data", "training",
                "tasks", "compression"},
    "reports": {"text", "data", "models", "tasks", "metrics"},
}


def _imported_layers(path):
  """The layers (`keras_bert_lab.<x>`) a module imports, with line numbers."""
  found = []
  for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
    if isinstance(node, ast.ImportFrom) and node.module:
      modules = ([f"{node.module}.{a.name}" for a in node.names]
                 if node.module == "keras_bert_lab" else [node.module])
    elif isinstance(node, ast.Import):
      modules = [a.name for a in node.names]
    else:
      continue
    for module in modules:
      parts = module.split(".")
      if parts[0] == "keras_bert_lab" and len(parts) > 1:
        found.append((parts[1], node.lineno))
  return found


def _modules(layer):
  single = PACKAGE / f"{layer}.py"
  return [single] if single.exists() else sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_imports_run_downward(layer):
  allowed = MAY_IMPORT[layer] | {layer, "config"}
  upward = [f"{path.relative_to(PACKAGE.parent)}:{line} imports "
            f"keras_bert_lab.{other}"
            for path in _modules(layer)
            for other, line in _imported_layers(path) if other not in allowed]
  assert not upward, (f"{layer}/ may import only {sorted(allowed)}:\n  "
                      + "\n  ".join(upward))
