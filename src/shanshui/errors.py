"""The exception tree of shanshui, written down in one place.

Every error the package raises on purpose derives from :class:`ShanshuiError`. Each error
says whose fault it is: :class:`PeerError` (the remote party — a device, a file, an API
client — sent something wrong) or :class:`CallerError` (the calling code used the API
wrongly). Layers define their concrete errors in their own modules, deriving from these::

    ShanshuiError
    ├── PeerError                      bad input from outside
    │   ├── shanshui.hj212.FrameError       a malformed HJ 212 frame (reason code + raw bytes)
    │   ├── shanshui.formats.FormatError    a bad row or file in an importer (file + line)
    │   ├── shanshui.cli.aqi.InputError     a CSV the `shanshui aqi` commands cannot index
    │   ├── shanshui.permits.PermitError    a permit file or request that is wrong (file + field)
    │   ├── shanshui.ingest.http_errors.RefusedError  an HTTP ingest request refused (its answer)
    │   └── shanshui.ingest.onboarding.OnboardingError  a site or device an operator cannot register
    ├── CallerError                    the programmer's mistake
    │   ├── shanshui.hj212.EncodeError      a message that cannot be encoded
    │   ├── shanshui.standards.StandardsError  arguments a standard does not define
    │   │   └── shanshui.standards.AssessmentError  a period or table GB 3095/HJ 663 cannot assess
    │   ├── shanshui.rules.compliance.ComplianceError  limits or data the evaluator cannot use
    │   ├── shanshui.ingest.cems_plant.ScenarioError  a CEMS scenario that cannot be simulated
    │   └── shanshui.store.StoreInputError  what a store cannot keep (unknown site, NaN, …)
    └── StoreError                     the store could not do what was asked
        ├── shanshui.store.duck.StoreBusy  another process (PID) holds the DuckDB file
        └── shanshui.ingest.journal.JournalError  the gateway's journal cannot be read or written
            ├── shanshui.ingest.journal.JournalBusy  another gateway (PID) uses the journal folder
            ├── shanshui.ingest.journal.JournalFull  no space for the journal (retried, not acked)
            └── shanshui.ingest.journal.JournalFailed  a failed fsync: never trusted again here
"""

from __future__ import annotations


class ShanshuiError(Exception):
    """Root of every error shanshui raises on purpose."""


class PeerError(ShanshuiError):
    """The remote party (device, file, client) sent something wrong."""


class CallerError(ShanshuiError):
    """The calling code used an API wrongly."""


class StoreError(ShanshuiError):
    """The store could not complete an operation."""
