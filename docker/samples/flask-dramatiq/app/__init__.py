"""Flask + Dramatiq sample: the web app sends messages, ``dramatiq app.tasks`` runs the actors."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    from app.views import main_blueprint

    app = Flask(__name__)
    app.register_blueprint(main_blueprint)
    return app
