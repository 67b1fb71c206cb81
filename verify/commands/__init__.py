"""One module per `verify` subcommand; each is a thin wrapper over a library call."""
