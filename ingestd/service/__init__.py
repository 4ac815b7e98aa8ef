"""The long-running service around the pipeline: folder watchers, systemd, metrics, doctor.

`ingestd.daemon.Daemon` puts these together; each module here does one job and knows
nothing of the others except through the database and the objects handed to it.
"""
