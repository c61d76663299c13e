"""pushlab's Django project: settings, the chat core, pages, the CLI and the embedded Redis."""
