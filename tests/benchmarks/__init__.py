"""Smoke-sized runs of each benchmark script: they still run and write their summaries.

What they do not do: assert timings (the machine may be busy); only figures' presence,
targets and correctness checks.
"""
