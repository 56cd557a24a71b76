"""The push: HR people into one LMS, as steps ``read``, ``plan``, ``outbox``, ``send``, ``jobs``.

``run`` strings them together into one cycle; ``order`` is the pure ordering and
batching the plan and the send step share.
"""
