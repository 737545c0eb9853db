"""The built-in sagas' Tasker-format configs, installed with the package (package data), so
an installed worker or CLI finds them beside its code."""
