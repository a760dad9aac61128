"""The layers stay apart: the domain (wijkbot/) and the database (db/) know nothing of Telegram or Rasa, and the
Telegram edge (bot/) asks wijkbot/ for what it needs instead of querying the database itself.

Read from the source with `ast`, so a comment or a string that mentions a name does not count, and an import
inside a function does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOREIGN_TO_THE_DOMAIN = {"telegram", "rasa_sdk", "fastapi", "starlette", "jinja2"}  # the edges: bot/, actions/, web/
# what bot/ may take from SQLAlchemy: a Session to pass on, an Engine to hand over, errors to catch
ALLOWED_FROM_SQLALCHEMY = {("sqlalchemy.orm", "Session"), ("sqlalchemy", "Engine")}
ALLOWED_SQLALCHEMY_MODULES = {"sqlalchemy.exc"}
# methods that query or change the database through a Session
SESSION_METHODS = {
    "execute",
    "query",
    "scalar",
    "scalars",
    "get",
    "add",
    "add_all",
    "delete",
    "merge",
    "flush",
    "refresh",
}
# these names mean SQL whatever they are called on
SQL_METHODS = {"execute", "query", "scalar", "scalars"}


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, name) for every import, at any depth; name is None for `import module`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                yield node.lineno, node.module, alias.name


def foreign_imports(tree: ast.AST) -> list[str]:
    return [
        f"line {line}: {module}"
        for line, module, _ in imported_modules(tree)
        if module.split(".")[0] in FOREIGN_TO_THE_DOMAIN
    ]


def _is_session_annotation(annotation: ast.expr | None) -> bool:
    if isinstance(annotation, ast.Name):
        return annotation.id == "Session"
    if isinstance(annotation, ast.Attribute):
        return annotation.attr == "Session"
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation.value.split(".")[-1] == "Session"
    return False


def _opens_a_session(expression: ast.expr) -> bool:
    """`transaction(...)` or `<x>.sessions(...)`/`<x>.begin()` in a with statement."""
    if not isinstance(expression, ast.Call):
        return False
    function = expression.func
    name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")
    return name in {"transaction", "sessions", "begin", "Session"}


def session_names(tree: ast.AST) -> set[str]:
    """Names that hold a Session somewhere in the module: parameters annotated Session, the parameters of
    lambdas (handed to `rt.db`, which calls them with a Session) and `with transaction(...) as name`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            names.update(a.arg for a in arguments if _is_session_annotation(a.annotation))
        elif isinstance(node, ast.Lambda):
            names.update(a.arg for a in [*node.args.posonlyargs, *node.args.args])
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if _opens_a_session(item.context_expr) and isinstance(item.optional_vars, ast.Name):
                    names.add(item.optional_vars.id)
    return names


def database_code(tree: ast.AST) -> list[str]:
    """SQL or ORM queries: SQLAlchemy's query builders imported, or a Session's query methods called."""
    found = []
    for line, module, name in imported_modules(tree):
        if module.split(".")[0] != "sqlalchemy" or module in ALLOWED_SQLALCHEMY_MODULES:
            continue
        if (module, name) not in ALLOWED_FROM_SQLALCHEMY:
            found.append(f"line {line}: imports {module}{'.' + name if name else ''}")
    sessions = session_names(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, node.func.value
        on_a_session = isinstance(receiver, ast.Name) and receiver.id in sessions and method in SESSION_METHODS
        if on_a_session or method in SQL_METHODS:
            found.append(f"line {node.lineno}: .{method}(…)")
    return found


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@pytest.mark.parametrize("package", ["wijkbot", "db"])
def test_the_domain_and_the_database_import_neither_telegram_nor_rasa_sdk_nor_the_web_framework(package: str) -> None:
    files = python_files(package)
    assert files, f"no Python files under {package}/"
    problems = {str(p.relative_to(ROOT)): found for p in files if (found := foreign_imports(parse(p)))}
    assert problems == {}


@pytest.mark.parametrize("package", ["bot", "web"])
def test_the_telegram_and_web_edges_hold_no_sql(package: str) -> None:
    files = python_files(package)
    assert files, f"no Python files under {package}/"
    problems = {str(p.relative_to(ROOT)): found for p in files if (found := database_code(parse(p)))}
    assert problems == {}, "move these into typed functions in wijkbot/ (keyword-only, a Session parameter)"


DEVELOPMENT_ONLY = {"tests", "bench", "devtools"}  # what the tests and the bench run on, never shipped


def imports_of(tree: ast.AST, roots: set[str]) -> list[str]:
    """The imports of `tree` from packages whose top name is in `roots`."""
    return [f"line {line}: {module}" for line, module, _ in imported_modules(tree) if module.split(".")[0] in roots]


@pytest.mark.parametrize("package", ["wijkbot", "db", "bot", "actions", "web"])
def test_the_product_imports_nothing_made_for_development(package: str) -> None:
    files = python_files(package)
    assert files, f"no Python files under {package}/"
    found = {str(p.relative_to(ROOT)): hits for p in files if (hits := imports_of(parse(p), DEVELOPMENT_ONLY))}
    assert found == {}


@pytest.mark.parametrize(("package", "foreign"), [("bench", {"tests"}), ("devtools", {"tests", "bench"})])
def test_the_bench_and_the_devtools_stand_without_the_tests(package: str, foreign: set[str]) -> None:
    """bench/ runs without tests/ (what both need lives in devtools/), and devtools/ needs neither."""
    files = python_files(package)
    assert files, f"no Python files under {package}/"
    found = {str(p.relative_to(ROOT)): hits for p in files if (hits := imports_of(parse(p), foreign))}
    assert found == {}


def test_the_sender_walks_the_send_hooks_instead_of_importing_what_they_do() -> None:
    """Polls, media and outreach reach the sender only through wijkbot.send_hooks' two lists."""
    imported = {module for _, module, _ in imported_modules(parse(ROOT / "bot" / "sender.py"))}
    assert imported & {"wijkbot.polls", "wijkbot.media", "wijkbot.outreach"} == set()
    assert "wijkbot.send_hooks" in imported


# --- the checks themselves catch what they are for ----------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "import telegram",
        "from telegram.ext import Application",
        "def f():\n    from rasa_sdk import Action\n",
        "import rasa_sdk.events as events",
    ],
)
def test_a_telegram_or_rasa_import_is_found_wherever_it_stands(source: str) -> None:
    assert foreign_imports(ast.parse(source))


def test_an_import_from_the_tests_is_found_inside_a_function() -> None:
    tree = ast.parse("def f():\n    from tests.bot.harness import running_bot\n")
    assert imports_of(tree, {"tests"}) == ["line 2: tests.bot.harness"]
    assert imports_of(ast.parse("import testsuite\nfrom devtools.settings import bot_settings\n"), {"tests"}) == []


def test_telegram_named_in_a_string_or_comment_is_not_an_import() -> None:
    assert (
        foreign_imports(ast.parse("# import telegram\nTEXT = 'from telegram import Bot'\nimport telegramish\n")) == []
    )


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy import select",
        "from sqlalchemy import text",
        "import sqlalchemy",
        "def f():\n    from sqlalchemy import update\n",
        "def f(session: Session):\n    return session.get(Item, 1)\n",
        "def f(s: 'Session'):\n    s.add(x)\n",
        "async def f(rt):\n    await rt.db(lambda s: s.delete(row))\n",
        "def f(services):\n    with transaction(services.sessions) as session:\n        session.flush()\n",
        "def f(anything):\n    return anything.scalars(query).first()\n",
        "def f(conn):\n    conn.execute(statement)\n",
    ],
)
def test_sql_and_orm_queries_are_found(source: str) -> None:
    assert database_code(ast.parse(source))


def test_passing_a_session_on_and_catching_database_errors_is_fine() -> None:
    source = (
        "from sqlalchemy import Engine\n"
        "from sqlalchemy.exc import SQLAlchemyError\n"
        "from sqlalchemy.orm import Session\n"
        "def f(session: Session, payload: dict):\n"
        "    payload.get('text')\n"
        "    return mark_done(session, update_id=1)\n"
    )
    assert database_code(ast.parse(source)) == []
