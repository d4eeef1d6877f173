"""botkit: chatbots that take part in Amazon Connect chat contacts."""

__version__ = "0.1.0"
