"""Deprecated shim: ``jobcheck init`` lives in :mod:`jobcheck.scaffold` (cli.py moves there)."""

from jobcheck.scaffold import init_command as init_command
