"""The two routes, as flask-redis-queue writes them (form-encoded POST, status by id)."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, current_app, jsonify, request
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from app.tasks import create_task

main_blueprint = Blueprint("main", __name__)

MAX_SLEEP_S = 25


def _connection() -> redis.Redis:
    return redis.from_url(current_app.config["REDIS_URL"])


@main_blueprint.route("/tasks", methods=["POST"])
def run_task() -> Any:
    task_type = request.form.get("type", "").strip()
    if task_type != "fail" and not (task_type.isdigit() and int(task_type) <= MAX_SLEEP_S):
        message = f"type must be a number of seconds (0-{MAX_SLEEP_S}) or 'fail'"
        return jsonify({"status": "fail", "message": message}), 400
    q = Queue(current_app.config["QUEUES"][0], connection=_connection())
    task = q.enqueue(create_task, task_type)
    return jsonify({"status": "success", "data": {"task_id": task.id}}), 202


@main_blueprint.route("/tasks/<task_id>", methods=["GET"])
def get_status(task_id: str) -> Any:
    try:
        task = Job.fetch(task_id, connection=_connection())
    except NoSuchJobError:
        return jsonify({"status": "error"}), 404
    data = {
        "task_id": task.id,
        "task_status": task.get_status(),
        "task_result": task.return_value(),
    }
    return jsonify({"status": "success", "data": data})
