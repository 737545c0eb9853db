"""Temporal and process plumbing that names no saga: the connection, the data converter
and its codec, keys, logs, worker settings and the child processes the project starts."""
