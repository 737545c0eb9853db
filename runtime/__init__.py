"""Process wiring shared by worker.py, starter.py and the tests: servers, clients, workers."""
