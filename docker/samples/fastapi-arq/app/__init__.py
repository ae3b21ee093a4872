"""FastAPI + arq sample: the API enqueues, ``arq app.worker.WorkerSettings`` runs the jobs."""
