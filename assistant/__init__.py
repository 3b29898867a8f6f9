"""The Rasa project (Python 3.10 environment) and its action server code (main environment)."""
