"""The process entry points, behind one ``python -m app <command>`` (:mod:`app.entrypoints.cli`).

``serve`` (the gRPC service), ``worker`` and ``relay`` (the event processes)
run until a signal through :mod:`app.entrypoints.runner`; ``migrate``,
``health``, ``admin`` and ``import`` (:mod:`app.entrypoints.user_import`) do
one thing and exit. Only these modules and :mod:`app.bootstrap` name concrete
classes.
"""
