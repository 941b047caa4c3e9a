"""Ingestion configs: models of the portal's config schema, a hardened loader, rules and templates."""

from __future__ import annotations

from cryoet_assets.lib.config.loader import (
    ConfigError,
    ConfigIssue,
    format_yaml_path,
    load_config,
    load_config_file,
)
from cryoet_assets.lib.config.models import IngestionConfig
from cryoet_assets.lib.config.rules import RULES, NetworkRules, check_rules, check_warnings, config_issues
from cryoet_assets.lib.config.templates import (
    TemplateError,
    expand_metadata,
    format_template,
    parse_run_map,
    parse_two_column_map,
)
from cryoet_assets.lib.config.validate import exit_status, format_issues, is_valid, validate_paths

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "IngestionConfig",
    "NetworkRules",
    "RULES",
    "TemplateError",
    "check_rules",
    "check_warnings",
    "config_issues",
    "exit_status",
    "expand_metadata",
    "format_issues",
    "format_template",
    "format_yaml_path",
    "is_valid",
    "load_config",
    "load_config_file",
    "parse_run_map",
    "parse_two_column_map",
    "validate_paths",
]
