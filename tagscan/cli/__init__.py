"""tagscan's command line (typer): one module per command group, each thin (parse, call the pipeline, render)."""

from tagscan.cli.app import app, main

__all__ = ["app", "main"]
