from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jobcheck.scaffold import envfiles

FILES = {
    ".env": "REDIS_PASSWORD=\nAPI_TOKEN=${API_TOKEN}\n",
    ".env.example": "REDIS_PASSWORD=\nAPI_TOKEN=\n",
    "staging.env": "REDIS_PASSWORD=x\n",
    "staging.env.example": "REDIS_PASSWORD=\n",
    "config/.dev-sample": "A=1\n",
    ".envrc": "export X=1\n",
    ".gitignore": "# local\n.env\n*.swp\n",
}


def test_roles_templates_and_ignores(make_project: Callable[[dict[str, str]], Path]) -> None:
    root = make_project(FILES)
    found = {f.name: f for f in envfiles.find(root, {"."}, ["config/.dev-sample"])}
    assert list(found) == [
        ".env", ".env.example", "staging.env", "staging.env.example", "config/.dev-sample",
    ]  # fmt: skip
    assert {n: f.role for n, f in found.items()} == {
        ".env": "compose",
        ".env.example": "template",
        "staging.env": "real",
        "staging.env.example": "template",
        "config/.dev-sample": "template",
    }
    assert found[".env"].template == ".env.example"
    assert found["staging.env"].template == "staging.env.example"  # its own, not .env.example
    assert found[".env"].ignored and not found[".env.example"].ignored
    assert found[".env"].values == {"REDIS_PASSWORD": "", "API_TOKEN": "${API_TOKEN}"}


def test_a_dotenv_outside_the_compose_folder_is_local_settings(
    make_project: Callable[[dict[str, str]], Path],
) -> None:
    root = make_project({"docker/.env": "A=1\n", ".env": "B=\n"})
    found = {f.name: f.role for f in envfiles.find(root, {".", "docker"}, [], "docker")}
    assert found == {".env": "dotenv", "docker/.env": "compose"}
