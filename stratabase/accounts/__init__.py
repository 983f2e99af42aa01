"""Account self-service: profile, passwords (change, mailed reset), email verification,
sessions by device, deletion and data export, with the pluggable mailer they send through."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "export",
    "inputs",
    "mailer",
    "results",
    "service",
]
