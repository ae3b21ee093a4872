"""A small background-job service: FastAPI API, RQ worker, Redis queue."""
