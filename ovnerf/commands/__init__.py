"""Sub-commands of the `ovnerf` CLI (one module per command)."""
