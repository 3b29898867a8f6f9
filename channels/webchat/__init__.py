"""The web chat: the page with the chat box, and its JSON API."""
