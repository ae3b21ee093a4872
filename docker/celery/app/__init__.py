"""A small background-job service: FastAPI API, Celery worker, Redis broker and backend."""
