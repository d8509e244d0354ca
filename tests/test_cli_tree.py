"""The one command tree: every command is in it (plugins through the ``stepcache.commands`` entry-point
group), every flag that a message or the docs name exists, and the core never imports the bench."""

from __future__ import annotations

import argparse
import io
import re
import shlex
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import stepcache
import stepcache.cli
from stepcache.cli import COMMAND_GROUP, ENVIRONMENT, build_parser, main

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "src" / "stepcache", ROOT / "src" / "stepcache_bench"]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "docs" / "bench" / "README.md"]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
#: Flags of other programs that messages quote whole commands of.
NOT_OURS = {"--force-reinstall"}  # pip's, in the hint that repairs a broken install


def _tree(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _tree(sub, (*path, name))


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


PARSERS = dict(_tree(build_parser()))
ALL_FLAGS = set().union(*map(_flags, PARSERS.values()))


def _string_literals(path: Path) -> Iterator[tuple[int, str]]:
    for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if token.type == tokenize.STRING:
            yield token.start[0], token.string


def test_every_flag_named_in_the_source_exists() -> None:
    missing = [
        f"{path.relative_to(ROOT)}:{line}: {flag}"
        for root in SOURCES
        for path in sorted(root.rglob("*.py"))
        for line, text in _string_literals(path)
        for flag in FLAG.findall(text)
        if flag not in ALL_FLAGS | NOT_OURS
    ]
    assert not missing, "messages name flags that no command has:\n" + "\n".join(missing)


def _doc_commands() -> Iterator[tuple[str, str]]:
    """(where, command line) of every ``stepcache ...`` in a ```sh block or an inline code span."""
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in re.findall(r"```(?:sh|bash|shell|console)\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0].strip().removeprefix("$ ")
                if re.search(r"(^|\s|/)stepcache\s", line + " "):
                    yield doc.name, line
        for span in re.findall(r"(?<!`)`(stepcache [^`]+)`", text):
            yield doc.name, span


def _check_command(line: str) -> list[str]:
    words = shlex.split(line, comments=True)
    start = next(i for i, w in enumerate(words) if w == "stepcache" or w.endswith("/stepcache"))
    path: tuple[str, ...] = ()
    problems = []
    for word in words[start + 1 :]:
        if word in ("|", "&&", ";", ">", "2>&1"):
            break
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            if FLAG.fullmatch(flag) and flag not in _flags(PARSERS[path]):
                problems.append(f"{flag} is not an option of 'stepcache {' '.join(path)}'")
        elif (*path, word) in PARSERS:
            path = (*path, word)
    return problems


def test_the_docs_name_commands_and_flags_that_exist() -> None:
    commands = list(_doc_commands())
    assert len(commands) > 20  # the README's examples were found
    problems = [f"{where}: {line!r}: {problem}" for where, line in commands for problem in _check_command(line)]
    assert not problems, "\n".join(problems)


def test_a_flag_the_docs_get_wrong_is_caught() -> None:
    assert _check_command("stepcache bench --scripted --out DIR") == []
    assert _check_command("stepcache demo --model ~/qwen.gguf") == []  # --model: the upstream's model name
    assert _check_command("stepcache serve --no-such-flag") != []
    assert _check_command("stepcache bench ttft --scripted") != []  # a bench option, not ttft's


def test_every_environment_variable_is_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    help_text = build_parser().format_help()
    for name, (_, flag) in ENVIRONMENT.items():
        assert name in readme and name in help_text, name
        assert flag is None or flag in ALL_FLAGS, flag


def test_model_is_the_upstream_name_and_model_path_the_gguf_in_every_command() -> None:
    calling = {}
    for path, parser in PARSERS.items():
        options = {o: a for a in parser._actions for o in a.option_strings}
        if "--model" in options or "--model-path" in options:
            assert {"--upstream", "--model", "--model-path", "--threads"} <= set(options), path
            calling[path] = (
                options["--model"].dest,
                options["--model"].metavar,
                options["--model-path"].dest,
                options["--model-path"].metavar,
            )
    assert {("run",), ("serve",), ("demo",), ("bench",)} <= set(calling)
    assert set(calling.values()) == {("model", "NAME", "model_path", "FILE")}


def test_plugin_commands_are_in_the_tree_with_their_own_options() -> None:
    assert {("demo",), ("bench",), ("bench", "ttft"), ("bench", "loadgen"), ("bench", "scale")} <= set(PARSERS)
    assert {"--scripted", "--oracle", "--wrapped", "--rebuild"} <= _flags(PARSERS[("bench",)])
    help_text = PARSERS[("bench",)].format_help()  # what 'stepcache bench --help' prints
    assert "--scripted" in help_text and "--systems" in help_text and "ttft" in help_text
    assert "--token-delay-ms" in _flags(PARSERS[("bench", "ttft")])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"stepcache {stepcache.__version__}"


def test_a_broken_plugin_is_skipped_and_the_rest_works(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = EntryPoint(name="broken", value="no_such_package.cli:register", group=COMMAND_GROUP)
    installed = list(stepcache.cli.entry_points(group=COMMAND_GROUP))
    monkeypatch.setattr(stepcache.cli, "entry_points", lambda group: [broken, *installed])
    parser = build_parser()
    assert "no_such_package" in caplog.text
    assert parser.parse_args(["stats"]).handler is not None
    assert parser.parse_args(["bench", "--scripted"]).scripted


def test_the_core_does_not_import_the_bench() -> None:
    for path in (ROOT / "src" / "stepcache").rglob("*.py"):
        assert not re.search(r"^\s*(from|import) stepcache_bench", path.read_text(encoding="utf-8"), re.M), path
    code = "import stepcache, stepcache.cli, stepcache.server, sys; print(any(m.startswith('stepcache_bench') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_errors_exit_with_their_own_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["entries", "show", "42", "--store", f"sqlite:///{tmp_path / 'c.db'}"]) == 2  # InvalidRequest
    assert "stepcache: error: no entry '42'" in capsys.readouterr().err
