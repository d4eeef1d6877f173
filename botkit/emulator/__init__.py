"""A local Amazon Connect for chat: the participant API, its websocket, and a control-plane subset."""

from botkit.emulator.config import EmulatorConfig
from botkit.emulator.faults import FaultSpec
from botkit.emulator.server import Emulator

__all__ = ["Emulator", "EmulatorConfig", "FaultSpec"]
