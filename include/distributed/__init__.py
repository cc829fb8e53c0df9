"""Running the DAGs beyond one process: a CeleryExecutor deployment on this machine (``celery_stack``), an
S3-compatible object store on localhost (``moto_s3``) and per-worker mount namespaces (``namespaces``),
so that what works here also works with workers that do not share a disk."""
