"""Building: what makes a model version: ingest, BigARTM training, the pipeline and the job worker.

The only room that loads BigARTM. The web process never imports it.
"""
