"""SMS through Twilio's webhook."""
