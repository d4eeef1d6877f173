"""A local Amazon Connect for chat: the participant API, its websocket, and a control-plane subset."""
