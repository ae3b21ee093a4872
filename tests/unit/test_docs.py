"""Every YAML example in the README and docs loads: options, owners and all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from jobcheck import kinds
from jobcheck.loading import load_checklist
from jobcheck.schema_gen import checklist_schema

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, int, str]]:
    found = []
    for path in DOCS:
        for i, match in enumerate(BLOCK.finditer(path.read_text())):
            text = match.group(1)
            if re.search(r"^\s*-\s+(\{\s*)?id:", text, re.MULTILINE):
                found.append((path.relative_to(ROOT).as_posix(), i, text))
    return found


def as_checklist(text: str, *, as_written: bool = False) -> str:
    """A bare list of checks (or a `checks:` fragment) becomes a whole checklist; with
    ``as_written`` (the README) nothing is dropped: its `needs` must name checks shown there."""
    data = yaml.safe_load(text)
    if isinstance(data, list):
        data = {"checks": data}
    data.setdefault("defaults", {}).setdefault("owner", "@docs")
    ids = {c.get("id") for c in data.get("checks", []) if isinstance(c, dict)}
    for check in data.get("checks", []):
        # a snippet may need checks shown elsewhere on the page
        for order in ("needs", "after"):
            if isinstance(check, dict) and order in check and not as_written:
                check[order] = [n for n in check[order] if n in ids]
    data.setdefault("version", 1)
    data.setdefault("name", "docs example")
    if "${stack." in text:  # a snippet naming the stack's ports: the stack shown elsewhere
        data.setdefault("stack", {"compose": ["compose.yaml"], "project": "docs"})
    return yaml.safe_dump(data, sort_keys=False)


def stack_services(text: str) -> str:
    """A compose file defining every service the example's `${stack.SERVICE.PORT}` names."""
    names = sorted(set(re.findall(r"\$\{stack\.([A-Za-z0-9_.-]+)\.[0-9]+\}", text)))
    return "services:\n" + "".join(f"  {name}: {{image: x}}\n" for name in names or ["api"])


@pytest.mark.parametrize(("doc", "index", "text"), examples(), ids=lambda v: str(v)[:40])
def test_example_loads(doc: str, index: int, text: str, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(as_checklist(text, as_written=doc == "README.md"))
    (tmp_path / "common.yaml").write_text("checks: []\n")
    (tmp_path / "compose.yaml").write_text(stack_services(text))
    env = {
        "RELEASE_TAG": "v1.4.0",
        "REDIS_PASSWORD": "x" * 16,
        "api": "http://127.0.0.1:8000",
        "redis": "redis://:pw@127.0.0.1:6379/0",
    }
    checklist = load_checklist(path, env)
    assert checklist.checks, f"{doc} example {index} has no checks"


def test_every_registered_kind_has_a_doc_page_an_example_and_a_readme_row() -> None:
    """The list of kinds is the registry's: adding a kind is one module, one registry line and
    its doc page (with an example), and the README's table names it."""
    text = "\n".join(t for _, _, t in examples())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for kind in kinds.BUILTIN:
        page = ROOT / "docs" / "kinds" / f"{kind}.md"
        assert page.is_file(), f"no doc page for the `{kind}` kind: write {page}"
        assert re.search(rf"kind:\s*{kind}\b", text), f"no documented example of `{kind}`"
        assert f"(docs/kinds/{kind}.md)" in readme, f"the README's table of kinds lacks `{kind}`"
    pages = {p.stem for p in (ROOT / "docs" / "kinds").glob("*.md")}
    assert pages <= set(kinds.BUILTIN), f"doc pages for no kind: {pages - set(kinds.BUILTIN)}"


def test_committed_schema_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "checklist.schema.json").read_text())
    assert committed == checklist_schema(), "run `jobcheck schema > docs/checklist.schema.json`"


CI_DOCS = [ROOT / "docs" / "ci.md", ROOT / "docs" / "release.md", ROOT / "README.md"]


def ci_examples() -> list[tuple[str, str]]:
    """The YAML blocks that run jobcheck in a pipeline."""
    found = []
    for path in CI_DOCS:
        for match in BLOCK.finditer(path.read_text()):
            text = match.group(1)
            runs = re.search(r"jobcheck (run|release)", text)
            if runs and re.search(r"^(jobs|on|\w+):", text, re.MULTILINE):
                found.append((path.name, text))
    return found


def steps(data: object) -> list[dict[str, object]]:
    """Every mapping in a loaded workflow that has a `run:` (GitHub steps)."""
    if isinstance(data, dict):
        own = [data] if "run" in data else []
        return own + [s for v in data.values() for s in steps(v)]
    if isinstance(data, list):
        return [s for item in data for s in steps(item)]
    return []


def test_ci_examples_install_jobcheck_not_the_service() -> None:
    examples = ci_examples()
    assert len(examples) >= 3
    for name, text in examples:
        installs = [ln for ln in text.splitlines() if re.search(r"\binstall\b", ln)]
        assert any("jobcheck" in ln.split("#")[0] for ln in installs), (name, text)
        for line in installs:
            assert not re.search(r"pip install \.(\s|$)", line.split("#")[0]), (name, line)


def test_github_examples_pass_inputs_through_env_not_into_scripts() -> None:
    for name, text in ci_examples():
        for step in steps(yaml.safe_load(text)):
            assert "${{" not in str(step["run"]), (name, step)
    release = (ROOT / "docs" / "release.md").read_text()
    assert 'env: {TAG: "${{ inputs.tag }}"}' in release


def test_the_gitlab_example_has_a_docker_engine_for_its_stack() -> None:
    (gitlab,) = [t for _, t in ci_examples() if "# .gitlab-ci.yml\n" in t]
    job = yaml.safe_load(gitlab)["jobcheck"]
    assert any("dind" in str(s) for s in job["services"])
    assert job["variables"]["DOCKER_HOST"] == "tcp://docker:2375"


def readme_main_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## A checklist\n") :]
    match = BLOCK.search(section)
    assert match is not None
    return match.group(1)


def test_the_readme_main_example_loads_exactly_as_written(tmp_path: Path) -> None:
    """A new user copies it first: nothing filled in, nothing dropped (an include it names,
    `common.yaml`, is the only file added)."""
    folder = tmp_path / "checklists"
    folder.mkdir()
    (folder / "common.yaml").write_text("checks: []\n")
    path = folder / "release.yaml"
    path.write_text(readme_main_example())
    checklist = load_checklist(path, {})
    assert [c.id for c in checklist.checks] == ["api-running", "api-health"]
    assert checklist.checks[1].needs == ["api-running"]
    assert checklist.checks[1].stack_refs.written_options == {  # type: ignore[union-attr]
        "url": "http://${stack.api.8000}/health", "status": 200, "json": {"ok": True},
        "wait": "30s",
    }  # fmt: skip
