"""Email: an SMTP listener that answers mail sent to EMAIL_FROM, and the outbound reply."""
