"""The README and the guides in docs/ say only what the checkout has.

* Every relative link (and `#anchor`) in README.md and docs/*.md points at a
  file (and a heading) that exists.
* Every shell command `python -m keras_bert_lab.<cli> --flag ...` (fenced
  blocks and inline code) names the CLI's own flags (`--noflag` for
  booleans), and enum values it accepts; `--flagfile=` files exist.
* Benchmark commands `python benchmarks/<script>.py --flag` name flags the
  script parses; repository paths in code (`tests/...`, `configs/...`) exist.
* The README's Layout names only directories and files that exist, and every
  subpackage of keras_bert_lab.

The CLIs' flags come from absl's `FLAGS` after running each CLI module as
`__main__` with `app.run` stubbed out (so flags defined in helper modules,
such as `training/cli_flags.py`, and those defined only under `__main__`
count), in one subprocess that imports TensorFlow once and forks per CLI.
"""

import functools
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
REPO_DIRS = ("keras_bert_lab", "tests", "benchmarks", "configs", "colab", "docs")
MARKER = "@@KBL_FLAGS@@"


# ---------------------------------------------------------------- markdown


def _fences(text):
  """(lang, body) of each fenced block, and the text with the blocks blanked."""
  blocks, kept, lang, body = [], [], None, []
  for line in text.split("\n"):
    m = re.match(r"^\s*(```+|~~~+)\s*([\w+-]*)", line)
    if lang is None and m:
      lang, body = m.group(2).lower(), []
      kept.append("")
    elif lang is not None and re.match(r"^\s*(```+|~~~+)\s*$", line):
      blocks.append((lang, "\n".join(body)))
      lang = None
      kept.append("")
    elif lang is not None:
      body.append(line)
      kept.append("")
    else:
      kept.append(line)
  return blocks, "\n".join(kept)


def _inline_code(prose):
  return [" ".join(c.split()) for c in re.findall(r"`([^`]+)`", prose)]


def slug(heading):
  """GitHub's anchor for a heading."""
  heading = re.sub(r"`", "", heading.strip().lower())
  heading = re.sub(r"[^\w\- ]", "", heading)
  return heading.replace(" ", "-")


@functools.lru_cache(maxsize=None)
def _anchors(path):
  _, prose = _fences(pathlib.Path(path).read_text(encoding="utf-8"))
  seen, anchors = {}, set()
  for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", prose, flags=re.M):
    s = slug(m.group(1))
    n = seen.get(s, 0)
    seen[s] = n + 1
    anchors.add(s if n == 0 else f"{s}-{n}")
  return anchors


def _links(path):
  _, prose = _fences(path.read_text(encoding="utf-8"))
  prose = re.sub(r"`[^`]*`", "CODE", prose)
  return re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)",
                    prose)


def _rel(path):
  return path.relative_to(ROOT).as_posix()


# ------------------------------------------------------------ shell commands


def _logical_lines(body):
  """The block's commands: continuations joined, heredoc bodies dropped."""
  lines, buf, heredoc = [], "", None
  for line in body.split("\n"):
    if heredoc is not None:
      if line.strip() == heredoc:
        heredoc = None
      continue
    if line.rstrip().endswith("\\"):
      buf += line.rstrip()[:-1] + " "
      continue
    buf += line
    m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", buf)
    if m:
      heredoc = m.group(1)
    lines.append(buf)
    buf = ""
  if buf:
    lines.append(buf)
  return lines


def _split(line):
  try:
    return shlex.split(line, comments=True)
  except ValueError:
    return line.split()


_STOP = {"|", "||", "&&", ";", "&"}


def _commands(tokens, program_re):
  """(program, args) for each `python <program> args` in the tokens."""
  out = []
  for i, tok in enumerate(tokens):
    if not re.fullmatch(r"(.*/)?python[\d.]*", tok):
      continue
    j = i + 1
    if j + 1 < len(tokens) and tokens[j] == "-m":
      program = tokens[j + 1]
      j += 2
    elif j < len(tokens):
      program = tokens[j]
      j += 1
    else:
      continue
    if not re.fullmatch(program_re, program):
      continue
    args = []
    for tok2 in tokens[j:]:
      if tok2 in _STOP or tok2.startswith((">", "<")):
        break
      args.append(tok2.strip("[]"))
    out.append((program, args))
  return out


def _doc_commands(program_re):
  """(file, where, program, args, fenced) for every command in the docs."""
  found = []
  for path in DOCS:
    blocks, prose = _fences(path.read_text(encoding="utf-8"))
    for lang, body in blocks:
      if lang not in SHELL_LANGS:
        continue
      for line in _logical_lines(body):
        for program, args in _commands(_split(line), program_re):
          found.append((_rel(path), line.strip(), program, args, True))
    for code in _inline_code(prose):
      for program, args in _commands(_split(code), program_re):
        found.append((_rel(path), code, program, args, False))
  return found


def _flag_args(args):
  """(name, value or None) of each --flag argument."""
  out = []
  for arg in args:
    m = re.fullmatch(r"--([A-Za-z_][\w.-]*)(?:=(.*))?", arg)
    if m:
      out.append((m.group(1), m.group(2)))
  return out


# ------------------------------------------------------------ the CLIs' flags

_DUMP = r"""
import json, os, runpy, sys
MARKER = %r

def dump(cli, commands):
  try:
    from absl import app, flags
    app.define_help_flags()
    app.run = lambda *args, **kwargs: None
    sys.argv = [cli]
    runpy.run_module(cli, run_name="__main__", alter_sys=True)
    # absl's own --flagfile and --undefok live outside FLAGS' module dict.
    out = {name: {"bool": False, "enum": None} for name in ("flagfile", "undefok")}
    for module_flags in flags.FLAGS.flags_by_module_dict().values():
      for f in module_flags:
        enum = (getattr(f.parser, "enum_values", None)
                or getattr(f.parser, "member_names", None))
        info = {"bool": bool(f.boolean), "enum": list(enum) if enum else None}
        out[f.name] = info
        if f.short_name:
          out[f.short_name] = info
    parses = []  # each command's arguments, parsed as the CLI parses them
    for args in commands:
      try:
        flags.FLAGS.unparse_flags()
        flags.FLAGS([cli] + args)
        parses.append(None)
      except flags.Error as e:
        parses.append(f"{type(e).__name__}: {e}")
    return {"flags": out, "parses": parses}
  except BaseException as e:  # reported, not raised: the parent retries
    return {"__error__": f"{type(e).__name__}: {e}"}

commands = json.loads(sys.argv[1])
clis = sorted(commands)
result = {}
if os.environ.get("KBL_DOCS_FORK") == "1" and hasattr(os, "fork"):
  try:
    import tensorflow  # noqa: F401  (the slow part, once for every CLI)
  except Exception:
    pass
  for cli in clis:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
      os.close(r)
      with os.fdopen(w, "w") as f:
        f.write(json.dumps(dump(cli, commands[cli])))
      os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
      data = f.read()
    os.waitpid(pid, 0)
    result[cli] = json.loads(data) if data else {"__error__": "no output"}
else:
  for cli in clis:
    result[cli] = dump(cli, commands[cli])
print(MARKER + json.dumps(result))
""" % MARKER


def _run_dump(commands, fork, timeout):
  """{cli: {"flags": {name: {"bool", "enum"}}, "parses": [error or None]}}
  for `commands`, {cli: [argument lists]}; {"__error__": ...} for a CLI that
  does not import."""
  clis = sorted(commands)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
             KBL_DOCS_FORK="1" if fork else "0",
             PYTHONPATH=os.pathsep.join(
                 [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
  try:
    proc = subprocess.run([sys.executable, "-c", _DUMP, json.dumps(commands)],
                          cwd=ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=timeout)
  except subprocess.TimeoutExpired:
    return {cli: {"__error__": f"timed out after {timeout} s"} for cli in clis}
  for line in proc.stdout.splitlines():
    if line.startswith(MARKER):
      return json.loads(line[len(MARKER):])
  error = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
  return {cli: {"__error__": " | ".join(error)} for cli in clis}


def _parse_args(args):
  """A fenced command's arguments as the CLI would get them, placeholders
  (`--max_unique_chars=N`) dropped."""
  return [a for a in args if not re.fullmatch(r"--\w+=[A-Z]+", a)]


@pytest.fixture(scope="module")
def cli_flags():
  commands = {}
  for _, _, cli, args, fenced in _doc_commands(r"keras_bert_lab\.\w+"):
    commands.setdefault(cli, [])
    if fenced:
      commands[cli].append(_parse_args(args))
  assert commands, "no `python -m keras_bert_lab.<cli>` command in the docs"
  result = _run_dump(commands, fork=sys.platform.startswith("linux"),
                     timeout=180)
  for cli in [c for c in commands if "__error__" in result.get(c, {"__error__": 1})]:
    # Once more, alone and without fork.
    result.update(_run_dump({cli: commands[cli]}, fork=False, timeout=120))
  errors = {c: r["__error__"] for c, r in result.items() if "__error__" in r}
  assert not errors, f"could not list the flags of {errors}"
  return result


# ------------------------------------------------------------------- tests


def test_readme_is_a_front_page():
  text = (ROOT / "README.md").read_text(encoding="utf-8")
  assert len(text.splitlines()) <= 300, "README.md: move details to docs/"
  headings = set(re.findall(r"^## (.+)$", _fences(text)[1], flags=re.M))
  for section in ("Quick start", "Fine-tune from Python", "Benchmarks",
                  "Layout", "Status"):
    assert section in headings, f"README.md lacks its '## {section}' section"
  assert "make quickstart" in text and "make test" in text


def test_relative_links_resolve():
  broken = []
  for path in DOCS:
    for target in _links(path):
      if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I):
        continue  # http:, https:, mailto:
      file_part, _, anchor = target.partition("#")
      dest = (path.parent / file_part).resolve() if file_part else path
      if not dest.exists():
        broken.append(f"{_rel(path)}: {target} (no such file)")
      elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
        broken.append(f"{_rel(path)}: {target} (no heading #{anchor})")
  assert not broken, "broken links:\n" + "\n".join(broken)


def test_cli_commands_name_existing_flags(cli_flags):
  wrong = []
  parsed = {cli: iter(r["parses"]) for cli, r in cli_flags.items()}
  for doc, where, cli, args, fenced in _doc_commands(r"keras_bert_lab\.\w+"):
    known = cli_flags[cli]["flags"]
    error = next(parsed[cli]) if fenced else None
    if error:
      wrong.append(f"{doc}: {cli} refuses the arguments ({error}): {where}")
    for name, value in _flag_args(args):
      info = known.get(name)
      if info is None and name.startswith("no") and known.get(name[2:], {}).get("bool"):
        continue
      if info is None:
        wrong.append(f"{doc}: {cli} has no flag --{name}: {where}")
        continue
      if (fenced and info["enum"] and value is not None
          and not re.search(r"[$<>|\\*{]", value)
          and value not in info["enum"]):
        wrong.append(f"{doc}: {cli} --{name}={value} is not one of "
                     f"{info['enum']}: {where}")
      if (name == "flagfile" and value and not re.search(r"[$<>*]", value)
          and not (ROOT / value).is_file()):
        wrong.append(f"{doc}: --flagfile={value} does not exist: {where}")
  assert not wrong, "\n".join(wrong)


def test_benchmark_commands_name_existing_flags():
  wrong = []
  for doc, where, script, args, _ in _doc_commands(r"benchmarks/\w+\.py"):
    path = ROOT / script
    if not path.is_file():
      wrong.append(f"{doc}: {script} does not exist: {where}")
      continue
    source = path.read_text(encoding="utf-8")
    for name, _ in _flag_args(args):
      if not re.search(r"""["']--%s\b""" % re.escape(name), source):
        wrong.append(f"{doc}: {script} parses no --{name}: {where}")
  assert not wrong, "\n".join(wrong)


def test_make_targets_exist():
  makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
  targets = set(re.findall(r"^([\w.-]+)\s*:", makefile, flags=re.M))
  wrong = []
  for path in DOCS:
    blocks, prose = _fences(path.read_text(encoding="utf-8"))
    texts = _inline_code(prose) + [b for lang, b in blocks if lang in SHELL_LANGS]
    for text in texts:
      for target in re.findall(r"(?<![\w-])make\s+([\w-]+)", text):
        if target not in targets:
          wrong.append(f"{_rel(path)}: make {target}")
  assert not wrong, "no such Makefile target: " + ", ".join(wrong)


_PATH = re.compile(r"(?<![\w./$-])((?:%s)/[\w./<>*-]*[\w*>])" % "|".join(REPO_DIRS))


def test_repository_paths_in_code_exist():
  missing = []
  for path in DOCS:
    blocks, prose = _fences(path.read_text(encoding="utf-8"))
    texts = _inline_code(prose) + [b for lang, b in blocks if lang in SHELL_LANGS]
    for text in texts:
      for p in _PATH.findall(text):
        # A placeholder (`pretrain_<size>_phase1.flags`) is one word: no "_".
        parts = re.split(r"(<[^>]*>)", p)
        regex = "".join("[^/_]+" if part.startswith("<") else
                        re.escape(part).replace(r"\*", "[^/]*") for part in parts)
        glob = "".join("*" if part.startswith("<") else part for part in parts)
        if not any(re.fullmatch(regex, _rel(m)) for m in ROOT.glob(glob)):
          missing.append(f"{_rel(path)}: {p}")
  assert not missing, "paths that do not exist:\n" + "\n".join(sorted(set(missing)))


def _layout_block():
  blocks, prose = _fences((ROOT / "README.md").read_text(encoding="utf-8"))
  section = prose.split("## Layout", 1)
  assert len(section) == 2, "README.md has no '## Layout' section"
  for lang, body in blocks:
    if body.startswith("keras_bert_lab/"):
      return body
  raise AssertionError("README.md's Layout has no tree starting keras_bert_lab/")


def test_layout_matches_the_tree():
  missing, current, parents = [], ROOT, {}
  for line in _layout_block().split("\n"):
    if not line.strip():
      continue
    indent = len(line) - len(line.lstrip())
    first = line.split()[0]
    if indent <= 4 and (first.endswith("/") or first.endswith(".py")):
      base = parents.get(indent - 2, ROOT) if indent else ROOT
      if first.endswith("/"):
        current = base / first.rstrip("/")
        parents[indent] = current
        if not current.is_dir():
          missing.append(_rel(current) + "/")
        rest = line.split(None, 1)[1] if len(line.split()) > 1 else ""
      else:
        current = base
        rest = line
    else:
      rest = line
    for name in re.findall(r"(?<![\w./-])(\w+\.py)\b", rest):
      if not (current / name).is_file():
        missing.append(_rel(current / name))
  assert not missing, "Layout names what the tree lacks: " + ", ".join(missing)
  layout = _layout_block()
  package = ROOT / "keras_bert_lab"
  unlisted = [d.name for d in sorted(package.iterdir())
              if d.is_dir() and (d / "__init__.py").is_file()
              and not re.search(r"^  %s/" % re.escape(d.name), layout, flags=re.M)]
  assert not unlisted, f"Layout lacks keras_bert_lab/ subpackages {unlisted}"
