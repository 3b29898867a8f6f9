"""`python -m content_sync` runs the sync worker."""

from content_sync.schedule import main

main()
