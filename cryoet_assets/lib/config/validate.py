"""Validate config files end to end (load + rules) and render the issues one line each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cryoet_assets.lib.config.loader import ConfigError, ConfigIssue, load_config_file
from cryoet_assets.lib.config.rules import NetworkRules, config_issues


def validate_paths(
    paths: Sequence[str | Path], *, network: NetworkRules | None = None
) -> dict[str, list[ConfigIssue]]:
    """Load and rule-check each file: {path: issues}, errors and warnings by line, empty when clean.

    Never raises for a bad file. A file is valid when none of its issues is an error (`is_error`).
    """
    results: dict[str, list[ConfigIssue]] = {}
    for path in paths:
        source = str(path)
        warnings: list[ConfigIssue] = []
        try:
            config = load_config_file(path, warnings=warnings)
        except ConfigError as exc:
            results[source] = exc.issues
            continue
        issues = warnings + config_issues(config, source=source, network=network)
        results[source] = sorted(issues, key=lambda issue: (issue.line or 0, issue.yaml_path))
    return results


def format_issues(results: Mapping[str, Iterable[ConfigIssue]] | Iterable[ConfigIssue]) -> list[str]:
    """One line per issue (`file:line: yaml.path: reason`, `warning: ` before a warning's reason)."""
    if isinstance(results, Mapping):
        return [str(issue) for issues in results.values() for issue in issues]
    return [str(issue) for issue in results]


def is_valid(issues: Iterable[ConfigIssue]) -> bool:
    """True when no issue is an error (warnings never make a config invalid)."""
    return not any(issue.is_error for issue in issues)


def exit_status(results: Mapping[str, Sequence[ConfigIssue]]) -> int:
    """0 when every file is valid (warnings allowed), else 1 (the `validate-config` exit status)."""
    return 0 if all(is_valid(issues) for issues in results.values()) else 1
