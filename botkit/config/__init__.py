"""bot.yaml: read it, substitute `${ENV}` references, apply `BOTKIT_<SECTION>__<KEY>` overrides, and check every
setting against the models, reporting every problem at once with its key and line."""

from botkit.config.errors import ConfigError
from botkit.config.loading import load_config, parse_config, plugin_settings
from botkit.config.models import (
    BotConfig,
    ConnectConfig,
    EmulatorSettings,
    IntakeConfig,
    LoggingConfig,
    PluginSettings,
    ReceiptsConfig,
    RetryConfig,
    RuntimeConfig,
    ServerConfig,
    StoreSettings,
    StreamingConfig,
    TypingConfig,
)

__all__ = [
    "BotConfig",
    "ConfigError",
    "ConnectConfig",
    "EmulatorSettings",
    "IntakeConfig",
    "LoggingConfig",
    "PluginSettings",
    "ReceiptsConfig",
    "RetryConfig",
    "RuntimeConfig",
    "ServerConfig",
    "StoreSettings",
    "StreamingConfig",
    "TypingConfig",
    "load_config",
    "parse_config",
    "plugin_settings",
]
