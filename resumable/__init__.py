"""resumable: long-running and incremental tasks that survive crashes and retries."""

__all__: list[str] = []
