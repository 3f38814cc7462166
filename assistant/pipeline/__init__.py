"""The answering core, as stages: question → rewrite → retrieve → score → select → decide → compose → verify.

Each stage is a small class behind a Protocol in ``types``; ``pipeline.Pipeline`` assembles them and
records a ``Trace``. Nothing here imports the web edge or the CLI.
"""
