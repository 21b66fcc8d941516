"""The HTTP API: app factory, routers by audience, authentication and error handling."""
