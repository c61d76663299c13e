"""Shared fixtures. The embedded Redis is started by lab.settings when REDIS_URL is unset."""
