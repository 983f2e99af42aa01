"""Errors of the job queue.

StratabaseError
└── JobError                 a job could not be run as asked
    ├── UnknownTask          no handler is registered under the job's task name
    └── PermanentJobError    retrying cannot help: the job ends ``failed`` at once
"""

from __future__ import annotations

from stratabase.exceptions import StratabaseError


class JobError(StratabaseError):
    """The job could not be run."""

    code = "job-error"


class UnknownTask(JobError):
    """No handler is registered for this task."""

    code = "unknown-task"


class PermanentJobError(JobError):
    """The job failed in a way another attempt cannot fix."""

    code = "job-failed-permanently"
