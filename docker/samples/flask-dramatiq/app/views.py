"""The two routes, as Flask + Dramatiq apps write them: JSON in, the message id out; the status
read from the Results backend."""

from __future__ import annotations

from typing import Any

from dramatiq import Message
from dramatiq.results import ResultFailure, ResultMissing
from flask import Blueprint, jsonify, request

from app import tasks
from app.broker import broker

main_blueprint = Blueprint("main", __name__)
ACTORS = {
    "send_email": tasks.send_email,
    "sleep": tasks.sleep,
    "canary": tasks.canary,
    "fail": tasks.fail,
}


@main_blueprint.route("/tasks", methods=["POST"])
def enqueue() -> Any:
    body = request.get_json(silent=True) or {}
    actor = ACTORS.get(str(body.get("actor", "send_email")))
    if actor is None:
        return jsonify({"error": f"actor must be one of {sorted(ACTORS)}"}), 400
    message = actor.send(*body.get("args", []), **body.get("kwargs", {}))
    return jsonify({"id": message.message_id, "status": "queued"}), 202


@main_blueprint.route("/tasks/<actor_name>/<message_id>", methods=["GET"])
def status(actor_name: str, message_id: str) -> Any:
    actor = ACTORS.get(actor_name)
    if actor is None:
        return jsonify({"error": "no such actor"}), 404
    message: Message[Any] = Message(
        queue_name=actor.queue_name,
        actor_name=actor_name,
        args=(),
        kwargs={},
        options={},
        message_id=message_id,
    )
    try:
        result = message.get_result(backend=_backend())
    except ResultMissing:
        return jsonify({"id": message_id, "status": "pending"})
    except ResultFailure as exc:
        return jsonify({"id": message_id, "status": "failed", "error": str(exc)})
    return jsonify({"id": message_id, "status": "done", "result": result})


@main_blueprint.route("/health", methods=["GET"])
def health() -> Any:
    return jsonify({"ok": True})


def _backend() -> Any:
    for middleware in broker.middleware:
        backend = getattr(middleware, "backend", None)
        if backend is not None:
            return backend
    raise RuntimeError("no Results middleware")
