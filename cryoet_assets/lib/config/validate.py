"""Validate config files end to end (load + rules) and render the issues one line each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cryoet_assets.lib.config.loader import ConfigError, ConfigIssue, load_config_file
from cryoet_assets.lib.config.rules import NetworkRules, check_rules


def validate_paths(
    paths: Sequence[str | Path], *, network: NetworkRules | None = None
) -> dict[str, list[ConfigIssue]]:
    """Load and rule-check each file: {path: issues}, empty when valid. Never raises for a bad file."""
    results: dict[str, list[ConfigIssue]] = {}
    for path in paths:
        source = str(path)
        try:
            config = load_config_file(path)
        except ConfigError as exc:
            results[source] = exc.issues
            continue
        results[source] = check_rules(config, source=source, network=network)
    return results


def format_issues(results: Mapping[str, Iterable[ConfigIssue]] | Iterable[ConfigIssue]) -> list[str]:
    """One line per issue (`file:line: yaml.path: reason`) from `validate_paths` results or an issue list."""
    if isinstance(results, Mapping):
        return [str(issue) for issues in results.values() for issue in issues]
    return [str(issue) for issue in results]


def exit_status(results: Mapping[str, Sequence[ConfigIssue]]) -> int:
    """0 when every file is valid, else 1 (the `validate-config` exit status)."""
    return 1 if any(results.values()) else 0
