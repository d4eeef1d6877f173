"""The wire to Amazon Connect: item models, service errors, the participant client, the websocket transport."""
