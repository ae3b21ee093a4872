"""The security checks an HTTP API gets: the response header every API should send, and no
framework debug page answering.

``X-Content-Type-Options: nosniff`` is the one header that fits every API on plain HTTP (HSTS
needs HTTPS; frame and content policies matter for HTML): without it a browser may sniff a JSON
answer as HTML. Init cannot see the answers, so it reads the code: a header set in the code (or
by a library that sets it, such as flask-talisman or secure) makes the check a blocker; none
found makes it a warning whose comment says so, so that a fresh ``init`` is not red for a header
nobody has decided on yet. FastAPI's own /docs, /redoc and /openapi.json are what ``no_debug``
probes: where the app serves them the check is a warning too, saying why.
"""

from __future__ import annotations

from jobcheck.scaffold.draft import Draft, check, slug
from jobcheck.scaffold.headers import HEADER, VALUE
from jobcheck.scaffold.routechoice import Probe
from jobcheck.scaffold.setting import Setting
from jobcheck.scaffold.topology import Service


def security_checks(
    setting: Setting, service: Service, url: str, probe: Probe | None
) -> list[Draft]:
    """The headers and no-debug checks on ``url`` (the one the health check asks); examples
    (commented out) when the health check is one."""
    health = f"{slug(service.name)}-health"
    drafts = [_headers(setting, service, url, health), _no_debug(setting, service, url, health)]
    if probe is None:
        for draft in drafts:
            draft.commented = True
            draft.notes.append(f"Uncomment with {health}, once its url is a route the app has.")
    return drafts


def _headers(setting: Setting, service: Service, url: str, health: str) -> Draft:
    name = service.name
    where = setting.project.nosniff
    draft = check(
        f"{slug(name)}-headers", f"{name} sends the security headers", "http",
        {"url": url, "status": 200, "headers": {HEADER: VALUE}},
        expect=f"{name}'s answers carry `{HEADER}: {VALUE}`: a browser never sniffs a JSON "
        "answer as HTML",
        rollback=f"redeploy the previous image of {name} "
        f"(`{setting.compose('up', '-d', '--no-deps', name)}` with the last release's tag)",
        tags=["integration", "security"], needs=[health],
    )  # fmt: skip
    why = f"`{HEADER}: {VALUE}` is the header every API should send (HSTS needs HTTPS)."
    if where:
        draft.notes = [f"{why} The code sets it ({where})."]
        return draft
    draft.data["severity"] = "warning"
    draft.notes = [
        why,
        f"A warning: init found no code that sets {HEADER} (a response hook, a middleware, "
        "flask-talisman, secure), so the app probably does not send it yet. Send it, then "
        "delete the severity line to make this a blocker.",
    ]
    return draft


def _no_debug(setting: Setting, service: Service, url: str, health: str) -> Draft:
    name = service.name
    draft = check(
        f"{slug(name)}-no-debug", f"No debug page answers on {name}", "http",
        {"url": url, "no_debug": True},
        expect="no framework debug page answers: the Werkzeug console (/console), FastAPI's "
        "/docs, /redoc and /openapi.json, the Django debug toolbar (/__debug__/)",
        rollback=f"turn debug off in {name}'s environment (DEBUG=false) and redeploy "
        f"(`{setting.compose('up', '-d', '--no-deps', name)}`)",
        tags=["integration", "security"], needs=[health],
    )  # fmt: skip
    if setting.project.routes.fastapi_docs:
        draft.data["severity"] = "warning"
        draft.notes = [
            "A warning: the FastAPI app serves /docs, /redoc and /openapi.json (its docs_url is "
            "not None), which this check reports. Turn them off in staging and production "
            "(`FastAPI(docs_url=None, redoc_url=None, openapi_url=None)`) and delete the "
            "severity line, or, if the API documents itself on purpose, list the other paths "
            "in `debug_paths: [/console, /__debug__/]`."
        ]
    debug = setting.project.code.debug
    stack_sets = setting.project.environment(service).get(debug.env, "") if debug else ""
    if debug is not None and stack_sets.strip().lower() not in ("0", "false", "no", "off"):
        draft.notes.append(
            f"The settings turn DEBUG on ({debug.describe()}): Django then answers an unknown "
            "path or an error with its debug page (settings, URL patterns, tracebacks). Set "
            "DEBUG off in staging's environment."
        )
    return draft
