"""Benchmarks of the sagas against a bare Temporal workflow of the same shape
(``python -m bench``), and the load run (``python -m bench.load``). See bench/README.md."""
