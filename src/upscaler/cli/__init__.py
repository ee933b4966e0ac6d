"""The `upscaler` command line."""
