"""Connector SDK: a platform declares its particulars, the SDK pulls and lands them.

One concern per module; a connector imports what it uses from each:

- :mod:`connector_sdk.specs`: the declarations (report and field map, entities, settings, accounts).
- :mod:`connector_sdk.base`: the :class:`~connector_sdk.base.Connector` contract and its run.
- :mod:`connector_sdk.responses`: the response -> action map (platform error signals as data).
- :mod:`connector_sdk.http`: the retrying, throttled session dlt's ``RESTClient`` sends through.
- :mod:`connector_sdk.credentials`, :mod:`connector_sdk.windows`, :mod:`connector_sdk.keys`,
  :mod:`connector_sdk.paginators`: credentials, date windows, row keys, paging dlt lacks.
- :mod:`connector_sdk.extract` / :mod:`connector_sdk.land`: pulling slices / loading them with dlt.
- :mod:`connector_sdk.completeness` / :mod:`connector_sdk.versions`: which slice pulls are
  complete and applied (``SliceOutcome``); API versions against their sunsets.
- :mod:`connector_sdk.registry`, :mod:`connector_sdk.testing`, :mod:`connector_sdk.scaffold`:
  connectors by name, the contract suite, ``roi connector new``.

This package imports nothing of the project's own, and its ``__init__`` imports nothing at
all: the CLI reads :mod:`connector_sdk.exceptions` without loading dlt and pyarrow.
"""
