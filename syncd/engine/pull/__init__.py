"""The pull: LMS learning results into an HR sink, as steps ``run`` (read pages),
``identify`` (LMS user -> HR key, once) and ``deliver`` (exactly once per change).
"""
