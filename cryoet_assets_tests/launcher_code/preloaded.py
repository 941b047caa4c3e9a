"""A module the run launcher's tests name in `preload_modules`; nothing in the code location imports it."""
