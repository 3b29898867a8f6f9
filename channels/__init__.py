"""The gateway: web chat, SMS, email and the sync API. Channels only render the one answer Rasa gives."""
