"""The store_client contract suite uses ``store_url``/``client`` from ``tests/conftest.py``."""
