"""Custom actions for the Rasa assistant. Thin: they ask content_sync.search and shape one Answer."""
