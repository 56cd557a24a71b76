"""syncd: keeps LMS accounts in line with an HR system and carries learning results back."""

__version__ = "0.1.0"
